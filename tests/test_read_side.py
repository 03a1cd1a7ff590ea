"""search_symbols, recall and fold_file through their plain functions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexers.tokens import count_tokens
from mcp_server.errors import CtxfoldError
from mcp_server.fold import fold_file
from mcp_server.recall import recall
from mcp_server.search import search_symbols

TRACEBACK = """Traceback (most recent call last):
  File "main.py", line 8, in run
  File "shop/cart.py", line 32, in checkout
  File "shop/inventory.py", line 14, in reserve
RuntimeError: out of stock: apple"""


def test_search_ranks_exact_then_prefix_then_words_then_fuzzy(workspace):
    hits = search_symbols(workspace, "parse").hits
    assert [(h.path, h.match) for h in hits[:2]] == [("shop/inventory.py", "exact"), ("shop/pricing.py", "exact")]
    assert search_symbols(workspace, "Cart.total").hits[0].location == "shop/cart.py:22-27"
    assert search_symbols(workspace, "with_").hits[0].symbol == "with_tax"
    words = search_symbols(workspace, "discount code").hits
    assert "apply_discount" in [h.symbol for h in words]
    assert search_symbols(workspace, "chekout").hits[0].symbol == "Cart.checkout"
    assert [h.symbol for h in search_symbols(workspace, "parse", path="shop/pricing.py").hits] == ["parse"]
    assert {h.kind for h in search_symbols(workspace, "Cart", kind="class").hits} == {"class"}
    page = search_symbols(workspace, "a", limit=2, offset=2)
    assert len(page.hits) <= 2 and page.offset == 2


def test_search_misses_and_bad_input_say_what_to_do(workspace):
    miss = search_symbols(workspace, "zzqqxx")
    assert not miss.hits and "No symbol matches" in miss.render()
    near = search_symbols(workspace, "reserv_stok")
    assert near.hits or near.suggestions
    with pytest.raises(CtxfoldError, match="unknown kind 'widget': use one of function"):
        search_symbols(workspace, "x", kind="widget")
    with pytest.raises(CtxfoldError, match="empty query"):
        search_symbols(workspace, "  ")


def test_search_refuses_a_path_outside_the_repository_as_fold_does(workspace, pyshop):
    for path in ("..", "../../etc", "/etc", "shop/../../elsewhere"):
        with pytest.raises(CtxfoldError, match=rf"path outside the repository: '{path}' resolves to .*not under {pyshop}"):
            search_symbols(workspace, "root", path=path)
    inside = [h.symbol for h in search_symbols(workspace, "parse", path=str(pyshop / "shop" / "pricing.py")).hits]
    assert inside == ["parse"]  # an absolute path inside is the same as the relative one
    assert [h.symbol for h in search_symbols(workspace, "parse", path="shop/./pricing.py/").hits] == ["parse"]
    assert len(search_symbols(workspace, "parse", path=".").hits) == len(search_symbols(workspace, "parse").hits)


def test_recall_of_a_traceback_holds_every_frame_in_full(workspace):
    r = recall(workspace, TRACEBACK, budget=1500)
    full = {(i.path, i.symbol) for i in r.items if i.level == "full"}
    assert {("shop/inventory.py", "reserve"), ("shop/cart.py", "Cart.checkout"), ("main.py", "run")} <= full
    assert r.tokens <= 1500 and r.tokens == count_tokens(r.text)
    reserve = next(i for i in r.items if i.symbol == "reserve")
    assert "traceback" in reserve.why and (reserve.start_line, reserve.end_line) == (10, 15)
    assert "L10-15 reserve" in r.text
    tight = recall(workspace, TRACEBACK, budget=500)
    assert "## left out" in tight.text and tight.omitted
    assert {"path", "symbol", "start_line", "end_line", "tokens"} <= set(tight.omitted[0])


def test_recall_of_a_behaviour_finds_code_that_is_not_named(workspace):
    r = recall(workspace, "The discount code HALF is applied after tax instead of before", budget=1200)
    top = [i.symbol for i in r.items[:4]]
    assert "apply_discount" in top


def test_recall_pulls_callees_of_a_named_function(workspace):
    r = recall(workspace, "Why does Cart.checkout not respect stock levels?", budget=2000)
    symbols = {i.symbol for i in r.items}
    assert {"Cart.checkout", "reserve"} <= symbols
    why = {i.symbol: i.why for i in r.items}
    assert "called by Cart.checkout" in why["reserve"]  # checkout calls reserve, not the other way
    assert "base of Cart" in why["BaseCart"] and "contains Cart.checkout" in why["Cart"]


def test_recall_json_matches_the_contract(workspace):
    data = recall(workspace, TRACEBACK, budget=800, fmt="json")
    assert set(data) == {"budget", "tokens", "encoding", "text", "items", "omitted", "facts"}
    assert data["facts"] == []  # none recorded; served facts are listed apart from the code
    assert data["tokens"] <= 800 and data["encoding"] == "cl100k_base"
    item = data["items"][0]
    assert set(item) == {"path", "symbol", "kind", "start_line", "end_line", "level", "tokens", "score", "why"}
    scores = [i["score"] for i in data["items"]]
    assert scores == sorted(scores, reverse=True)


def test_recall_bad_input(workspace):
    with pytest.raises(CtxfoldError, match="empty task"):
        recall(workspace, "  ")
    with pytest.raises(CtxfoldError, match="needs 200 tokens"):
        recall(workspace, "x", budget=50)
    with pytest.raises(CtxfoldError, match="over the cap of 20000"):
        recall(workspace, "x", budget=50_000)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=200, max_value=3000), task=st.text(min_size=1, max_size=200).filter(str.strip))
def test_recall_never_exceeds_its_budget(workspace, budget, task):
    r = recall(workspace, task + " cart checkout", budget=budget)
    assert r.tokens <= budget
    assert count_tokens(r.text) == r.tokens


def _unfolded_lines_match_source(text: str, source_lines: list[str]) -> int:
    checked = 0
    for line in text.splitlines()[1:]:
        number, _, rest = line.partition("\t")
        if number.isdigit():
            assert rest == source_lines[int(number) - 1]
            checked += 1
    return checked


def test_recall_says_which_focus_it_could_not_find_and_when_nothing_matches(workspace):
    r = recall(workspace, "checkout charges the wrong total", budget=600, focus=["NoSuchThing", "shop/nope.py", "shop/cart.py"])
    note = next(line for line in r.text.splitlines() if line.startswith("# note: focus not found"))
    assert "NoSuchThing" in note and "shop/nope.py" in note and "shop/cart.py" not in note
    assert r.items and r.tokens <= 600
    assert "more, ranked lower" in r.text  # the manifest says how much it does not list
    nothing = recall(workspace, "zzqq xxyy", budget=300)
    assert not nothing.items and "nothing in the index matches this task" in nothing.text


def test_fold_keeps_relevant_bodies_verbatim_and_folds_the_rest(workspace, pyshop):
    source = (pyshop / "shop/cart.py").read_text().splitlines()
    r = fold_file(workspace, "shop/cart.py", focus="checkout")
    assert _unfolded_lines_match_source(r.text, source) > 10
    assert "32\t            inventory.reserve(stock, sku, count)" in r.text
    assert "folded L24-L27" in r.text  # Cart.total's body, after its docstring line
    assert "22\t    def total(self, code=None):" in r.text


def test_fold_and_recall_number_lines_as_the_parser_does(workspace, pyshop):
    # A form feed on a line of its own (PEP 8 allows one) and a \u2028 inside a string
    # break no line for the parser; CRLF ends each line. Every shown line keeps its number.
    src = (
        "def first(a):\n    x = a\n    y = x\n    z = y\n    w = z\n    v = w\n    return v\n"
        "\x0c\n"
        "def second(b):\n    s = 'a\u2028b'\n    t = b\n    u = t\n    q = u\n    r = q\n    return r\n"
    ).replace("\n", "\r\n")
    (pyshop / "ff.py").write_bytes(src.encode())
    source = src.split("\r\n")
    folded = fold_file(workspace, "ff.py", focus="second")
    shown = [line.partition("\t") for line in folded.text.split("\n")[1:]]
    numbered = [(int(n), rest) for n, _, rest in shown if n.isdigit()]
    assert (9, "def second(b):") in numbered and (15, "    return r") in numbered
    assert all(rest == source[n - 1] for n, rest in numbered)
    workspace.refresh()
    result = recall(workspace, "second returns r", budget=400)
    item = next(i for i in result.items if i.symbol == "second")
    assert (item.start_line, item.end_line) == (9, 15)
    assert "    return r" in result.text and "'a\u2028b'" in result.text


def test_fold_with_a_budget_fits_and_without_focus_outlines(workspace, pyshop):
    source = (pyshop / "shop/payment.py").read_text().splitlines()
    outline = fold_file(workspace, "shop/payment.py")
    assert _unfolded_lines_match_source(outline.text, source)
    tight = fold_file(workspace, "shop/payment.py", focus="refund", budget=120)
    assert tight.tokens <= 120
    assert _unfolded_lines_match_source(tight.text, source)


def test_fold_line_ranges_and_unknown_symbols(workspace):
    r = fold_file(workspace, "shop/pricing.py", focus=["6-12", "no_such_fn"])
    assert "9\t        return amount / 2" in r.text
    assert "focus symbol 'no_such_fn' is not in this file" in r.text


def test_fold_focus_on_a_class_keeps_its_methods_and_a_nested_function_is_found(workspace, pyshop):
    r = fold_file(workspace, "shop/cart.py", focus="Cart")
    assert "26\t            amount = apply_discount(amount, code)" in r.text  # Cart.total
    assert "32\t            inventory.reserve(stock, sku, count)" in r.text  # Cart.checkout
    assert "folded L12-L13" in r.text  # BaseCart.add (after its docstring) is not in focus
    (pyshop / "nested.py").write_text(
        "def outer(x):\n    def inner_target(y):\n        return y * 2\n\n    return inner_target(x)\n\n\n"
        "def other(z):\n    a = z\n    b = a\n    c = b\n    return c\n"
    )
    nested = fold_file(workspace, "nested.py", focus="inner_target")
    assert "not in this file" not in nested.text
    assert "3\t        return y * 2" in nested.text and "folded L9-L12" in nested.text


def test_fold_refuses_paths_outside_missing_files_and_binaries(workspace, pyshop):
    with pytest.raises(CtxfoldError, match="path outside the repository"):
        fold_file(workspace, "../../etc/passwd")
    with pytest.raises(CtxfoldError, match="path outside the repository"):
        fold_file(workspace, "/etc/passwd")
    with pytest.raises(CtxfoldError, match="did you mean shop/cart.py") as missing:
        fold_file(workspace, "shop/carts.py")
    assert str(missing.value).count("shop/cart.py") == 1  # indexed and in the directory: named once
    (pyshop / "notes.txt").write_text("not indexed\n")
    with pytest.raises(CtxfoldError, match="did you mean notes.txt"):
        fold_file(workspace, "note.txt")
    (pyshop / "data.bin").write_bytes(b"\x00\x00\x01")
    with pytest.raises(CtxfoldError, match="binary"):
        fold_file(workspace, "data.bin")


def test_fold_of_a_file_without_grammar_cuts_the_middle(workspace, pyshop):
    (pyshop / "notes.txt").write_text("\n".join(f"line number {i}" for i in range(1, 400)))
    r = fold_file(workspace, "notes.txt", budget=300)
    assert r.tokens <= 300 and "middle cut" in r.text
    assert r.text.splitlines()[1] == "1\tline number 1"
