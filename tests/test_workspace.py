"""After an edit or new semantic edges, the served views equal those of a fresh process; a
warmed workspace is kept out of full garbage collections, and still freed when dropped."""

from __future__ import annotations

import gc
import weakref

import pytest

from indexers.types import SemanticEdge
from mcp_server import workspace as workspace_module
from mcp_server.recall import _neighbours, recall
from mcp_server.settings import SETTINGS
from mcp_server.workspace import Workspace


def edges_of(v):
    return {(a, b, d["kind"], round(d["weight"], 6)) for a in v.graph for b, d in v.graph.successors(a)}


def snapshot(v):
    names = {k: sorted(s.id for s in syms) for k, syms in v.by_name.items() if syms}
    labels = {k: sorted(s.id for s in syms) for k, syms in v.by_label.items() if syms}
    paths = {p: [s.id for s in syms] for p, syms in v.by_path.items()}
    preds = {(a, b) for b in v.graph for a, _ in v.graph.predecessors(b)}
    return set(v.graph), edges_of(v), preds, set(v.symbols), names, labels, paths, v.semantic


def test_views_after_an_edit_equal_a_fresh_process(workspace, pyshop):
    task = "Cart checkout reserve stock with_tax apply_discount shipping"
    recall(workspace, task, 2000)  # neighbour lists made along the way
    before = workspace.fresh_views()
    pricing = pyshop / "shop/pricing.py"
    pricing.write_text(pricing.read_text() + "\n\ndef shipping(amount):\n    return with_tax(amount) + 5\n")
    after = workspace.fresh_views()
    assert after.generation > before.generation
    after.graph  # built: the old neighbour lists that still hold are taken over
    kept = dict(after.neighbours)
    assert 0 < len(kept) < len(before.neighbours)
    fresh = Workspace(pyshop)
    assert {n: _neighbours(fresh.fresh_views(), n, SETTINGS) for n in kept} == kept  # as a fresh process makes them
    assert recall(workspace, task, 2000, fmt="json") == recall(fresh, task, 2000, fmt="json")

    pricing.write_text(pricing.read_text().replace("return amount / 2", "return amount // 2"))
    (pyshop / "shop/payment.py").unlink()
    (pyshop / "shop/inventory.py").rename(pyshop / "shop/stock.py")
    after = workspace.fresh_views()
    rebuilt = Workspace(pyshop).fresh_views()
    assert snapshot(after) == snapshot(rebuilt)
    assert ("shop/pricing.py:shipping", "shop/pricing.py:with_tax", "call", 1.0) in edges_of(after)
    assert not any(n.startswith("shop/payment.py") for n in after.graph)


def test_semantic_edges_are_laid_over_the_graph_and_taken_off_again(pyshop):
    edges: list[SemanticEdge] = []

    def opened() -> Workspace:
        ws = Workspace(pyshop)
        ws.edge_sources.append(lambda: list(edges))  # as coupling facts are served
        return ws

    ws = opened()
    v = ws.warm()
    sym = v.symbols
    contain = ("shop/cart.py:Cart", "shop/cart.py:Cart.checkout")
    assert v.graph.edge(*contain)["kind"] == "contain"
    task = "Cart checkout reserve with_tax"
    recall(ws, task, 2000)  # neighbour lists made along the way
    for src, dst in [contain, ("shop/pricing.py:with_tax", "shop/inventory.py:reserve")]:
        edges.append(SemanticEdge(src, dst, "coupling", "why", 1.0, "agent", "2026-01-01T00:00:00+00:00",
                                  sym[src].hash, sym[dst].hash))
    assert ws.views() is v  # laid over the same views
    assert v.graph.edge(*contain)["kind"] == "semantic"  # heavier than the code edge it replaces
    assert v.semantic == 2 and snapshot(v) == snapshot(opened().fresh_views())
    assert "shop/pricing.py:with_tax" not in v.neighbours  # its list changed: made again when reached

    edges.pop(0)
    assert ws.views() is v and v.graph.edge(*contain)["kind"] == "contain"  # the code edge is back
    assert v.semantic == 1 and snapshot(v) == snapshot(opened().fresh_views())
    assert contain[0] not in v.neighbours and contain[1] not in v.neighbours
    assert recall(ws, task, 2000, fmt="json") == recall(opened(), task, 2000, fmt="json")


@pytest.fixture
def unfrozen():
    yield
    gc.unfreeze()  # the rest of the session collects as usual


def _collected(obj) -> bool:
    """Whether full garbage collections walk ``obj`` (frozen objects are not listed)."""
    return any(o is obj for o in gc.get_objects())


def test_a_warmed_workspace_is_settled_out_of_full_collections(workspace, unfrozen):
    v = workspace.warm()
    assert not _collected(v.symbols) and not _collected(v.graph)
    v.generation = -1  # not where the last update starts: the next views are a full rebuild, settled too
    rebuilt = workspace.views()
    assert rebuilt is not v and not _collected(rebuilt.symbols)
    young = []
    assert _collected(young)  # what is made afterwards is collected as ever


def test_a_served_workspace_settles_its_first_build(pyshop, unfrozen):
    ws = Workspace(pyshop)
    ws.long_lived = True  # as the server opens it: with no index yet, the first call builds
    v = ws.fresh_views()
    assert not _collected(v.symbols)
    assert _collected(Workspace(pyshop).fresh_views().symbols)  # a one-shot command's is not


def test_warming_settles_the_heap_once(pyshop, monkeypatch, unfrozen):
    settles = []
    monkeypatch.setattr(workspace_module, "settle_heap", lambda: settles.append(1))
    served = Workspace(pyshop)
    served.long_lived = True  # as the server opens it, then warms it
    served.warm()
    built = Workspace(pyshop)
    built.fresh_views()  # views already built: warming settles them itself
    built.warm()
    assert len(settles) == 2


def test_warming_prepares_what_recall_would_build_and_settles_it(pyshop, unfrozen):
    warmed = Workspace(pyshop)
    v = warmed.warm()
    assert v._graph is not None and v._text is not None and v.name_runs[0] == v.generation
    assert not _collected(v.by_name)
    task = "Why does Cart.checkout not respect stock levels when a discount_code is applied?"
    cold = Workspace(pyshop)  # recall builds what it needs as it goes
    assert recall(warmed, task, 2000, fmt="json")["items"] == recall(cold, task, 2000, fmt="json")["items"]


def test_a_dropped_warmed_workspace_is_freed_even_in_a_cycle(pyshop, unfrozen):
    first = Workspace(pyshop)
    views = weakref.ref(first.warm())
    first.itself = first  # a reference cycle: only the garbage collector can free it
    del first
    Workspace(pyshop).warm()
    assert views() is None
