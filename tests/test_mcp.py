"""The MCP tools, in-process through the client and once over a real stdio subprocess."""

from __future__ import annotations

import os
import sys

import anyio
from mcp import Client, StdioServerParameters

from mcp_server.server import build_server

TOOLS = {"recall", "fold_file", "search_symbols", "record_fact", "forget_fact"}


def call(server, name, args):
    async def go():
        async with Client(server, mode="legacy") as client:
            return await client.call_tool(name, args)

    return anyio.run(go)


def text_of(result) -> str:
    return "".join(c.text for c in result.content)


def test_tools_are_listed_with_short_descriptions_and_read_only_hints(pyshop):
    async def go():
        async with Client(build_server(pyshop), mode="legacy") as client:
            return (await client.list_tools()).tools

    tools = {t.name: t for t in anyio.run(go)}
    assert TOOLS <= set(tools)
    for name in TOOLS:
        assert len(tools[name].description) < 2048
    for name in ("fold_file", "search_symbols"):
        assert tools[name].annotations.read_only_hint is True
    assert tools["recall"].annotations.read_only_hint is False  # it stamps the facts it serves
    assert tools["record_fact"].annotations.read_only_hint is False
    assert tools["recall"].input_schema["required"] == ["task"]


def test_search_and_recall_answer_about_the_working_tree_as_it_is_now(pyshop):
    server = build_server(pyshop)
    result = call(server, "search_symbols", {"query": "reserve"})
    assert "shop/inventory.py:10-15" in text_of(result)
    assert result.structured_content is None  # Claude Code shows text only without it

    (pyshop / "shop/inventory.py").write_text(
        (pyshop / "shop/inventory.py").read_text() + "\n\ndef restock(stock, sku, count):\n    stock[sku] = stock.get(sku, 0) + count\n"
    )
    assert "shop/inventory.py:18-19" in text_of(call(server, "search_symbols", {"query": "restock"}))
    recalled = text_of(call(server, "recall", {"task": "restock an item", "budget": 600}))
    assert "def restock(stock, sku, count):" in recalled


def test_errors_reach_the_model_with_a_next_step(pyshop):
    server = build_server(pyshop)
    result = call(server, "fold_file", {"path": "../secrets.py"})
    assert result.is_error and "path outside the repository" in text_of(result)
    result = call(server, "search_symbols", {"query": "x", "kind": "widget"})
    assert result.is_error and "'widget'" in text_of(result) and "'function'" in text_of(result)
    result = call(server, "search_symbols", {"query": "root", "path": "/etc"})
    assert result.is_error and "path outside the repository: '/etc'" in text_of(result)


def test_the_schemas_refuse_values_outside_their_enums(pyshop):
    server = build_server(pyshop)
    for name, args, allowed in [
        ("recall", {"task": "reserve stock", "format": "xml"}, "'markdown' or 'json'"),
        ("record_fact", {"fact": "reserve is slow", "type": "rumour"}, "'coupling'"),
    ]:
        result = call(server, name, args)
        assert result.is_error and allowed in text_of(result)


def test_a_fact_recorded_is_served_by_recall(pyshop):
    server = build_server(pyshop)
    recorded = text_of(call(server, "record_fact", {
        "fact": "reserve must never let stock go negative; the warehouse sync crashes on it",
        "type": "invariant", "about": ["shop/inventory.py:reserve"], "confidence": 0.9,
    }))
    assert "f-" in recorded
    recalled = text_of(call(server, "recall", {"task": "change how reserve handles stock", "budget": 1500}))
    assert "warehouse sync crashes" in recalled.split("## shop")[0]


def test_over_a_real_stdio_subprocess(pyshop):
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server.cli", "serve", "--repo", str(pyshop)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    async def go():
        async with Client(params, mode="legacy", read_timeout_seconds=60) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            hit = await client.call_tool("search_symbols", {"query": "Cart.checkout"})
            return tools, text_of(hit)

    tools, hit = anyio.run(go)
    assert TOOLS <= tools
    assert "shop/cart.py:29-33" in hit


def test_a_fact_pulls_its_anchored_code_into_recall(pyshop):
    server = build_server(pyshop)
    call(server, "record_fact", {
        "fact": "the warehouse sync crashes when stock goes negative",
        "type": "failure", "about": ["shop/inventory.py:reserve"], "confidence": 0.9,
    })
    recalled = text_of(call(server, "recall", {"task": "warehouse sync crash", "budget": 1200, "format": "json"}))
    import json

    data = json.loads(recalled)
    reserve = next(i for i in data["items"] if i["symbol"] == "reserve")
    assert "anchor of fact" in reserve["why"]
    assert {i["level"] for i in data["items"]} <= {"full", "signature"}  # facts have their own list
    scores = [i["score"] for i in data["items"]]
    assert scores == sorted(scores, reverse=True)
    (fact,) = data["facts"]
    assert fact["anchors"] == ["shop/inventory.py:reserve"] and "warehouse sync crashes" in fact["text"]
    assert fact["text"] in data["text"]
