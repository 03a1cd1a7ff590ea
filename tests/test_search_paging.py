"""search_symbols paging: one fixed hit list, sliced; pages never overlap or drift."""

from __future__ import annotations

import pytest
from tree import write_tree

from mcp_server import search as search_mod
from mcp_server.search import search_symbols
from mcp_server.workspace import Workspace

FILES = {
    "shop/order.py": '''\
class Order:
    """One customer's basket at checkout."""

    def __init__(self, customer):
        self.customer = customer
        self.lines = []

    def add(self, sku, count=1):
        self.lines.append((sku, count))

    def total(self):
        return sum(count for _, count in self.lines)


class OrderLine:
    def __init__(self, sku, count):
        self.sku = sku
        self.count = count

    def cost(self, prices):
        return prices[self.sku] * self.count


class OrderBook:
    def open(self):
        return []

    def close(self):
        return None
''',
    "shop/purchase.py": '''\
class PurchaseOrder:
    def approve(self):
        return True

    def reject(self, reason):
        return reason


def place_order(customer, lines):
    return (customer, lines)


def cancel_order(order_id):
    return order_id
''',
    "shop/ledger.py": '''\
class Ledger:
    """Keeps a record of every order that was paid."""

    def record(self, entry):
        return entry


def ordre(x):
    return x
''',
    "shop/unrelated.py": "def ship(parcel):\n    return parcel\n\n\nclass Warehouse:\n    def stock(self):\n        return 0\n",
}

KINDS = [None, "method", "class", "function"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Workspace:
    workspace = Workspace(write_tree(tmp_path_factory.mktemp("paging"), FILES))
    workspace.refresh()
    return workspace


def key(hit) -> tuple:
    return (hit.symbol, hit.path, hit.start_line)


def walk(ws, query, kind, limit):
    """Every page from offset 0 until an empty one."""
    pages, offset = [], 0
    while True:
        page = search_symbols(ws, query, kind=kind, limit=limit, offset=offset)
        pages.append(page)
        if not page.hits:
            return pages
        offset += limit
        assert offset < 500, "paging never ends"


def test_every_tier_contributes_to_the_fixture(ws):
    big = search_symbols(ws, "Order", limit=200)
    assert {"exact", "prefix", "fulltext", "fuzzy"} <= {h.match for h in big.hits}
    assert big.total == len(big.hits) and big.total_exact


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("limit", [1, 2, 3])
def test_pages_partition_the_single_big_page(ws, kind, limit):
    big = search_symbols(ws, "Order", kind=kind, limit=200)
    assert big.hits and big.total == len(big.hits)
    assert len({key(h) for h in big.hits}) == len(big.hits)  # no symbol twice
    if kind:
        assert {h.kind for h in big.hits} == {kind}
    pages = walk(ws, "Order", kind, limit)
    seen = [key(h) for p in pages for h in p.hits]
    assert len(seen) == len(set(seen)), "pages overlap"
    assert seen == [key(h) for h in big.hits], "pages, in order, are the big page"
    assert {p.total for p in pages} == {big.total}, "the total drifts between pages"
    assert {p.total_exact for p in pages} == {True}


@pytest.mark.parametrize("kind", KINDS)
def test_the_text_says_how_to_get_the_next_page(ws, kind):
    total = search_symbols(ws, "Order", kind=kind, limit=200).total
    assert total > 1
    first = search_symbols(ws, "Order", kind=kind, limit=1)
    text = first.render()
    assert text.startswith(f"{total} matches for 'Order' (showing 1-1)")
    assert "call again with offset=1" in text
    assert first.to_json()["total"] == total and first.to_json()["next_offset"] == 1
    last = search_symbols(ws, "Order", kind=kind, limit=1, offset=total - 1)
    assert "call again" not in last.render() and last.to_json()["next_offset"] is None
    past = search_symbols(ws, "Order", kind=kind, limit=1, offset=total)
    assert not past.hits and past.total == total and "past the end" in past.render()


def test_methods_page_one_counts_every_method(ws):
    methods = search_symbols(ws, "Order", kind="method", limit=200).hits
    names = {h.symbol for h in methods}
    assert {"Order.__init__", "Order.add", "OrderLine.cost", "PurchaseOrder.approve"} <= names
    assert search_symbols(ws, "Order", kind="method", limit=1).total == len(methods)


def test_a_capped_full_text_search_says_at_least_and_still_pages_cleanly(ws, monkeypatch):
    exact = search_symbols(ws, "Order", limit=200)
    monkeypatch.setattr(search_mod, "FULLTEXT_CAP", 3)
    big = search_symbols(ws, "Order", limit=200)
    assert not big.total_exact and big.total < exact.total
    assert big.to_json()["total_exact"] is False
    assert big.render().startswith(f"at least {big.total} matches")
    pages = walk(ws, "Order", None, 2)
    assert [key(h) for p in pages for h in p.hits] == [key(h) for h in big.hits]
    assert {(p.total, p.total_exact) for p in pages} == {(big.total, False)}
    assert "more match" in pages[-2].render()  # the last page with hits says the rest exists


def test_an_unexpected_full_text_failure_surfaces_instead_of_emptying_the_tier(ws, monkeypatch):
    class BrokenTable:
        def checkout(self, version):
            pass

        def search(self, *args, **kwargs):
            raise OSError("disk gone")

    class BrokenDb:
        def open_table(self, name):
            return BrokenTable()

    ws.indexer.store._db = BrokenDb()
    with pytest.raises(OSError, match="disk gone"):
        search_symbols(ws, "customer basket")
