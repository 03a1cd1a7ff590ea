"""What agents see, pinned as golden files (tests/golden.py): a recall pack in markdown
and JSON, a folded file and an outline, ``status``, and every MCP tool's schema, all
about fixtures/pyshop. A change to any of them shows up as a diff of tests/goldens/."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import anyio
import pytest
from mcp import Client

from mcp_server.facts import FactStore
from mcp_server.facts.code import facts_for, resolve_anchor
from mcp_server.fold import fold_file
from mcp_server.recall import recall
from mcp_server.server import build_server
from mcp_server.status import render_status, status
from tests.golden import GOLDENS, UPDATE_HINT, as_json, check, mask

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
TASK = "checkout reserves stock for every line of the cart: make it fail cleanly when an item runs out"


@pytest.fixture
def remembering(workspace, tmp_path):
    """The pyshop workspace with one fact, recorded at a fixed time under a fixed id (a
    random id would change the token count of the pack)."""
    scratch = FactStore(tmp_path / "scratch", resolve_anchor(workspace), clock=lambda: T0)
    recorded = scratch.record(
        "reserve raises KeyError for an unknown sku instead of saying it is out of stock",
        "failure", mitigation="check the sku first", about=["shop/inventory.py:reserve"])
    export = io.StringIO()
    scratch.export_jsonl(export)
    workspace.facts = FactStore(workspace.store_dir, resolve_anchor(workspace), clock=lambda: T0)
    workspace.facts.import_jsonl(io.StringIO(export.getvalue().replace(recorded.id, "f-0000cafe")))
    return workspace


def test_a_recall_pack_in_markdown(remembering, update_goldens):
    result = recall(remembering, TASK, 1500, None, "markdown", facts=facts_for(remembering))
    check("recall.md", mask(result.text, remembering.repo), update_goldens)


def test_a_recall_pack_in_json(remembering, update_goldens):
    result = recall(remembering, TASK, 1500, None, "markdown", facts=facts_for(remembering))
    check("recall.json", mask(as_json(result.to_json()), remembering.repo), update_goldens)


def test_a_file_folded_around_a_focus(workspace, update_goldens):
    check("fold-cart-checkout.txt", fold_file(workspace, "shop/cart.py", "checkout").text, update_goldens)


def test_a_file_outline(workspace, update_goldens):
    check("fold-cart-outline.txt", fold_file(workspace, "shop/cart.py").text, update_goldens)


def test_status_in_text_and_json(workspace, update_goldens):
    report = status(workspace)
    text = re.sub(r"\d+ s old", "<age> s old", render_status(report))
    check("status.txt", mask(text + "\n", workspace.repo), update_goldens)
    report["index_age_seconds"] = "<age>"
    check("status.json", mask(as_json(report), workspace.repo), update_goldens)


def test_every_tool_schema(pyshop, update_goldens):
    async def go():
        async with Client(build_server(pyshop), mode="legacy") as client:
            return (await client.list_tools()).tools

    tools = anyio.run(go)
    for tool in tools:
        data = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
        check(f"tools/{tool.name}.json", as_json(data), update_goldens)
    stored = {p.name for p in (GOLDENS / "tools").glob("*.json")}
    assert stored == {f"{t.name}.json" for t in tools}, "a tool was added or removed: " + UPDATE_HINT
