"""Semantic edges reach recall, and stop counting when their code changes."""

from __future__ import annotations

import subprocess

from mcp_server.cli import main
from mcp_server.facts.code import fact_store
from mcp_server.recall import recall
from mcp_server.status import status
from mcp_server.workspace import Workspace


def git(repo, *args):
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=repo, check=True, capture_output=True)


def test_a_coupling_fact_becomes_an_edge_that_recall_follows(workspace):
    fact_store(workspace).record(
        "with_tax and PaymentGateway.refund must round the same way or refunds drift by a cent",
        "coupling", about=["shop/pricing.py:with_tax", "shop/payment.py:PaymentGateway.refund"], confidence=0.9,
    )
    r = recall(workspace, "with_tax rounds amounts", budget=3000)
    refund = next(i for i in r.items if i.symbol == "PaymentGateway.refund")
    assert "coupled to" in refund.why and "round the same way" in refund.why


def test_heuristic_edges_are_derived_offline_and_go_stale_on_edit(pyshop, capsys):
    (pyshop / "shop/pricing.py").write_text((pyshop / "shop/pricing.py").read_text() + '\n\ndef limit():\n    return read_setting("shop.max_cart_lines")\n')
    (pyshop / "shop/inventory.py").write_text((pyshop / "shop/inventory.py").read_text() + '\n\ndef configure(settings):\n    settings["shop.max_cart_lines"] = 40\n')
    git(pyshop, "init", "-q")
    git(pyshop, "add", "-A")
    git(pyshop, "commit", "-qm", "start")
    assert main(["enrich", "--repo", str(pyshop), "--vectors", "off"]) == 0
    assert "heuristic edges:" in capsys.readouterr().out

    ws = Workspace(pyshop)
    v = ws.fresh_views()
    data = v.graph.edge("shop/inventory.py:configure", "shop/pricing.py:limit") or v.graph.edge("shop/pricing.py:limit", "shop/inventory.py:configure")
    assert data and data["kind"] == "semantic" and "shop.max_cart_lines" in data["reason"]
    assert status(ws)["semantic_stale"] == 0

    inv = pyshop / "shop/inventory.py"
    inv.write_text(inv.read_text().replace("= 40", "= 50"))
    v = ws.fresh_views()
    assert v.graph.edge("shop/inventory.py:configure", "shop/pricing.py:limit") is None
    assert v.graph.edge("shop/pricing.py:limit", "shop/inventory.py:configure") is None
    assert status(ws)["semantic_stale"] == 1


def test_enrich_without_an_api_key_says_so_and_still_derives_heuristics(pyshop, capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["enrich", "--repo", str(pyshop), "--provider", "anthropic", "--vectors", "off"]) == 0
    out = capsys.readouterr().out
    assert "ANTHROPIC_API_KEY" in out and "heuristic edges:" in out


def test_enrich_dry_run_says_what_the_request_cap_leaves_for_later(pyshop, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")  # a dry run sends nothing
    args = ["enrich", "--repo", str(pyshop), "--provider", "anthropic", "--vectors", "off", "--dry-run", "--max-tokens", "1000"]
    assert main(args) == 0
    full = capsys.readouterr().out
    total = int(full.split("would send ")[1].split(" requests")[0])
    assert total >= 2 and "over the cap" not in full
    assert main([*args, "--max-requests", "1"]) == 0
    out = capsys.readouterr().out
    assert "would send 1 requests" in out
    assert f"{total - 1} more clusters are over the cap of 1 requests per run" in out
