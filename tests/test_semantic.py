"""Semantic edges reach recall, and stop counting when their code changes."""

from __future__ import annotations

import subprocess

import pytest

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


@pytest.mark.parametrize("level", ["symbol", "file"])
def test_why_names_the_co_change_edge_that_carried_score(tmp_path, capsys, level):
    repo = tmp_path / "wire"
    (repo / "wire").mkdir(parents=True)
    pack, unpack = repo / "wire/pack.py", repo / "wire/unpack.py"
    git(repo, "init", "-q")
    for version in range(1, 6):  # the encoder and the decoder always change together
        # symbol level: each commit adds lines that are still in the two functions;
        # file level: each commit's lines are replaced by the next one's.
        notes = "".join(f"    # version {k}\n" for k in range(1, version + 1)) if level == "symbol" else f"    # version {version}\n"
        pack.write_text(f"def pack_frame(payload):\n{notes}    header = bytes([{version}, len(payload)])\n    return header + payload\n")
        unpack.write_text(f"def unpack_frame(data):\n{notes}    if data[0] != {version}:\n        raise ValueError('bad version')\n"
                          "    return data[2:2 + data[1]]\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"wire format version {version}")
    assert main(["enrich", "--repo", str(repo), "--vectors", "off"]) == 0
    capsys.readouterr()
    r = recall(Workspace(repo), "unpack_frame rejects a good header", budget=2000)
    encoder = next(i for i in r.items if i.symbol == "pack_frame")
    other = "unpack_frame" if level == "symbol" else "wire/unpack.py"
    assert f"changed together with {other} in 5 commits" in encoder.why
    assert f"changed together with {other} in 5 commits" in r.text


def test_a_vector_hit_says_similar_by_embedding(workspace, monkeypatch):
    import mcp_server.recall as recall_module

    monkeypatch.setattr(recall_module, "vector_hits", lambda ws, task, s: [("shop/payment.py:PaymentGateway.refund", 0.9)])
    r = recall(workspace, "give the money back", budget=3000)
    refund = next(i for i in r.items if i.symbol == "PaymentGateway.refund")
    assert "similar by embedding" in refund.why and "(vector)" not in r.text
