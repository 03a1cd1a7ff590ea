"""The history hooks under the real Claude Code CLI, against a loopback stand-in of the
Anthropic Messages API. Skips, saying why, where the CLI is not installed: set
``CLAUDE_CODE_BIN`` to its path or put ``claude`` on PATH (npm ``@anthropic-ai/claude-code``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from mcp_server.cli import main
from mcp_server.history.outputs import OutputStore
from tests.anthropic_stand_in import AnthropicStandIn

CLAUDE = os.environ.get("CLAUDE_CODE_BIN") or shutil.which("claude")
pytestmark = pytest.mark.skipif(
    not CLAUDE, reason="the Claude Code CLI is not installed (npm i -g @anthropic-ai/claude-code, or set CLAUDE_CODE_BIN)")

MIDDLE_ERROR = "ERROR: disk quota exceeded at line 7000"


@pytest.fixture
def project(tmp_path):
    repo = tmp_path / "proj"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert main(["hooks", "install", "--repo", str(repo)]) == 0
    return repo


def claude(project, home, server, *args: str) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "ANTHROPIC_BASE_URL": server.url,
           "ANTHROPIC_API_KEY": "sk-ant-test", "DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1",
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "MCP_CONNECTION_NONBLOCKING": "0"}
    proc = subprocess.run([CLAUDE, "-p", *args, "--allowedTools", "Bash", "--output-format", "json"], cwd=project,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_a_15000_line_bash_output_reaches_the_model_with_the_marker_and_its_error_line(project, tmp_path):
    command = f'seq 15000 | sed "7000s/.*/{MIDDLE_ERROR}/"'
    with AnthropicStandIn([command]) as server:
        claude(project, tmp_path / "home", server, "print the numbers")
    first = next(r["body"] for r in server.requests if r["body"].get("tools"))
    assert "## L0 pinned rules" in json.dumps(first["messages"])  # SessionStart's block, at startup
    after = next(r["body"] for r in server.requests if "tool_result" in json.dumps(r["body"].get("messages", [])[-1:]))
    seen = json.dumps(after["messages"][-1])
    assert "[ctxfold: cut 14,929 of 15,000 lines" in seen and f"L7000: {MIDDLE_ERROR}" in seen
    (record,) = OutputStore(project / ".ctxfold").records()
    assert record["lines"] == 15000 and record["stdout_sha256"][:12] in seen
    kept = OutputStore(project / ".ctxfold").show(record["stdout_sha256"][:8], "7000")
    assert kept.lines == [(7000, MIDDLE_ERROR)]


def test_a_failure_before_compact_comes_back_in_the_next_request(project, tmp_path):
    failing = 'echo "FAILED tests/test_cart.py::test_total - AssertionError: assert 27 == 30"; exit 1'
    with AnthropicStandIn([failing, "echo one", "echo two"]) as server:
        home = tmp_path / "home"
        sid = claude(project, home, server, "Never skip the tests. Run the scripted commands.")["session_id"]
        claude(project, home, server, "/compact", "--resume", sid)  # PreCompact distills the transcript
        server.commands = []
        before = len(server.requests)
        claude(project, home, server, "what now?", "--resume", sid)
    # Claude Code may find a session this short not worth compacting; the hooks run either way
    # and the next session start restores the block.
    nxt = next(r["body"] for r in server.requests[before:] if r["body"].get("tools"))
    seen = json.dumps(nxt["messages"])
    block = seen[seen.rindex("# ctxfold: what this session knows"):]  # the latest session start
    for tier in ("## L0", "## L1", "## L2", "## L3"):
        assert tier in block
    l0, rest = block.split("## L1", 1)
    assert "the user said: Never skip the tests." in l0
    assert "failed: FAILED tests/test_cart.py::test_total - AssertionError: assert 27 == 30" in rest.split("## L3")[1]
