"""The localization benchmark's scoring, packing and plumbing, on fakes: no mirrors, no network."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

# benchmarks/ is not an installed package: it runs by hand from the checkout. Make it
# importable under a bare `pytest` too (pythonpath = ["."] in pytest's settings would do).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.localize import (  # noqa: E402
    BaselineSettings,
    Chunk,
    FileDoc,
    GoldFunction,
    Instance,
    Pack,
    PackedItem,
    SourceCache,
    SourceFile,
    _GcTime,
    _timed_recall,
    absent_files,
    evaluate_instance,
    holds,
    identifier_terms,
    load_mirrors,
    materialize,
    missing_at_base,
    pack_chunks,
    pack_files,
    pack_from_recall,
    percentile,
    python_definitions,
    read_python_files,
    report,
    run_ctxfold,
    score_pack,
    source_lines,
    summarize,
)


def instance(
    gold_files=("a.py", "b.py"), gold_functions=("a.py:C.m", "a.py:f", "b.py:g")
) -> Instance:
    return Instance(
        instance_id="o__r-1",
        repo="o/r",
        base_commit="0" * 40,
        problem_statement="C.m breaks when f is called",
        gold_files=list(gold_files),
        gold_functions=[GoldFunction.parse(g) for g in gold_functions],
    )


def item(path, symbol, level="full", kind="function", tokens=10, **kw) -> PackedItem:
    return PackedItem(path, symbol, kind, 1, 2, level, tokens, 1.0, **kw)


def recall_item(path, symbol, level="full", tokens=10) -> dict:
    return {
        "path": path,
        "symbol": symbol,
        "kind": "function",
        "start_line": 1,
        "end_line": 2,
        "level": level,
        "tokens": tokens,
        "score": 0.5,
        "why": "seed",
    }


def recall_result(items, budget=100, tokens=None) -> dict:
    return {
        "budget": budget,
        "tokens": sum(i["tokens"] for i in items) if tokens is None else tokens,
        "encoding": "cl100k_base",
        "text": "",
        "items": items,
        "omitted": [],
    }


# --- holding a gold function in full


def test_a_full_item_holds_its_own_symbol():
    assert holds(item("a.py", "C.m"), GoldFunction("a.py", "C.m"))


def test_a_full_class_holds_its_methods_and_nested_classes_methods():
    assert holds(item("a.py", "C", kind="class"), GoldFunction("a.py", "C.m"))
    assert holds(item("a.py", "C", kind="class"), GoldFunction("a.py", "C.Inner.m"))


def test_a_signature_another_file_or_a_name_prefix_holds_nothing():
    gold = GoldFunction("a.py", "C.m")
    assert not holds(item("a.py", "C.m", level="signature"), gold)
    assert not holds(item("b.py", "C.m"), gold)
    assert not holds(item("a.py", "C.m2"), gold)
    assert not holds(item("a.py", "CC", kind="class"), GoldFunction("a.py", "C.m"))
    assert not holds(item("a.py", "C.m"), GoldFunction("a.py", "C"))  # a method is not its class


def test_module_scope_holds_nothing_unless_it_is_the_whole_file():
    gold = GoldFunction("a.py", "f")
    assert not holds(item("a.py", "", kind="module"), gold)
    assert holds(item("a.py", "", kind="file", whole_file=True), gold)


def test_a_cut_file_holds_only_what_it_names():
    cut = item("a.py", "", kind="file", contains=frozenset({"f"}))
    assert holds(cut, GoldFunction("a.py", "f"))
    assert not holds(cut, GoldFunction("a.py", "C.m"))


def test_gold_function_entries_must_name_a_path_and_a_qualname():
    assert GoldFunction.parse("pkg/a.py:C.m") == GoldFunction("pkg/a.py", "C.m")
    with pytest.raises(ValueError, match="not of the form"):
        GoldFunction.parse("pkg/a.py")


# --- scoring one pack


def test_score_pack_counts_files_functions_and_accuracy_at_k():
    items = [
        recall_item("x.py", "h"),
        recall_item("a.py", "C", level="signature"),
        recall_item("y.py", "k"),
        recall_item("a.py", "C.m"),
        recall_item("a.py", "f", level="signature"),
        recall_item("z.py", "z"),
        recall_item("b.py", "g"),
    ]
    score = score_pack(instance(), pack_from_recall(recall_result(items), 12.5), budget=100)
    assert (score.n_gold_files, score.files_hit) == (2, 2)
    assert (score.n_gold_functions, score.functions_held) == (3, 2)  # f only as a signature
    assert score.all_full is False
    # distinct files in rank order: x, a, y, z, b
    assert score.file_acc == {1: False, 3: False, 5: True}
    assert score.func_acc == {5: False, 10: False}
    assert (score.tokens, score.latency_ms, score.error) == (70, 12.5, None)


def test_function_accuracy_counts_only_full_items():
    inst = instance(gold_files=["a.py"], gold_functions=["a.py:f"])
    signatures = [recall_item(f"s{i}.py", "s", level="signature") for i in range(6)]
    fulls = [recall_item(f"n{i}.py", "n") for i in range(4)]
    items = signatures + fulls + [recall_item("a.py", "f")]  # the 5th full item, 11th item
    score = score_pack(inst, pack_from_recall(recall_result(items), 1.0), budget=100)
    assert score.func_acc == {5: True, 10: True}
    assert score.all_full is True
    later = fulls + fulls + [recall_item("a.py", "f")]  # the 9th full item
    score = score_pack(inst, pack_from_recall(recall_result(later), 1.0), budget=100)
    assert score.func_acc == {5: False, 10: True}


def test_a_failed_pack_is_a_miss_without_tokens_or_latency():
    failed = Pack([item("a.py", "f")], 50, 3.0, error="RuntimeError: boom")
    score = score_pack(instance(), failed, budget=100)
    assert (score.files_hit, score.functions_held, score.tokens, score.latency_ms) == (
        0,
        0,
        0,
        None,
    )
    assert score.file_acc == {1: False, 3: False, 5: False}
    assert score.func_acc == {5: False, 10: False}


def test_an_instance_without_gold_functions_has_no_function_scores():
    inst = instance(gold_files=["a.py"], gold_functions=())
    score = score_pack(inst, pack_from_recall(recall_result([recall_item("a.py", "f")]), 1.0), 100)
    assert score.all_full is None and score.func_acc == {}
    assert score.file_acc == {1: True, 3: True, 5: True}


# --- summaries


def test_summarize_pools_hits_and_averages_instances():
    inst_two = instance()
    inst_one = instance(gold_files=["a.py"], gold_functions=["a.py:f"])
    inst_none = instance(gold_files=["c.py"], gold_functions=())
    scores = [
        score_pack(
            inst_two,
            pack_from_recall(
                recall_result([recall_item("a.py", "C"), recall_item("b.py", "g")], tokens=90), 10.0
            ),
            100,
        ),
        score_pack(
            inst_one,
            pack_from_recall(recall_result([recall_item("a.py", "f")], tokens=120), 30.0),
            100,
        ),
        score_pack(
            inst_none,
            pack_from_recall(recall_result([recall_item("d.py", "q")], tokens=60), 20.0),
            100,
        ),
        score_pack(inst_one, Pack([], 0, 0.0, error="boom"), 100),
    ]
    s = summarize(scores)
    assert (s.n, s.errors, s.over_budget) == (4, 1, 1)
    assert s.file_hit_rate == pytest.approx(3 / 5)  # 2 of 2, 1 of 1, 0 of 1, 0 of 1
    assert s.function_recall == pytest.approx(3 / 5)  # C.m and g, f, -, miss
    assert s.all_full_rate == pytest.approx(1 / 3)  # only inst_one's pack; inst_two misses a.py:f
    assert s.file_acc == {1: pytest.approx(1 / 4), 3: pytest.approx(2 / 4), 5: pytest.approx(2 / 4)}
    assert s.func_acc == {5: pytest.approx(1 / 3), 10: pytest.approx(1 / 3)}
    assert s.mean_tokens == pytest.approx(90)
    assert (s.latency_p50_ms, s.latency_p95_ms) == (20.0, 30.0)


def test_percentile_is_nearest_rank():
    values = list(range(1, 21))  # 1..20
    assert percentile(values, 95) == 19
    assert percentile(values, 50) == 10
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 95) is None


# --- the ctxfold system, through fakes of its API


class FakeClock:
    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_run_ctxfold_builds_once_recalls_each_budget_and_times_calls(tmp_path):
    calls = []

    def build(root):
        calls.append(("build", root))

    def recall(root, task, budget, fmt="text"):
        calls.append(("recall", budget, fmt))
        if budget == 4000:
            raise RuntimeError("index is stale")
        return recall_result([recall_item("a.py", "f", tokens=budget // 2)], budget=budget)

    run = run_ctxfold(
        tmp_path,
        "task",
        [2000, 4000, 8000],
        build_index=build,
        recall=recall,
        clock=FakeClock(0.25),
    )
    assert calls == [
        ("build", tmp_path),
        ("recall", 2000, "json"),
        ("recall", 4000, "json"),
        ("recall", 8000, "json"),
    ]
    assert run.build_s == 0.25
    assert run.packs[2000].latency_ms == 250.0 and run.packs[2000].tokens == 1000
    assert run.packs[4000].error == "RuntimeError: index is stale" and run.packs[4000].items == []
    assert run.packs[8000].items[0].symbol == "f"


def test_a_timed_recall_says_where_its_time_went(workspace):
    started = time.perf_counter()
    data = _timed_recall(workspace, "Cart.checkout fails: reserve raises out of stock", 1500)
    wall_ms = (time.perf_counter() - started) * 1000
    timings = data.pop("timings")
    assert {"fresh", "text", "seeds", "diffuse", "priors", "order", "pack", "render", "cpu", "gc"} <= set(timings)
    assert all(ms >= 0 for ms in timings.values())
    phases = sum(ms for k, ms in timings.items() if k not in ("cpu", "gc"))
    assert 0 < phases <= wall_ms + 1
    assert data["items"][0]["symbol"] and data["tokens"] <= 1500  # the JSON recall returns
    pack = pack_from_recall(data | {"timings": timings}, wall_ms)
    assert pack.timings == timings


def test_gc_time_counts_collections_inside_its_block():
    with _GcTime() as gc_time:
        garbage = [[i] for i in range(100_000)]
        gc.collect()
    assert gc_time.ms > 0 and _GcTime not in map(type, gc.callbacks)
    del garbage


def test_a_failing_system_or_tree_is_a_miss_and_the_others_still_run(tmp_path):
    (tmp_path / "a.py").write_text("def f():\n    return called()\n")
    inst = instance(gold_files=["a.py"], gold_functions=["a.py:f"])

    def broken_ctxfold(tree, task, budgets):
        raise ImportError("No module named 'indexers.build'")

    result = evaluate_instance(
        inst,
        lambda _: tmp_path,
        [100],
        ["ctxfold", "bm25-functions", "bm25-files"],
        sources=SourceCache(),
        count=lambda text: text.count("\n"),
        settings=BaselineSettings(),
        ctxfold=broken_ctxfold,
    )
    assert result.errors["ctxfold"] == "ImportError: No module named 'indexers.build'"
    assert result.scores["ctxfold"][100].error and result.scores["ctxfold"][100].functions_held == 0
    assert result.scores["bm25-functions"][100].functions_held == 1
    assert result.scores["bm25-files"][100].functions_held == 1

    def no_tree(_):
        raise FileNotFoundError("no mirror of o/r")

    result = evaluate_instance(
        inst,
        no_tree,
        [100],
        ["bm25-files"],
        sources=SourceCache(),
        count=lambda text: 1,
        settings=BaselineSettings(),
    )
    assert result.errors == {"materialize": "FileNotFoundError: no mirror of o/r"}
    assert result.scores["bm25-files"][100].files_hit == 0
    assert "1 instances" in report([result], ["bm25-files"], [100])


# --- the baselines' packing


def chunk(symbol, tokens, path="a.py", kind="function") -> Chunk:
    return Chunk(path, symbol, kind, 1, 1, "", tokens, [])


def test_pack_chunks_skips_what_does_not_fit_and_goes_on():
    chunks = [chunk("big", 80), chunk("a", 30), chunk("b", 60), chunk("c", 50), chunk("d", 15)]
    ranked = [(0, 5.0), (1, 4.0), (2, 3.0), (3, 2.0), (4, 1.0)]
    items, used = pack_chunks(ranked, chunks, 100, BaselineSettings(min_fit_tokens=8))
    assert [i.symbol for i in items] == ["big", "d"]
    assert used == 95
    items, used = pack_chunks(ranked[1:], chunks, 100, BaselineSettings(min_fit_tokens=8))
    assert [i.symbol for i in items] == ["a", "b"] and used == 90


def test_pack_chunks_stops_when_too_little_is_left():
    chunks = [chunk("a", 95), chunk("b", 1)]
    items, _ = pack_chunks([(0, 2.0), (1, 1.0)], chunks, 100, BaselineSettings(min_fit_tokens=8))
    assert [i.symbol for i in items] == ["a"]


SOURCE = """\
import os

