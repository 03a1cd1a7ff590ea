"""PostToolUse trims long outputs, keeps them in full and reads them back."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from mcp import Client

from mcp_server.cli import main
from mcp_server.history.outputs import OutputStore
from mcp_server.history.trim import sha256_text
from tests.history_events import bash_event, hook


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("CTXFOLD_STORE", raising=False)
    return tmp_path


def numbered(n: int, errors: dict[int, str] | None = None) -> str:
    errors = errors or {}
    return "\n".join(errors.get(i, f"step {i} ok") for i in range(1, n + 1))


def shown(out: dict) -> str:
    assert out["hookSpecificOutput"]["hookEventName"] == "PostToolUse"
    return out["hookSpecificOutput"]["updatedToolOutput"][0]["text"]


def test_a_long_bash_output_reaches_the_model_as_head_tail_error_lines_and_a_marker(project):
    text = numbered(15000, {7001: "E   AssertionError: totals differ", 9000: "FAILED tests/test_cart.py::test_total"})
    out = hook("PostToolUse", bash_event(project, "pytest -x", text))
    lines = shown(out).split("\n")
    assert lines[:20] == [f"step {i} ok" for i in range(1, 21)]
    assert lines[-50:] == [f"step {i} ok" for i in range(14951, 15001)]
    marker = lines[20]
    sha = sha256_text(text)
    assert marker.startswith("[ctxfold: cut 14,928 of 15,000 lines") and sha[:12] in marker
    assert "ctxfold output show" in marker and "read_output" in marker
    assert "  L7001: E   AssertionError: totals differ" in lines
    assert "  L9000: FAILED tests/test_cart.py::test_total" in lines
    assert len(lines) < 80

    store = OutputStore(project / ".ctxfold")
    assert store.path_of(sha).read_text() == text
    (record,) = store.records()
    assert record["tool"] == "Bash" and record["command"] == "pytest -x" and record["session"] == "sess-1"
    assert record["stdout_sha256"] == sha and record["truncated"] is True
    assert (record["kept_head_lines"], record["kept_tail_lines"], record["truncated_lines_count"]) == (20, 50, 14928)
    assert "ts" in record and "exit_status" in record


def test_short_outputs_pass_untouched_and_the_token_limit_counts_too(project):
    assert hook("PostToolUse", bash_event(project, "ls", "a\nb\nc")) is None
    wide = "\n".join("word " * 200 for _ in range(30))  # 30 lines, about 6,000 tokens
    out = shown(hook("PostToolUse", bash_event(project, "cat wide", wide)))
    assert "[ctxfold: cut" in out and len(out) < len(wide) / 2


def test_a_repeated_output_becomes_a_pointer_to_the_first(project):
    text = numbered(500)
    first = shown(hook("PostToolUse", bash_event(project, "make test", text)))
    again = shown(hook("PostToolUse", bash_event(project, "make test", text)))
    assert "[ctxfold: cut" in first
    assert again.startswith("[ctxfold: the same output as the Bash call") and sha256_text(text)[:12] in again
    records = list(OutputStore(project / ".ctxfold").records())
    assert [bool(r.get("repeat_of")) for r in records] == [False, True]
    # another session sees it afresh
    other = shown(hook("PostToolUse", bash_event(project, "make test", text, session="sess-2")))
    assert "[ctxfold: cut" in other


def test_mcp_tool_outputs_over_the_limit_are_trimmed_too(project):
    event = bash_event(project, "", "") | {
        "tool_name": "mcp__github__list_issues", "tool_input": {"repo": "x"},
        "tool_response": [{"type": "text", "text": numbered(400)}],
    }
    assert "[ctxfold: cut 330 of 400 lines" in shown(hook("PostToolUse", event))
    read = bash_event(project, "", "") | {"tool_name": "Read", "tool_input": {"file_path": "a.py"},
                                         "tool_response": {"type": "text", "file": {"content": numbered(400)}}}
    assert hook("PostToolUse", read) is None


def test_secrets_and_private_text_are_never_kept(project):
    text = numbered(300, {5: "ANTHROPIC_API_KEY=sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
                          6: "curl -H 'Authorization: Bearer abcdefghijklmnop1234'", 7: "<private>my home address</private>",
                          8: "-----BEGIN OPENSSH PRIVATE KEY-----", 9: "b3BlbnNzaC1rZXktdjEAAAAA", 10: "-----END OPENSSH PRIVATE KEY-----"})
    hook("PostToolUse", bash_event(project, "env | grep KEY password=hunter22", text))
    store = OutputStore(project / ".ctxfold")
    (record,) = store.records()
    kept = store.path_of(record["stdout_sha256"]).read_text()
    for secret in ("abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnop1234", "home address", "b3BlbnNzaC1rZXk", "hunter22"):
        assert secret not in kept and secret not in json.dumps(record)
    assert "[masked]" in kept


def test_output_show_grep_and_list_read_kept_outputs_back(project, capsys):
    text = numbered(1000, {640: "Traceback (most recent call last):"})
    hook("PostToolUse", bash_event(project, "python run.py", text))
    sha = sha256_text(text)
    assert main(["output", "show", sha[:8], "--lines", "638-641", "--repo", str(project)]) == 0
    assert capsys.readouterr().out.splitlines() == ["638\tstep 638 ok", "639\tstep 639 ok", "640\tTraceback (most recent call last):", "641\tstep 641 ok"]
    assert main(["output", "grep", sha[:8], "^Traceback", "--repo", str(project)]) == 0
    assert capsys.readouterr().out.splitlines() == ["640\tTraceback (most recent call last):"]
    assert main(["output", "list", "--repo", str(project)]) == 0
    assert sha[:12] in capsys.readouterr().out
    assert main(["output", "show", "beef", "--repo", str(project)]) == 2
    assert "ctxfold output list" in capsys.readouterr().err


def test_the_read_output_tool_reads_a_range_or_a_pattern(project):
    from mcp_server.server import build_server

    text = numbered(1000, {777: "panic: runtime error: index out of range"})
    hook("PostToolUse", bash_event(project, "go test ./...", text))
    sha = sha256_text(text)

    async def calls():
        async with Client(build_server(project), mode="legacy") as client:
            a = await client.call_tool("read_output", {"sha": sha[:10], "lines": "776-778"})
            b = await client.call_tool("read_output", {"sha": sha[:10], "pattern": "^panic"})
            c = await client.call_tool("read_output", {"sha": "0000"})
            return a, b, c

    a, b, c = asyncio.run(calls())
    assert a.content[0].text.splitlines()[1:] == ["776\tstep 776 ok", "777\tpanic: runtime error: index out of range", "778\tstep 778 ok"]
    assert b.content[0].text.splitlines()[1:] == ["777\tpanic: runtime error: index out of range"]
    assert c.is_error and "ctxfold output list" in c.content[0].text


def test_a_hook_fails_open_and_logs_on_bad_input(project):
    proc = subprocess.run([sys.executable, "-m", "mcp_server.history.hooks", "post-tool-use"], input="{not json",
                          capture_output=True, text=True, cwd=project, timeout=30,
                          env={"CLAUDE_PROJECT_DIR": str(project), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0 and proc.stdout == ""
    (project / ".ctxfold").mkdir(exist_ok=True)
    hook("PostToolUse", {"tool_name": "Bash", "tool_response": 12})  # nothing to trim: no output, no error
    hook("nonsense-event", {"session_id": "s"})
    log = (project / ".ctxfold" / "history" / "hooks.log").read_text()
    assert "unknown hook event 'nonsense-event'" in log


def test_the_trimming_hook_imports_no_heavy_module(project):
    probe = ("import sys, io, json; from mcp_server.history.hooks import run; "
             "run('post-tool-use', io.StringIO(json.dumps({'session_id': 's', 'tool_name': 'Bash', "
             "'tool_response': {'stdout': '\\n'.join(map(str, range(5000)))}})), io.StringIO()); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('lancedb', 'pyarrow', 'mcp', 'tree_sitter', 'numpy', 'tiktoken', 'networkx', 'pydantic')))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30,
                          env={"CLAUDE_PROJECT_DIR": str(project), "PATH": "/usr/bin:/bin"})
    assert proc.stdout.strip() == "[]", proc.stderr


def test_an_output_claude_code_kept_in_a_file_is_read_whole_from_it(project, tmp_path):
    whole = numbered(15000, {7000: "ERROR: disk quota exceeded"})
    persisted = tmp_path / "tool-results" / "b8flk7sg1.txt"
    persisted.parent.mkdir()
    persisted.write_text(whole)
    event = bash_event(project, "make all", whole[:30000])
    event["tool_response"] |= {"persistedOutputPath": str(persisted), "persistedOutputSize": len(whole)}
    out = hook("PostToolUse", event)["hookSpecificOutput"]
    assert "[ctxfold: cut 14,929 of 15,000 lines" in out["additionalContext"]
    assert "  L7000: ERROR: disk quota exceeded" in out["additionalContext"]
    assert "step 1 ok" not in out["additionalContext"]  # the model sees the head already
    (record,) = OutputStore(project / ".ctxfold").records()
    assert record["stdout_sha256"] == sha256_text(whole) and record["lines"] == 15000
