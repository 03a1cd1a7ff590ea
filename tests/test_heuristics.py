"""Heuristic semantic edges (co-change, shared rare strings) and the semantic edge store."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from gitrepo import git

from indexers.heuristics import (
    _STRING,
    HEURISTIC_PREFIX,
    PROVENANCE_CO_CHANGE,
    PROVENANCE_SHARED,
    CoChangeSettings,
    co_change_edges,
    heuristic_edges,
    shared_token_edges,
)
from indexers.paths import connect
from indexers.semantic_store import (
    hash_lookup,
    is_stale,
    load_edges,
    replace_edges,
    stale_edges,
    upsert_edges,
)
from indexers.types import SemanticEdge, Symbol
from indexers.volatility import compute_volatility

NOW = datetime(2025, 6, 1, tzinfo=UTC)


# --------------------------------------------------------------------------- fixtures


def sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def python_symbols(path: str, text: str) -> list[Symbol]:
    """Functions, classes and methods of a small Python file, by indentation (the real
    parser is another module's business; this is enough for the heuristics)."""
    lines = text.splitlines()
    found = []
    stack: list[tuple[int, str]] = []  # (indent, qualname) of open classes
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)(def|class)\s+(\w+)", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        qualname = ".".join([q for _, q in stack] + [m.group(3)])
        end = i
        for j in range(i + 1, len(lines)):
            if lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) <= indent:
                break
            if lines[j].strip():
                end = j
        kind = "class" if m.group(2) == "class" else ("method" if stack else "function")
        body = "\n".join(lines[i:end + 1])
        found.append(Symbol(path, qualname, m.group(3), kind, i + 1, end + 1,
                            line.strip(), hash=sha(body)))
        if kind == "class":
            stack.append((indent, qualname))
    return found


class Tree:
    """A working tree on disk and the callables the heuristics take."""

    def __init__(self, root: Path, indexed: list[str]):
        self.root = root
        self.indexed = indexed

    def read_text(self, path: str) -> str:
        return (self.root / path).read_text()

    def file_hash(self, path: str) -> str | None:
        return sha(self.read_text(path)) if path in self.indexed else None

    def symbols(self) -> list[Symbol]:
        return [s for p in self.indexed for s in python_symbols(p, self.read_text(p))]


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def commit(repo: Path, files: dict[str, str], when: datetime) -> None:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "change", date=when)


def a_py(encode_steps: int, helper_version: int) -> str:
    steps = "".join(f'    step_{i} = "encode stage {i}"\n' for i in range(encode_steps))
    return (
        "def encode(data):\n"
        f"{steps}"
        "    return data.encode()\n\n\n"
        "def helper_a():\n"
        f"    return 'helper a version {helper_version}'\n"
    )


def b_py(decode_steps: int, helper_version: int) -> str:
    steps = "".join(f'    step_{i} = "decode stage {i}"\n' for i in range(decode_steps))
    return (
        "def decode(blob):\n"
        f"{steps}"
        "    return blob.decode()\n\n\n"
        "def helper_b():\n"
        f"    return 'helper b version {helper_version}'\n"
    )


def c_py(version: int) -> str:
    return f"def other():\n    return 'other version {version}'\n"


