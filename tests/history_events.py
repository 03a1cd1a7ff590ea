"""Hook events and transcript lines shaped as Claude Code sends and writes them."""

from __future__ import annotations

import io
import json
from pathlib import Path

from mcp_server.history.hooks import run


def hook(event: str, payload: dict) -> dict | None:
    """Run one hook as Claude Code does (JSON on stdin); its JSON output, or None."""
    out = io.StringIO()
    assert run(event, io.StringIO(json.dumps(payload)), out) == 0
    return json.loads(out.getvalue()) if out.getvalue() else None


def base(event: str, project: Path, session: str = "sess-1", transcript: Path | None = None) -> dict:
    return {
        "session_id": session,
        "transcript_path": str(transcript or project / "transcript.jsonl"),
        "cwd": str(project),
        "permission_mode": "default",
        "hook_event_name": event,
    }


def bash_event(project: Path, command: str, stdout: str, stderr: str = "", session: str = "sess-1") -> dict:
    return base("PostToolUse", project, session) | {
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "run it"},
        "tool_response": {"stdout": stdout, "stderr": stderr, "interrupted": False, "isImage": False},
        "tool_use_id": "toolu_01",
    }


class TranscriptWriter:
    """Writes transcript lines as Claude Code does: user, assistant with tool_use, the
    tool_result with ``toolUseResult``, compact summaries."""

    def __init__(self, path: Path, session: str = "sess-1", cwd: Path | None = None):
        self.path = path
        self.session = session
        self.cwd = str(cwd or path.parent)
        self.n = 0
        self.lines: list[dict] = []

    def _line(self, kind: str, message: dict, **extra) -> None:
        self.n += 1
        self.lines.append({
            "type": kind, "message": message, "uuid": f"u-{self.n}", "parentUuid": f"u-{self.n - 1}" if self.n > 1 else None,
            "timestamp": f"2026-12-08T01:{self.n // 60 % 60:02d}:{self.n % 60:02d}.000Z", "sessionId": self.session,
            "cwd": self.cwd, "isSidechain": False, "userType": "external", "version": "2.1.3",
        } | extra)

    def user(self, text: str) -> None:
        self._line("user", {"role": "user", "content": text})

    def assistant(self, text: str) -> None:
        self._line("assistant", {"role": "assistant", "model": "claude", "content": [{"type": "text", "text": text}]})

    def tool(self, name: str, tool_input: dict, output: str, is_error: bool = False, bash: bool | None = None) -> None:
        tid = f"toolu_{self.n:04d}"
        self._line("assistant", {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": name, "input": tool_input}]})
        extra = {}
        if bash if bash is not None else name == "Bash":
            extra["toolUseResult"] = {"stdout": output, "stderr": "", "interrupted": False, "isImage": False}
        self._line("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": output, "is_error": is_error}]}, **extra)

    def bash(self, command: str, output: str, failed: bool = False) -> None:
        self.tool("Bash", {"command": command}, output, failed)

    def edit(self, path: str, old: str = "a", new: str = "b") -> None:
        self.tool("Edit", {"file_path": path, "old_string": old, "new_string": new}, f"The file {path} has been updated.")

    def todos(self, items: list[tuple[str, str]]) -> None:
        todos = [{"content": c, "status": s, "activeForm": c} for c, s in items]
        self.tool("TodoWrite", {"todos": todos}, "Todos have been modified successfully.")

    def summary(self, text: str) -> None:
        self.lines.append({"type": "summary", "summary": text, "leafUuid": f"u-{self.n}"})

    def write(self) -> Path:
        self.path.write_text("".join(json.dumps(line) + "\n" for line in self.lines))
        return self.path
