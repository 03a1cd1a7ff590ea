"""``ctxfold hooks install|uninstall|status``: ctxfold's entries in Claude Code's settings.

Our handlers are told apart by their command, which always runs the module
``mcp_server.history.hooks``; each sits in a matcher group of its own. Install removes our
earlier groups and appends the current ones (idempotent, and an interpreter that moved is
picked up); uninstall removes exactly those groups, then any event list or ``hooks``
object that only they made non-empty. Every other key, group and handler stays as it was.
Timeouts are in seconds, as Claude Code reads them.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from mcp_server.errors import CtxfoldError

MODULE = "mcp_server.history.hooks"
SCOPES = ("project", "local", "user")

# event, matcher, our event argument, timeout in seconds
HOOKS: tuple[tuple[str, str, str, int], ...] = (
    ("PostToolUse", "*", "post-tool-use", 10),
    ("PreCompact", "*", "pre-compact", 60),
    ("SessionStart", "*", "session-start", 10),
)
PROMPT_HOOK = ("UserPromptSubmit", "*", "user-prompt-submit", 5)


class SettingsError(CtxfoldError, ValueError):
    """A settings file that cannot be read or written as JSON."""


@dataclass
class Change:
    path: Path
    before: dict
    after: dict
    added: list[str]
    removed: list[str]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def settings_path(scope: str, project: Path, home: Path | None = None) -> Path:
    if scope == "project":
        return Path(project) / ".claude" / "settings.json"
    if scope == "local":
        return Path(project) / ".claude" / "settings.local.json"
    if scope == "user":
        return Path(home or Path.home()) / ".claude" / "settings.json"
    raise SettingsError(f"unknown scope {scope!r}: use project, local or user")


def hook_command(event_arg: str, python: str | None = None) -> str:
    """The command a settings entry runs: this interpreter, by absolute path, so that it
    works from any directory and with no ``ctxfold`` on PATH (a venv install)."""
    python = python or sys.executable
    return f"{shlex.quote(str(Path(python).absolute()))} -m {MODULE} {event_arg}"


def is_ours(handler: object) -> bool:
    return isinstance(handler, dict) and f"-m {MODULE} " in str(handler.get("command", "")) + " "


def read_settings(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc}): fix it by hand, then run this again") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} holds {type(data).__name__}, not a JSON object: fix it by hand first")
    return data


def _without_ours(settings: dict) -> tuple[dict, list[str]]:
    data = json.loads(json.dumps(settings))  # a deep copy that keeps key order
    removed: list[str] = []
    hooks = data.get("hooks")
    if not isinstance(hooks, dict):
        return data, removed
    for event in list(hooks):
        groups = hooks[event]
        if not isinstance(groups, list):
            continue
        kept = []
        for group in groups:
            handlers = group.get("hooks") if isinstance(group, dict) else None
            if isinstance(handlers, list) and handlers and all(is_ours(h) for h in handlers):
                removed.append(event)
                continue
            if isinstance(handlers, list) and any(is_ours(h) for h in handlers):
                # someone added our handler to a group of theirs: take ours out only
                group = dict(group, hooks=[h for h in handlers if not is_ours(h)])
                removed.append(event)
            kept.append(group)
        if kept:
            hooks[event] = kept
        elif groups:
            del hooks[event]  # only ours were there
    if not hooks and removed:
        del data["hooks"]
    return data, removed


def install(settings: dict, python: str | None = None, prompt_recall: bool = False) -> tuple[dict, list[str]]:
    data, _ = _without_ours(settings)
    hooks = data.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise SettingsError(f"'hooks' in the settings is {type(hooks).__name__}, not an object: fix it by hand first")
    added = []
    for event, matcher, arg, timeout in HOOKS + ((PROMPT_HOOK,) if prompt_recall else ()):
        group = {"matcher": matcher, "hooks": [{"type": "command", "command": hook_command(arg, python), "timeout": timeout}]}
        hooks.setdefault(event, []).append(group)
        added.append(event)
    return data, added


def uninstall(settings: dict) -> tuple[dict, list[str]]:
    return _without_ours(settings)


def write_settings(path: Path, data: dict) -> None:
    from indexers.paths import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def plan(action: str, scope: str, project: Path, *, home: Path | None = None, python: str | None = None,
         prompt_recall: bool = False) -> Change:
    path = settings_path(scope, project, home)
    before = read_settings(path)
    if action == "install":
        after, added = install(before, python, prompt_recall)
        return Change(path, before, after, added, [])
    after, removed = uninstall(before)
    return Change(path, before, after, [], removed)


def apply(change: Change) -> None:
    if not change.changed:
        return
    if not change.after and change.path.exists():
        change.path.unlink()  # nothing left but what we added
        return
    write_settings(change.path, change.after)


def installed(settings: dict) -> list[tuple[str, str, int | None]]:
    """Our handlers in a settings object: (event, command, timeout)."""
    found = []
    hooks = settings.get("hooks")
    if isinstance(hooks, dict):
        for event, groups in hooks.items():
            for group in groups if isinstance(groups, list) else []:
                for h in (group.get("hooks") or []) if isinstance(group, dict) else []:
                    if is_ours(h):
                        found.append((event, str(h.get("command")), h.get("timeout")))
    return found


def status_report(project: Path, store_dir: Path, home: Path | None = None) -> str:
    lines = []
    for scope in SCOPES:
        path = settings_path(scope, project, home)
        try:
            entries = installed(read_settings(path))
        except SettingsError as exc:
            lines.append(f"{scope:8} {path}: {exc}")
            continue
        if not entries:
            lines.append(f"{scope:8} {path}: not installed")
            continue
        lines.append(f"{scope:8} {path}: {', '.join(e for e, _, _ in entries)}")
        for event, command, timeout in entries:
            exe = shlex.split(command)[0] if command else ""
            ok = "" if os.access(exe, os.X_OK) else "  (interpreter missing: run `ctxfold hooks install` again)"
            lines.append(f"  {event}: {command} (timeout {timeout} s){ok}")
    from .outputs import OutputStore

    store = OutputStore(store_dir)
    records = list(store.records())
    trimmed = sum(1 for r in records if r.get("truncated") and not r.get("repeat_of"))
    repeats = sum(1 for r in records if r.get("repeat_of"))
    cut = sum(int(r.get("truncated_lines_count") or 0) for r in records)
    lines.append(f"store {store_dir}: {len(records)} output records, {trimmed} trimmed, {repeats} repeats, {cut:,} lines cut")
    log = store.dir / "hooks.log"
    if log.exists():
        errors = log.read_text(encoding="utf-8", errors="replace").splitlines()
        if errors:
            last = json.loads(errors[-1]) if errors[-1].startswith("{") else {"error": errors[-1]}
            lines.append(f"hook errors logged: {len(errors)} in {log}; last: {last.get('ts', '')} {last.get('event', '')} {last.get('error', '')}")
    return "\n".join(lines)
