"""The ctxfold command: each subcommand over the same functions, errors with exit code 2."""

from __future__ import annotations

import json

from mcp_server.cli import main


def test_index_status_search_recall_and_fold_from_the_shell(pyshop, capsys):
    assert main(["index", str(pyshop)]) == 0
    out = capsys.readouterr().out
    assert "indexed" in out and "syntax errors in shop/broken.py: L1" in out

    assert main(["status", "--repo", str(pyshop), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files_by_language"] == {"python": 7} and report["fresh"] is True
    assert report["parse_errors"] == {"shop/broken.py": [[1, 1]]}

    assert main(["search", "reserve", "--repo", str(pyshop), "--format", "json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["location"] == "shop/inventory.py:10-15"

    assert main(["recall", "out of stock when reserving", "--repo", str(pyshop), "--budget", "600", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] <= 600 and any(i["symbol"] == "reserve" for i in data["items"])

    assert main(["fold", "shop/cart.py", "--repo", str(pyshop), "--focus", "checkout"]) == 0
    assert "32\t            inventory.reserve(stock, sku, count)" in capsys.readouterr().out


def test_a_missing_repository_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["index", str(missing)]) == 2
    assert f"no such repository directory: {missing}" in capsys.readouterr().err
    assert main(["search", "x", "--repo", str(missing)]) == 2
    assert "no such repository" in capsys.readouterr().err


def test_a_miss_exits_1_and_suggests(pyshop, capsys):
    assert main(["search", "zzqqxx", "--repo", str(pyshop)]) == 1
    assert "No symbol matches" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_the_command_quietly(pyshop):
    # `ctxfold fold … | head -1`: the pipe closes before the output is written.
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server.cli", "fold", "shop/cart.py", "--repo", str(pyshop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "Exception ignored" not in err
