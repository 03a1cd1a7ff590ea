"""``ctxfold hooks install|uninstall|status`` edit Claude Code's settings and nothing else."""

from __future__ import annotations

import json
import shlex
import subprocess

from mcp_server.cli import main
from mcp_server.history.settings_file import installed

THEIRS = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test:*)"]},
    "hooks": {
        "PostToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "prettier --write", "timeout": 30}]}],
        "Stop": [{"hooks": [{"type": "command", "command": "say done"}]}],
    },
}


def settings(project, name="settings.json"):
    return json.loads((project / ".claude" / name).read_text())


def test_install_keeps_every_other_setting_is_idempotent_and_uninstall_restores_it(tmp_path, capsys):
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text(json.dumps(THEIRS))
    assert main(["hooks", "install", "--repo", str(tmp_path)]) == 0
    once = settings(tmp_path)
    assert main(["hooks", "install", "--repo", str(tmp_path)]) == 0
    assert settings(tmp_path) == once
    assert once["model"] == "opus" and once["permissions"] == THEIRS["permissions"]
    assert once["hooks"]["Stop"] == THEIRS["hooks"]["Stop"]
    assert once["hooks"]["PostToolUse"][0] == THEIRS["hooks"]["PostToolUse"][0]
    ours = installed(once)
    assert sorted(e for e, _, _ in ours) == ["PostToolUse", "PreCompact", "SessionStart"]
    assert all(isinstance(t, int) and 1 <= t <= 60 for _, _, t in ours)  # seconds, not milliseconds
    assert main(["hooks", "uninstall", "--repo", str(tmp_path)]) == 0
    assert settings(tmp_path) == THEIRS
    assert "removed ctxfold hooks" in capsys.readouterr().out


def test_a_settings_file_that_install_created_goes_away_on_uninstall(tmp_path):
    main(["hooks", "install", "--scope", "local", "--repo", str(tmp_path), "--prompt-recall"])
    assert "UserPromptSubmit" in settings(tmp_path, "settings.local.json")["hooks"]
    main(["hooks", "uninstall", "--scope", "local", "--repo", str(tmp_path)])
    assert not (tmp_path / ".claude" / "settings.local.json").exists()


def test_dry_run_prints_the_json_and_writes_nothing(tmp_path, capsys):
    assert main(["hooks", "install", "--dry-run", "--repo", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    body = json.loads(out.split("\n", 1)[1])
    assert set(body["hooks"]) == {"PostToolUse", "PreCompact", "SessionStart"}
    assert not (tmp_path / ".claude").exists()


def test_user_scope_and_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    main(["hooks", "install", "--scope", "user", "--repo", str(tmp_path)])
    assert installed(json.loads((tmp_path / "home" / ".claude" / "settings.json").read_text()))
    capsys.readouterr()
    main(["hooks", "status", "--repo", str(tmp_path)])
    out = capsys.readouterr().out
    assert "project " in out and "not installed" in out and "user" in out and "timeout 60 s" in out


def test_a_broken_settings_file_is_left_alone_with_a_message(tmp_path, capsys):
    (tmp_path / ".claude").mkdir()
    (tmp_path / ".claude" / "settings.json").write_text("{oops")
    assert main(["hooks", "install", "--repo", str(tmp_path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert (tmp_path / ".claude" / "settings.json").read_text() == "{oops"


def test_the_installed_command_runs_from_any_directory(tmp_path):
    main(["hooks", "install", "--repo", str(tmp_path)])
    (event, command, _), *_ = [e for e in installed(settings(tmp_path)) if e[0] == "PostToolUse"]
    payload = {"session_id": "s", "cwd": "/", "hook_event_name": "PostToolUse", "tool_name": "Bash",
               "tool_input": {"command": "seq 300"}, "tool_response": {"stdout": "\n".join(map(str, range(300)))}}
    proc = subprocess.run(shlex.split(command), input=json.dumps(payload), capture_output=True, text=True,
                          cwd="/", timeout=30, env={"CLAUDE_PROJECT_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0
    assert "[ctxfold: cut 230 of 300 lines" in json.loads(proc.stdout)["hookSpecificOutput"]["updatedToolOutput"][0]["text"]
