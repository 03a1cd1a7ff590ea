"""Claude Code hook entry points: read the event's JSON on stdin, write the hook's JSON
output on stdout, and never stand in Claude Code's way.

Run as ``python -m mcp_server.history.hooks <event>`` (what ``ctxfold hooks install``
writes into the settings, with the interpreter's absolute path) or ``ctxfold hook
<event>``. Events: ``post-tool-use``, ``pre-compact``, ``session-start``,
``user-prompt-submit`` (Claude Code's own names work too).

Whatever goes wrong on our side, the process exits 0 with no output and the error is
appended to ``<store>/history/hooks.log``. This module imports the standard library only;
each handler imports what it needs.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

EVENTS = {
    "post-tool-use": "PostToolUse",
    "pre-compact": "PreCompact",
    "session-start": "SessionStart",
    "user-prompt-submit": "UserPromptSubmit",
}
_BY_NAME = {v.lower(): k for k, v in EVENTS.items()} | {k: k for k in EVENTS}
MAX_STDIN = 64 * 1024 * 1024  # a tool response can be large; past this we let it be


def event_key(name: str) -> str | None:
    return _BY_NAME.get(name.strip().lower().replace("_", "-"))


def store_dir_for_payload(payload: dict) -> Path:
    """``$CTXFOLD_STORE``, else ``$CLAUDE_PROJECT_DIR/.ctxfold``, else the ``.ctxfold``
    of the nearest directory up from the event's cwd that has one (or a ``.git``)."""
    if os.environ.get("CTXFOLD_STORE"):
        return Path(os.environ["CTXFOLD_STORE"]).resolve()
    return project_dir(payload) / ".ctxfold"


def project_dir(payload: dict) -> Path:
    if os.environ.get("CLAUDE_PROJECT_DIR"):
        return Path(os.environ["CLAUDE_PROJECT_DIR"]).resolve()
    start = Path(str(payload.get("cwd") or os.getcwd())).resolve()
    for d in (start, *start.parents):
        if (d / ".ctxfold").is_dir() or (d / ".git").exists():
            return d
    return start


def log_error(store_dir: Path | None, event: str, exc: BaseException) -> None:
    """Append one line about a failure to the store's hook log (best effort)."""
    import traceback

    try:
        base = Path(store_dir) if store_dir else Path(os.getcwd()) / ".ctxfold"
        from .outputs import _append_line, history_dir

        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        line = json.dumps({"ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "event": event,
                           "error": f"{type(exc).__name__}: {exc}", "traceback": "".join(tb[-6:])})
        if base.is_dir():
            _append_line(history_dir(base) / "hooks.log", line)
    except Exception:  # noqa: S110 - the log is best effort; Claude Code must go on
        pass


def handle(event: str, payload: dict, store_dir: Path) -> dict | None:
    """The hook output for one event (None: say nothing)."""
    if event == "post-tool-use":
        from .posttool import post_tool_use

        return post_tool_use(payload, store_dir)
    if event == "pre-compact":
        from .distill import pre_compact

        return pre_compact(payload, store_dir, project_dir(payload))
    if event == "session-start":
        from .restore import session_start

        return session_start(payload, store_dir, project_dir(payload))
    if event == "user-prompt-submit":
        from .prompt import user_prompt_submit

        return user_prompt_submit(payload, store_dir, project_dir(payload))
    return None


def run(event_name: str, stdin=None, stdout=None) -> int:
    """One hook call; always returns 0."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    event = event_key(event_name) or ""
    store_dir: Path | None = None
    try:
        raw = stdin.read(MAX_STDIN)
        payload = json.loads(raw) if raw.strip() else {}
        if not isinstance(payload, dict):
            payload = {}
        if not event:
            event = event_key(str(payload.get("hook_event_name", ""))) or ""
        store_dir = store_dir_for_payload(payload)
        if not event:
            raise ValueError(f"unknown hook event {event_name!r}: use one of {', '.join(EVENTS)}")
        out = handle(event, payload, store_dir)
        if out:
            stdout.write(json.dumps(out, ensure_ascii=False))
            stdout.flush()
    except Exception as exc:  # fail open: Claude Code goes on as if we were not here
        log_error(store_dir, event or event_name, exc)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        sys.stderr.write(f"usage: python -m mcp_server.history.hooks {{{','.join(EVENTS)}}} < event.json\n")
        return 0
    return run(argv[0])


if __name__ == "__main__":
    sys.exit(main())
