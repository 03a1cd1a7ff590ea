"""ctxfold setup: index, register the server in .mcp.json, install the hooks; idempotent."""

from __future__ import annotations

import json
import subprocess

from mcp_server.cli import main


def test_setup_indexes_registers_and_installs_and_a_second_run_changes_nothing(pyshop, tmp_path, capsys):
    (pyshop / ".mcp.json").write_text(json.dumps({"mcpServers": {"other": {"command": "other-server"}}, "keep": 1}))
    assert main(["setup", str(pyshop)]) == 0
    out = capsys.readouterr().out
    assert f"indexed {pyshop}: 7 files" in out and (pyshop / ".ctxfold").is_dir()
    config = json.loads((pyshop / ".mcp.json").read_text())
    assert config["keep"] == 1 and config["mcpServers"]["other"] == {"command": "other-server"}
    entry = config["mcpServers"]["ctxfold"]
    assert entry["args"] == ["-m", "mcp_server.cli", "serve", "--repo", str(pyshop)]
    hooks = json.loads((pyshop / ".claude/settings.json").read_text())["hooks"]
    assert {"PostToolUse", "PreCompact", "SessionStart"} <= set(hooks)
    assert "registered the MCP server 'ctxfold'" in out and "(added)" in out
    assert "to undo:" in out and f"ctxfold hooks uninstall --repo {pyshop}" in out and "remove the 'ctxfold' entry" in out

    files = {p: p.read_bytes() for p in (pyshop / ".mcp.json", pyshop / ".claude/settings.json")}
    assert main(["setup", str(pyshop)]) == 0
    assert capsys.readouterr().out.count("(already there)") == 2
    assert {p: p.read_bytes() for p in files} == files

    # the registered command starts from any directory, with no ctxfold on PATH
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    started = subprocess.run([entry["command"], *entry["args"], "--help"], cwd=elsewhere, capture_output=True, text=True,
                             env={"PATH": "/nonexistent"}, timeout=60)
    assert started.returncode == 0 and "usage: ctxfold serve" in started.stdout


def test_setup_dry_run_writes_nothing_and_no_hooks_leaves_the_settings_alone(pyshop, capsys):
    assert main(["setup", str(pyshop), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would index {pyshop}" in out and '"ctxfold"' in out and "settings.json (would become)" in out
    assert not (pyshop / ".mcp.json").exists() and not (pyshop / ".claude").exists() and not (pyshop / ".ctxfold").exists()

    assert main(["setup", str(pyshop), "--no-hooks"]) == 0
    assert "ctxfold" in json.loads((pyshop / ".mcp.json").read_text())["mcpServers"]
    assert not (pyshop / ".claude").exists()
    assert main(["setup", str(pyshop), "--scope", "local"]) == 0
    assert (pyshop / ".claude/settings.local.json").exists() and not (pyshop / ".claude/settings.json").exists()
    assert "ctxfold hooks uninstall" in capsys.readouterr().out and main(["hooks", "uninstall", "--repo", str(pyshop), "--scope", "local"]) == 0
    assert not (pyshop / ".claude/settings.local.json").exists()


def test_setup_refuses_a_broken_mcp_json_and_leaves_it(pyshop, capsys):
    (pyshop / ".mcp.json").write_text("{not json")
    assert main(["setup", str(pyshop)]) == 2
    assert ".mcp.json is not valid JSON" in capsys.readouterr().err
    assert (pyshop / ".mcp.json").read_text() == "{not json"