@pytest.fixture
def history(tmp_path) -> Tree:
    """a.py and b.py change together in 4 commits (the first adds a, b and c); a.py
    alone once, b.py alone three times; a.py and c.py together once more, and again in
    a 32-file sweep. Without the sweep, a.py changes in 6 commits, b.py in 7, c.py in 2."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    day = iter(NOW - timedelta(days=30 - i) for i in range(30))
    commit(repo, {"a.py": a_py(0, 0), "b.py": b_py(0, 0), "c.py": c_py(0)}, next(day))
    for n in range(1, 4):
        commit(repo, {"a.py": a_py(n, 0), "b.py": b_py(n, 0)}, next(day))
    commit(repo, {"a.py": a_py(3, 1)}, next(day))
    commit(repo, {"b.py": b_py(3, 1)}, next(day))
    commit(repo, {"b.py": b_py(3, 2)}, next(day))
    commit(repo, {"b.py": b_py(3, 3)}, next(day))
    commit(repo, {"a.py": a_py(3, 2), "c.py": c_py(1)}, next(day))
    sweep = {f"vendor/v{i}.py": "x = 1\n" for i in range(30)}
    commit(repo, {"a.py": a_py(3, 3), "c.py": c_py(2), **sweep}, next(day))
    return Tree(repo, ["a.py", "b.py", "c.py"])


# --------------------------------------------------------------------------- co-change


def test_files_that_change_together_are_linked_with_support_and_confidence(history):
    report = compute_volatility(history.root, history.indexed, now=NOW)

    edges = co_change_edges(
        report.commits, history.symbols(), history.read_text, history.file_hash, now=NOW
    )

    assert len(edges) == 1
    edge = edges[0]
    assert (edge.src, edge.dst) == ("a.py:", "b.py:")
    assert edge.relation == "co-change"
    # together in 4 commits; a.py, the rarer, changed in 6 (the sweep does not count)
    assert edge.reason == "changed together in 4 of 6 commits"
    assert edge.confidence == 0.667
    assert edge.provenance == PROVENANCE_CO_CHANGE
    assert (edge.src_hash, edge.dst_hash) == (history.file_hash("a.py"), history.file_hash("b.py"))
    assert datetime.fromisoformat(edge.created_at) == NOW


def test_with_the_repository_co_change_narrows_to_the_symbols_whose_lines_changed(history):
    report = compute_volatility(history.root, history.indexed, now=NOW)
    symbols = history.symbols()

    edges = co_change_edges(
        report.commits, symbols, history.read_text, history.file_hash, repo=history.root
    )

    assert [(e.src, e.dst, e.reason) for e in edges] == [
        ("a.py:encode", "b.py:decode", "changed together in 4 of 4 commits")
    ]
    by_id = {s.id: s.hash for s in symbols}
    assert (edges[0].src_hash, edges[0].dst_hash) == (by_id["a.py:encode"], by_id["b.py:decode"])


def test_a_sweep_touching_many_files_is_not_evidence_of_co_change(history):
    report = compute_volatility(history.root, history.indexed, now=NOW)
    args = (report.commits, history.symbols(), history.read_text, history.file_hash)

    default = co_change_edges(*args)
    lenient = co_change_edges(*args, settings=CoChangeSettings(max_commit_files=100))

    assert not any("c.py:" in (e.src, e.dst) for e in default)
    assert ("a.py:", "c.py:") in {(e.src, e.dst) for e in lenient}


def test_a_pair_below_min_support_is_not_linked(history):
    report = compute_volatility(history.root, history.indexed, now=NOW)

    edges = co_change_edges(
        report.commits, history.symbols(), history.read_text, history.file_hash,
        settings=CoChangeSettings(min_support=5),
    )

    assert edges == []


# --------------------------------------------------------------------------- shared strings

COMMON = "zone-default-eu"  # in five files: not rare


@pytest.fixture
def config_tree(tmp_path) -> Tree:
    files = {
        "settings.py": (
            "def load_settings(env):\n"
            f'    region = env.get("{COMMON}")\n'
            '    label = "retry {n} of {total}"\n'
            '    return {"budget": env.get("ZX_RETRY_BUDGET_MS", 250), "name": label}\n'
        ),
        "client.py": (
            "class Client:\n"
            "    def send(self, cfg):\n"
            '        budget = cfg["ZX_RETRY_BUDGET_MS"]\n'
            f'        region = cfg["{COMMON}"]\n'
            '        label = "retry {n} of {total}"\n'
            '        return budget, region, label, cfg["name"]\n'
        ),
        "limits.py": "ZX_UPLOAD_CEILING = 512\n",  # no symbol: only its file node
        "upload.py": (
            "def push(blob):\n"
            "    if len(blob) > ZX_UPLOAD_CEILING:\n"
            "        raise ValueError('too big')\n"
            "    return blob\n"
        ),
    }
    files |= {f"region{i}.py": f'def where{i}():\n    return "{COMMON}"\n' for i in range(3)}
    write(tmp_path, files)
    return Tree(tmp_path, sorted(files))


def test_a_rare_shared_config_key_links_the_two_symbols_that_use_it(config_tree):
    edges = shared_token_edges(
        config_tree.symbols(), config_tree.read_text, config_tree.file_hash, now=NOW
    )

    linked = {(e.src, e.dst): e for e in edges}
    edge = linked[("client.py:Client.send", "settings.py:load_settings")]
    assert edge.relation == "shares config key"
    assert edge.reason == "both use the key 'ZX_RETRY_BUDGET_MS'"
    assert edge.provenance == PROVENANCE_SHARED
    assert 0.3 < edge.confidence <= 0.9
    symbols = {s.id: s for s in config_tree.symbols()}
    assert edge.src_hash == symbols["client.py:Client.send"].hash
    assert edge.dst_hash == symbols["settings.py:load_settings"].hash


def test_a_common_literal_a_format_string_and_a_short_word_link_nothing(config_tree):
    edges = shared_token_edges(
        config_tree.symbols(), config_tree.read_text, config_tree.file_hash, now=NOW
    )

    reasons = " ".join(e.reason for e in edges)
    assert COMMON not in reasons and "retry {n}" not in reasons and "'name'" not in reasons
    assert not any(e.src.startswith("region") or e.dst.startswith("region") for e in edges)


def test_a_module_level_constant_links_its_file_node_to_the_symbol_using_it(config_tree):
    edges = shared_token_edges(
        config_tree.symbols(), config_tree.read_text, config_tree.file_hash,
        paths=config_tree.indexed, now=NOW,
    )

    linked = {(e.src, e.dst): e for e in edges}
    edge = linked[("limits.py:", "upload.py:push")]
    assert edge.reason == "both use the key 'ZX_UPLOAD_CEILING'"
    assert edge.src_hash == config_tree.file_hash("limits.py")
    assert len(edges) == 2


# --------------------------------------------------------------------------- store


def test_semantic_edges_round_trip_and_heuristics_replace_only_their_own(history, tmp_path):
    db = connect(tmp_path / "store")
    report = compute_volatility(history.root, history.indexed, now=NOW)
    derived = heuristic_edges(
        history.symbols(), history.read_text, history.file_hash,
        commits=report.commits, repo=history.root, now=NOW,
    )
    llm = SemanticEdge(
        "a.py:encode", "b.py:decode", "encode/decode pair", "decode inverts encode", 0.9,
        "llm:anthropic/claude-x", NOW.isoformat(), "h1", "h2",
    )

    replace_edges(db, HEURISTIC_PREFIX, derived)
    upsert_edges(db, [llm])
    assert load_edges(db) == sorted(
        [*derived, llm], key=lambda e: (e.src, e.dst, e.relation, e.provenance)
    )

    replace_edges(db, HEURISTIC_PREFIX, [])  # a run that finds nothing any more
    assert load_edges(db) == [llm]
    assert load_edges(connect(tmp_path / "store"), "llm:") == [llm]  # another connection


def test_replace_edges_refuses_an_edge_of_another_provenance(tmp_path):
    db = connect(tmp_path / "store")
    edge = SemanticEdge("a:", "b:", "co-change", "r", 0.5, "llm:x", NOW.isoformat(), "1", "2")

    with pytest.raises(ValueError, match="llm:x"):
        replace_edges(db, HEURISTIC_PREFIX, [edge])


def test_an_edge_goes_stale_when_an_end_changes_or_disappears(history, tmp_path):
    db = connect(tmp_path / "store")
    report = compute_volatility(history.root, history.indexed, now=NOW)
    symbols = history.symbols()
    replace_edges(db, HEURISTIC_PREFIX, co_change_edges(
        report.commits, symbols, history.read_text, history.file_hash, repo=history.root,
    ))
    [edge] = load_edges(db)

    def current(files: dict[str, str]):
        syms = [s for p in history.indexed for s in python_symbols(p, files[p])]
        return hash_lookup({s.id: s.hash for s in syms}, {p: sha(t) for p, t in files.items()})

    now_files = {p: history.read_text(p) for p in history.indexed}
    assert not is_stale(edge, current(now_files))

    decode_edited = now_files["b.py"].replace("blob.decode()", "blob.decode('latin-1')")
    edited = now_files | {"b.py": decode_edited}
    assert is_stale(edge, current(edited))
    assert stale_edges([edge], current(edited)) == [edge]

    helper_edited = now_files | {"b.py": now_files["b.py"].replace("version 3", "version 4")}
    assert not is_stale(edge, current(helper_edited))  # decode itself did not change

    renamed = now_files | {"a.py": now_files["a.py"].replace("def encode", "def encode_v2")}
    assert is_stale(edge, current(renamed))


def test_a_table_of_an_older_schema_is_rebuilt_keeping_its_edges(tmp_path, caplog):
    db = connect(tmp_path / "store")
    old = SemanticEdge("a:f", "b:g", "shares literal", "r", 0.5, "llm:x", NOW.isoformat(), "1", "2")
    row = {"key": "old-style key", **old.__dict__}
    db.create_table("semantic_edges", data=pa.Table.from_pylist([row]).replace_schema_metadata(
        {"ctxfold.schema": "semantic_edges/0"}
    ))

    assert load_edges(db) == [old]
    assert "rebuilt" in caplog.text
    assert db.open_table("semantic_edges").schema.metadata[b"ctxfold.schema"] == b"semantic_edges/1"


def test_an_unclosed_quote_before_backslashes_is_scanned_in_linear_time():
    # The old literal pattern backtracked exponentially here (50 s for 40 backslashes).
    line = 'x = "' + "\\" * 4000
    started = time.perf_counter()
    assert list(_STRING.finditer(line)) == []
    assert time.perf_counter() - started < 1.0
    assert [m.group("body") for m in _STRING.finditer(r'a = "x\"y" + f"{z}"')] == [r"x\"y", "{z}"]
