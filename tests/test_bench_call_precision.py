"""The call-precision benchmark, end to end on a tiny repository with the real indexer and
the real jedi, and its scoring on plain data."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

# benchmarks/ is not an installed package: it runs by hand from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest.importorskip("jedi")

from benchmarks.call_precision import (  # noqa: E402
    ALL,
    NOT_NAME,
    CallSite,
    JediAnswer,
    Settings,
    SiteEdge,
    SiteResult,
    definition_targets,
    edges_for_ref,
    locate_column,
    main,
    render,
    run,
    score,
)
from indexers.types import Edge, Import, Ref, Symbol  # noqa: E402

TINY = {
    "pricing.py": """\
def fmt(value):
    return f"{value:.2f}"


def helper(items):
    return [fmt(i) for i in items]
""",
    "basket.py": """\
from pricing import fmt


class Cart:
    def __init__(self):
        self.items = []

    def add(self, price):
        self._check(price)
        self.items.append(price)

    def _check(self, price):
        if price < 0:
            raise ValueError(fmt(price))

    def total(self):
        return fmt(sum(self.items))
""",
    "app.py": """\
import pricing
from basket import Cart


def main():
    cart = Cart()
    cart.add(3)
    print(pricing.helper(cart.items))
    return cart.total()
""",
}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("tiny")
    for name, text in TINY.items():
        (repo / name).write_text(text)
    return repo


@pytest.fixture(scope="module")
def results(tiny, tmp_path_factory) -> list[SiteResult]:
    return run(tiny, 1000, 0, tmp_path_factory.mktemp("store"), Settings(), lambda message: None)


def by_site(results, where: str, callee: str) -> SiteResult:
    return next(r for r in results if r.site.where == where and r.site.callee == callee)


def test_every_call_site_of_the_tiny_repository_is_sampled_and_judged_by_jedi(results):
    assert len(results) == 12
    statuses = {(r.site.where, r.site.callee): r.jedi.status for r in results}
    assert statuses[("basket.py:10", "self.items.append")] == "external"
    assert statuses[("basket.py:14", "ValueError")] == "external"
    assert statuses[("app.py:8", "print")] == "external"
    assert sum(s == "repo" for s in statuses.values()) == 8


def test_a_class_call_accepts_the_class_or_its_init(results):
    site = by_site(results, "app.py:6", "Cart")
    assert site.jedi.targets == {"basket.py:Cart", "basket.py:Cart.__init__"}
    assert site.edges == (SiteEdge("basket.py:Cart", "import"),)


def test_ctxfold_is_exact_on_the_tiny_repository(results):
    report = score(results)
    for row in (ALL, NOT_NAME):
        assert report.methods[row].precision == 1.0
    assert report.recall(ALL) == 1.0
    assert report.methods["self"].edges == 1
    # pricing.helper(), and cart.add(), cart.total() typed by cart = Cart()
    assert report.methods["qualified"].edges == 3
    assert report.methods["name"].edges == 0
    assert report.wrong == [] and report.misses == []
    assert "100.0%" in render(report)


def test_an_injected_wrong_edge_counts_against_precision_only(results):
    clean = score(results)
    site = by_site(results, "app.py:9", "cart.total")
    bad = replace(site, edges=site.edges + (SiteEdge("pricing.py:helper", "name"),))
    report = score([bad if r is site else r for r in results])
    total = clean.methods[ALL]
    assert report.methods[ALL].precision == total.correct / (total.edges + 1)
    assert report.methods[NOT_NAME].precision == 1.0
    assert report.recall(ALL) == 1.0  # the site still has its correct edge
    assert [(w.where, w.dst) for w in report.wrong] == [("app.py:9", "pricing.py:helper")]


def test_a_site_with_only_wrong_edges_is_a_miss():
    site = CallSite("a.py", 3, 4, ("f",), "")
    wrong_only = SiteResult(site, (SiteEdge("b.py:f", "import"),), JediAnswer("repo", frozenset({"a.py:f"})))
    elsewhere = SiteResult(replace(site, line=5), (), JediAnswer("repo", frozenset({"a.py:f"})), frozenset({"a.py:f"}))
    unjudged = SiteResult(replace(site, line=7), (SiteEdge("c.py:f", "name"),), JediAnswer("unknown"))
    recursive = SiteResult(replace(site, scope="f"), (), JediAnswer("repo", frozenset({"a.py:f"})))
    report = score([wrong_only, elsewhere, unjudged, recursive])
    assert report.recall(ALL) == 0.0
    assert report.methods[ALL].precision == 0.0
    assert report.methods[ALL].judged_edges == 1  # jedi's silence judges no edge
    assert report.miss_kinds == {"wrong": 1, "other line": 1, "recursive": 1}


def test_the_column_is_the_last_name_of_the_chain():
    lines = ["x = send(self.client.send(send))"]
    assert locate_column(lines, 1, ["self", "client", "send"]) == (1, 21)
    assert locate_column(lines, 1, ["send"]) == (1, 4)
    assert locate_column(["a = (b", "     .c)(1)"], 1, ["b", "c"]) == (2, 6)
    assert locate_column(["f(f(x))"], 1, ["f"], occurrence=1) == (1, 2)


def test_a_definition_maps_to_the_innermost_symbol_of_its_name():
    symbols = [
        Symbol("m.py", "C", "C", "class", 1, 9, "class C:"),
        Symbol("m.py", "C.__init__", "__init__", "method", 2, 3, "def __init__(self):"),
        Symbol("m.py", "C.run", "run", "method", 5, 9, "def run(self):"),
    ]
    assert definition_targets(symbols, 5, "run") == {"m.py:C.run"}
    assert definition_targets(symbols, 2, "__init__") == {"m.py:C.__init__", "m.py:C"}
    assert definition_targets(symbols, 1, "C") == {"m.py:C", "m.py:C.__init__"}
    assert definition_targets(symbols, 7, "inner") == frozenset()  # a def nested in run


def test_calls_sharing_a_line_keep_their_own_edges():
    outer, inner = Ref(["g"], 4, "h"), Ref(["self", "f"], 4, "h")
    edges = [Edge("m.py:h", "m.py:C.f", "call", "self", 0.95, 4), Edge("n.py:go", "n.py:go", "call", "import", 0.95, 4)]
    imports = [Import("n", "go", "g", 1)]
    assert edges_for_ref(outer, [outer, inner], edges, imports) == (SiteEdge("n.py:go", "import"),)
    assert edges_for_ref(inner, [outer, inner], edges, imports) == (SiteEdge("m.py:C.f", "self"),)


def test_name_guesses_beside_a_resolved_edge_belong_to_the_other_call():
    mine, other = Ref(["self", "flatten"], 9, "C.eq"), Ref(["other", "flatten"], 9, "C.eq")
    edges = [
        Edge("m.py:C.eq", "m.py:C.flatten", "call", "self", 0.95, 9),
        Edge("m.py:C.eq", "q.py:Q.flatten", "call", "name", 0.25, 9),
    ]
    assert edges_for_ref(mine, [mine, other], edges, []) == (SiteEdge("m.py:C.flatten", "self"),)
    assert edges_for_ref(other, [mine, other], edges, []) == (SiteEdge("q.py:Q.flatten", "name"),)


def test_the_command_prints_the_table(tiny, tmp_path, capsys):
    assert main([str(tiny), "--sample", "5", "--store", str(tmp_path / "store"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "sites sampled       5" in out and "all but name" in out
    assert (tmp_path / "r.json").read_text().startswith("[")


def test_a_package_directory_resolves_its_own_absolute_imports_in_jedi(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "b.py").write_text("def g():\n    return 1\n")
    (pkg / "a.py").write_text("from pkg.b import g\n\n\ndef f():\n    return g()\n")
    [result] = run(pkg, 10, 0, tmp_path / "store", Settings(), lambda message: None)
    assert result.site.where == "a.py:5"
    assert result.jedi.status == "repo" and result.jedi.targets == {"b.py:g"}
