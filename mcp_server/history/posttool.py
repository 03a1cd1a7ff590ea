"""PostToolUse: trim a long output, keep it in full, record it; point to repeats."""

from __future__ import annotations

import time
from pathlib import Path

from .outputs import OutputStore
from .secrets import clean
from .settings import SETTINGS, HistorySettings
from .transcript import result_text
from .trim import over_limit, sha256_text, trim

# Tools whose output Claude Code already bounds, or that the model asked for whole.
NOT_TRIMMED = frozenset({"Read", "Edit", "Write", "MultiEdit", "NotebookEdit", "TodoWrite", "ExitPlanMode"})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def read_hint(sha: str) -> str:
    return f"read any part: `ctxfold output show {sha[:12]} --lines A-B` or `ctxfold output grep {sha[:12]} REGEX` (MCP tool read_output)"


def post_tool_use(payload: dict, store_dir: Path, settings: HistorySettings = SETTINGS) -> dict | None:
    tool = str(payload.get("tool_name") or "")
    if tool in NOT_TRIMMED:
        return None
    response = payload.get("tool_response")
    text, status = result_text(response)
    text = _persisted(response) or text
    if not text:
        return None
    lines = text.count("\n") + (not text.endswith("\n"))
    long = over_limit(text, settings)
    if not long and lines < settings.repeat_min_lines:
        return None
    store = OutputStore(store_dir)
    kept = clean(text)
    sha = sha256_text(kept)
    session = str(payload.get("session_id") or "")
    tool_input = payload.get("tool_input") if isinstance(payload.get("tool_input"), dict) else {}
    command = clean(str(tool_input.get("command") or tool_input.get("file_path") or ""))[:2000]
    earlier = store.seen_in_session(session, sha) if session else None
    record = {
        "ts": _now(), "session": session, "tool": tool, "tool_use_id": payload.get("tool_use_id"),
        "command": command, "exit_status": status, "stdout_sha256": sha,
        "lines": lines, "bytes": len(text.encode("utf-8", "surrogatepass")),
    }
    if earlier is not None:
        store.add_record(record | {"kept_head_lines": 0, "kept_tail_lines": 0, "truncated": True,
                                   "truncated_lines_count": lines, "repeat_of": sha})
        shown = (f"[ctxfold: the same output as the {earlier.get('tool')} call at {earlier.get('ts')} "
                 f"({lines:,} lines, sha256 {sha[:12]}), not repeated; {read_hint(sha)}]")
        return _replace(shown, tool)
    store.keep(kept, sha)
    if not long:
        store.add_record(record | {"kept_head_lines": lines, "kept_tail_lines": 0, "truncated": False,
                                   "truncated_lines_count": 0})
        return None
    result = trim(text, sha, read_hint(sha), settings)
    store.add_record(record | {
        "kept_head_lines": result.kept_head_lines, "kept_tail_lines": result.kept_tail_lines,
        "kept_error_lines": result.kept_error_lines, "truncated": True,
        "truncated_lines_count": result.truncated_lines_count, "cut": [result.cut_from, result.cut_to],
    })
    return _replace(result.text, tool, result.note)


def _persisted(response, limit: int = 64 * 1024 * 1024) -> str | None:
    """The whole output when Claude Code kept it in a file: past 30,000 characters the
    hook's ``stdout`` is cut there, and ``persistedOutputPath`` names the whole."""
    path = response.get("persistedOutputPath") if isinstance(response, dict) else None
    if not isinstance(path, str) or not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read(limit)
    except OSError:
        return None


def _replace(text: str, tool: str, note: str | None = None) -> dict:
    """The hook output: the trimmed text replaces the tool's output. Claude Code (2.1.x)
    applies that replacement to MCP tools only; the model still sees a built-in tool's
    own output (Bash: whole up to 30,000 characters, past that a file and a 2 KB
    preview), so for those the marker and the error lines also go in as additional
    context: the model learns what the middle held and where the whole output is kept."""
    out = {"hookEventName": "PostToolUse", "updatedToolOutput": [{"type": "text", "text": text}]}
    if not tool.startswith("mcp__"):
        out["additionalContext"] = note or text
    return {"hookSpecificOutput": out}
