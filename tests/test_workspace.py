"""After an edit, the served views are patched in place and equal a full rebuild."""

from __future__ import annotations

from mcp_server.workspace import Workspace


def snapshot(v):
    edges = {(a, b, d["kind"], round(d["weight"], 6)) for a, b, d in v.graph.edges(data=True)}
    names = {k: sorted(s.id for s in syms) for k, syms in v.by_name.items() if syms}
    return set(v.graph.nodes), edges, set(v.symbols), names, {p: [s.id for s in syms] for p, syms in v.by_path.items()}


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