def f():
    return 1

class C:
    def m(self):
        return 2

    def n(self):
        return 3
"""


def source_file(path="a.py", text=SOURCE) -> SourceFile:
    lines = text.splitlines()
    return SourceFile(path, lines, [[] for _ in lines], python_definitions(text))


def lines_count(text: str) -> int:
    return text.count("\n")  # a rendered file of L lines "costs" L + 1 (its header)


def test_pack_files_cuts_only_the_first_file_and_keeps_whole_definitions():
    big = FileDoc(source_file(), "", 12, [])
    small = FileDoc(source_file("b.py", "def g():\n    pass\n"), "", 3, [])
    # 9 tokens: the header and 8 lines, through the end of C.m (line 8) but not C.n.
    items, used = pack_files(
        [(0, 2.0), (1, 1.0)], [big, small], 9, lines_count, BaselineSettings(min_fit_tokens=1)
    )
    assert len(items) == 1 and used == 9
    assert items[0].end_line == 8 and items[0].contains == frozenset({"f", "C.m"})
    assert holds(items[0], GoldFunction("a.py", "C.m")) and not holds(
        items[0], GoldFunction("a.py", "C")
    )
    # A later file that does not fit is skipped, not cut.
    items, used = pack_files(
        [(1, 2.0), (0, 1.0)], [big, small], 9, lines_count, BaselineSettings(min_fit_tokens=1)
    )
    assert [i.path for i in items] == ["b.py"] and items[0].whole_file and used == 3


# --- reading sources


def test_python_definitions_name_classes_and_their_methods_not_inner_functions():
    text = (
        "if True:\n"
        "    def g():\n"
        "        def inner():\n"
        "            pass\n"
        "@decorate\n"
        "class A:\n"
        "    class B:\n"
        "        @property\n"
        "        def p(self):\n"
        "            return 1\n"
        "    try:\n"
        "        def t(self): pass\n"
        "    except ImportError:\n"
        "        def t(self): return 0\n"
    )
    got = [(d.qualname, d.kind, d.start_line, d.end_line) for d in python_definitions(text)]
    assert got == [
        ("g", "function", 2, 4),
        ("A", "class", 5, 14),
        ("A.B", "class", 7, 10),
        ("A.B.p", "method", 8, 10),
        ("A.t", "method", 12, 12),
        ("A.t", "method", 14, 14),
    ]


def test_identifier_terms_split_snake_and_camel_case():
    assert identifier_terms("getHTTPResponse_code") == (
        "gethttpresponse_code",
        "get",
        "http",
        "response",
        "code",
    )
    assert identifier_terms("_private") == ("private",)
    assert identifier_terms("x") == ()


def test_read_python_files_skips_hidden_directories_and_marks_unparsable_files(tmp_path):
    (tmp_path / ".ctxfold").mkdir()
    (tmp_path / ".ctxfold" / "x.py").write_text("def hidden(): pass\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.py").write_text(SOURCE)
    (tmp_path / "py2.py").write_text("print 'hi'\n")
    files = {f.path: f for f in read_python_files(tmp_path, SourceCache())}
    assert sorted(files) == ["pkg/ok.py", "py2.py"]
    assert files["py2.py"].definitions is None
    assert [d.qualname for d in files["pkg/ok.py"].definitions] == ["f", "C", "C.m", "C.n"]


def test_source_lines_break_where_python_does():
    assert source_lines("a\x0cb\r\nc\rd\n") == ["a\x0cb", "c", "d"]
    assert source_lines("x") == ["x"] and source_lines("") == []


def test_missing_at_base_lists_gold_functions_the_base_tree_lacks(tmp_path):
    (tmp_path / "a.py").write_text(SOURCE)
    inst = instance(gold_files=["a.py"], gold_functions=["a.py:C.m", "a.py:C.new", "gone.py:f"])
    assert missing_at_base(inst, tmp_path) == ["a.py:C.new", "gone.py:f"]


# --- mirrors and trees


def fake_git_dir(path: Path) -> Path:
    (path / "objects").mkdir(parents=True)
    (path / "HEAD").write_text("ref: refs/heads/main\n")
    return path


def test_load_mirrors_reads_a_map_file_or_a_directory_of_named_mirrors(tmp_path):
    fake_git_dir(tmp_path / "psf+requests" / "repo")
    fake_git_dir(tmp_path / "pallets__flask.git")
    (tmp_path / "not-a-mirror").mkdir()
    assert load_mirrors(tmp_path) == {
        "pallets/flask": tmp_path / "pallets__flask.git",
        "psf/requests": tmp_path / "psf+requests" / "repo",
    }
    map_file = tmp_path / "mirrors.json"
    map_file.write_text(json.dumps({"psf/requests": "/m/psf+requests/repo"}))
    assert load_mirrors(map_file) == {"psf/requests": Path("/m/psf+requests/repo")}


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_materialize_extracts_once_and_redoes_a_half_extracted_tree(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    (work / "a.py").write_text("def f():\n    pass\n")
    git("add", "a.py", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=work)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()

    dest = tmp_path / "trees" / "o__r-1"
    assert (materialize(work / ".git", sha, dest) / "a.py").read_text() == "def f():\n    pass\n"
    (dest / "extra").write_text("kept: the tree is complete")
    materialize(work / ".git", sha, dest)
    assert (dest / "extra").exists()

    (dest.parent / "o__r-1.complete").unlink()  # as if extraction had been cut short
    materialize(work / ".git", sha, dest)
    assert not (dest / "extra").exists() and (dest / "a.py").exists()

    with pytest.raises(RuntimeError, match="git archive"):
        materialize(work / ".git", "f" * 40, tmp_path / "trees" / "o__r-2")


def test_a_materialized_tree_has_the_history_up_to_its_commit_and_none_after(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    git("init", "-q", cwd=work)
    shas = []
    for n in range(3):
        (work / "a.py").write_text(f"def f():\n    return {n}\n")
        git("add", "a.py", cwd=work)
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", f"Fix #{n}", cwd=work)
        shas.append(git("rev-parse", "HEAD", cwd=work).strip())

    dest = materialize(work / ".git", shas[1], tmp_path / "trees" / "o__r-1")
    assert git("log", "--format=%H", cwd=dest).split() == [shas[1], shas[0]]
    assert git("status", "--porcelain", cwd=dest) == ""  # the files are the commit's
    assert not (dest / ".git" / "objects" / shas[1][:2]).exists()  # borrowed, not copied

    shutil.rmtree(dest / ".git")  # a tree extracted before trees had history
    materialize(work / ".git", shas[1], dest)
    assert git("log", "--format=%s", cwd=dest).split("\n")[0] == "Fix #1"


def test_a_mirror_lacking_a_blob_still_gives_a_tree_without_that_file(tmp_path):
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    git("init", "-q", cwd=work)
    (work / "a.py").write_text("def f():\n    pass\n")
    (work / "run.sh").write_text("#!/bin/sh\n")
    (work / "run.sh").chmod(0o755)
    (work / "data" / "big.dat").write_text("a large data file\n")
    git("add", ".", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one", cwd=work)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()
    blob = subprocess.run(
        ["git", "rev-parse", "HEAD:data/big.dat"], cwd=work, capture_output=True, text=True
    ).stdout.strip()
    (work / ".git" / "objects" / blob[:2] / blob[2:]).unlink()

    logged = []
    dest = materialize(work / ".git", sha, tmp_path / "trees" / "o__r-1", log=logged.append)
    assert (dest / "a.py").read_text() == "def f():\n    pass\n"
    assert (dest / "run.sh").stat().st_mode & 0o111
    assert not (dest / "data" / "big.dat").exists()
    assert absent_files(dest) == ["data/big.dat"]
    assert len(logged) == 1 and "data/big.dat" in logged[0]
    assert materialize(work / ".git", sha, dest) == dest  # complete: not extracted again


def test_the_offline_encoding_is_cl100k_base():
    from benchmarks.localize import _offline_cl100k

    enc = _offline_cl100k()
    assert enc.encode("hello world") == [15339, 1917]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [100257]
