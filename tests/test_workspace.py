"""After an edit or new semantic edges, the served views are patched in place and equal a full rebuild; a
warmed workspace is kept out of full garbage collections, and still freed when dropped."""

from __future__ import annotations

import gc
import weakref

import pytest

from indexers.types import SemanticEdge
from mcp_server import workspace as workspace_module
from mcp_server.recall import prepare_views, recall
from mcp_server.workspace import Workspace


def snapshot(v):
    edges = {(a, b, d["kind"], round(d["weight"], 6)) for a, b, d in v.graph.edges(data=True)}
    names = {k: sorted(s.id for s in syms) for k, syms in v.by_name.items() if syms}
    labels = {k: sorted(s.id for s in syms) for k, syms in v.by_label.items() if syms}
    paths = {p: [s.id for s in syms] for p, syms in v.by_path.items()}
    return set(v.graph.nodes), edges, set(v.symbols), names, labels, paths, v.semantic


def test_patched_views_equal_a_full_rebuild(workspace, pyshop):
    before = workspace.fresh_views()
    pricing = pyshop / "shop/pricing.py"
    pricing.write_text(pricing.read_text().replace("return amount / 2", "return amount // 2")
                       + "\n\ndef shipping(amount):\n    return with_tax(amount) + apply_discount(amount, 'HALF')\n")
    (pyshop / "shop/payment.py").unlink()
    (pyshop / "shop/inventory.py").rename(pyshop / "shop/stock.py")
    patched = workspace.fresh_views()
    assert patched is before  # patched in place, not rebuilt

    fresh = Workspace(pyshop)
    rebuilt = fresh.fresh_views()
    assert snapshot(patched) == snapshot(rebuilt)
    assert ("shop/pricing.py:shipping", "shop/pricing.py:with_tax") in patched.graph.edges
    assert not any(n.startswith("shop/payment.py") for n in patched.graph.nodes)


def test_new_semantic_edges_patch_the_views_and_equal_a_full_rebuild(pyshop):
    edges: list[SemanticEdge] = []

    def opened() -> Workspace:
        ws = Workspace(pyshop)
        ws.edge_sources.append(lambda: list(edges))  # as coupling facts are served
        return ws

    ws = opened()
    v = ws.warm()
    sym = v.symbols
    contain = ("shop/cart.py:Cart", "shop/cart.py:Cart.checkout")
    assert v.graph.edges[contain]["kind"] == "contain"
    for src, dst in [contain, ("shop/pricing.py:with_tax", "shop/inventory.py:reserve")]:
        edges.append(SemanticEdge(src, dst, "coupling", "why", 1.0, "agent", "2026-01-01T00:00:00+00:00",
                                  sym[src].hash, sym[dst].hash))
    assert ws.views() is v  # patched in place
    assert v.graph.edges[contain]["kind"] == "semantic"  # heavier than the code edge it replaces
    assert v.semantic == 2 and snapshot(v) == snapshot(opened().fresh_views())
    assert "shop/pricing.py:with_tax" not in v.neighbours and "shop/cart.py:Cart.total" in v.neighbours

    prepare_views(v)  # every list built again, then the agent forgets the first coupling
    edges.pop(0)
    assert ws.views() is v and v.graph.edges[contain]["kind"] == "contain"  # the code edge is back
    assert v.semantic == 1 and snapshot(v) == snapshot(opened().fresh_views())
    kept = dict(v.neighbours)
    assert contain[0] not in kept and contain[1] not in kept
    v.neighbours = {}
    prepare_views(v)
    assert {n: v.neighbours[n] for n in kept} == kept  # no list kept stale


def test_patched_views_keep_only_neighbour_lists_that_still_hold(pyshop):
    ws = Workspace(pyshop)
    v = ws.warm()  # every node's list built
    pricing = pyshop / "shop/pricing.py"
    pricing.write_text(pricing.read_text() + "\n\ndef shipping(amount):\n    return with_tax(amount) + 5\n")
    (pyshop / "shop/payment.py").unlink()
    assert ws.fresh_views() is v  # patched in place
    kept = dict(v.neighbours)
    assert 0 < len(kept) < v.graph.number_of_nodes()  # some dropped, not all
    v.neighbours = {}
    prepare_views(v)  # every list made afresh from the patched graph
    assert {n: v.neighbours[n] for n in kept} == kept


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
    assert set(v.neighbours) == set(v.graph) and v.name_runs[0] == v.generation
    assert not _collected(v.neighbours)
    task = "Why does Cart.checkout not respect stock levels when a discount_code is applied?"
    cold = Workspace(pyshop)  # recall builds what it needs as it goes
    assert recall(warmed, task, 2000, fmt="json")["items"] == recall(cold, task, 2000, fmt="json")["items"]
    assert len(cold.views().neighbours) < len(v.neighbours)


def test_a_dropped_warmed_workspace_is_freed_even_in_a_cycle(pyshop, unfrozen):
    first = Workspace(pyshop)
    views = weakref.ref(first.warm())
    first.itself = first  # a reference cycle: only the garbage collector can free it
    del first
    Workspace(pyshop).warm()
    assert views() is None
