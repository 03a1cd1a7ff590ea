"""Reading Claude Code's transcript (JSON Lines, one event a line) into plain steps.

Lines we use: ``user`` (the prompt as a string, or content blocks: text and
``tool_result``, with ``toolUseResult`` holding Bash's stdout and stderr), ``assistant``
(content blocks: text and ``tool_use``), and ``summary`` / compact-boundary lines. Lines
of subagents (``isSidechain``) and meta lines (``isMeta``) are skipped; so is any line
that is not JSON (a torn last line).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})


@dataclass
class ToolStep:
    """One tool call and its result. ``index`` counts the session's tool calls from 1."""

    index: int
    name: str
    input: dict
    ts: str = ""
    tool_use_id: str = ""
    output: str = ""
    is_error: bool = False
    exit_status: str | None = None
    answered: bool = False

    @property
    def command(self) -> str:
        if self.name == "Bash":
            return str(self.input.get("command", ""))
        return ""

    @property
    def file_path(self) -> str:
        return str(self.input.get("file_path") or self.input.get("notebook_path") or "")


@dataclass
class Message:
    role: str  # "user" or "assistant"
    text: str
    ts: str = ""
    after_step: int = 0  # tool calls made before it


@dataclass
class Transcript:
    session: str = ""
    cwd: str = ""
    steps: list[ToolStep] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    todos: list[dict] | None = None  # the last TodoWrite's list


def _text_of(content) -> str:
    """The text of a message or tool_result content: a string or a list of blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict):
                if block.get("type") == "text":
                    parts.append(str(block.get("text", "")))
                elif block.get("type") == "tool_result":
                    continue
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def result_text(response) -> tuple[str, str | None]:
    """Text and exit status of a tool's response, however it is shaped: Bash's
    ``{stdout, stderr, interrupted}``, an MCP content-block list, a string, or a dict
    carrying ``content``/``output``."""
    if isinstance(response, str):
        return response, None
    if isinstance(response, list):
        return _text_of(response), None
    if isinstance(response, dict):
        if "stdout" in response or "stderr" in response:
            out = str(response.get("stdout") or "")
            err = str(response.get("stderr") or "")
            text = out if not err else (f"{out}\n{err}" if out else err)
            status = None
            for key in ("exit_code", "exitCode", "returncode", "code"):
                if isinstance(response.get(key), int):
                    status = str(response[key])
                    break
            if response.get("interrupted"):
                status = "interrupted"
            return text, status
        for key in ("content", "output", "result", "text"):
            if key in response:
                value = response[key]
                return (_text_of(value) if not isinstance(value, str) else value), None
    return "", None


def iter_lines(path: str | os.PathLike, tail_bytes: int | None = None) -> Iterator[dict]:
    """The transcript's events; with ``tail_bytes``, only those in its last that many bytes."""
    try:
        fh = open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, PermissionError, TypeError):
        return
    with fh:
        if tail_bytes is not None:
            size = fh.seek(0, os.SEEK_END)
            if size > tail_bytes:
                fh.seek(size - tail_bytes)
                fh.readline()  # a partial line
            else:
                fh.seek(0)
        for raw in fh:
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def read_transcript(path: str | os.PathLike | None, tail_bytes: int | None = None) -> Transcript:
    return parse_events(iter_lines(path, tail_bytes) if path else ())


def parse_events(events: Iterable[dict]) -> Transcript:
    t = Transcript()
    pending: dict[str, ToolStep] = {}
    for ev in events:
        kind = ev.get("type")
        if kind == "summary":
            if ev.get("summary"):
                t.summaries.append(str(ev["summary"]))
            continue
        if ev.get("isSidechain") or ev.get("isMeta"):
            continue
        if kind not in ("user", "assistant"):
            continue
        t.session = t.session or str(ev.get("sessionId") or "")
        t.cwd = str(ev.get("cwd") or t.cwd)
        ts = str(ev.get("timestamp") or "")
        msg = ev.get("message") or {}
        content = msg.get("content") if isinstance(msg, dict) else None
        if ev.get("isCompactSummary"):
            t.summaries.append(_text_of(content))
            continue
        if kind == "assistant":
            if isinstance(content, list):
                for block in content:
                    if not isinstance(block, dict):
                        continue
                    if block.get("type") == "text" and block.get("text"):
                        t.messages.append(Message("assistant", str(block["text"]), ts, len(t.steps)))
                    elif block.get("type") == "tool_use":
                        inp = block.get("input") if isinstance(block.get("input"), dict) else {}
                        step = ToolStep(len(t.steps) + 1, str(block.get("name", "")), inp, ts, str(block.get("id", "")))
                        t.steps.append(step)
                        pending[step.tool_use_id] = step
                        if step.name == "TodoWrite" and isinstance(inp.get("todos"), list):
                            t.todos = [x for x in inp["todos"] if isinstance(x, dict)]
            elif isinstance(content, str) and content:
                t.messages.append(Message("assistant", content, ts, len(t.steps)))
            continue
        # user: a prompt, or tool results
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content):
            extra = ev.get("toolUseResult")
            for block in content:
                if not (isinstance(block, dict) and block.get("type") == "tool_result"):
                    continue
                step = pending.pop(str(block.get("tool_use_id", "")), None)
                if step is None:
                    continue
                text, status = result_text(extra) if isinstance(extra, dict) and ("stdout" in extra or "stderr" in extra) else ("", None)
                if not text:
                    text = _text_of(block.get("content"))
                step.output = text
                step.is_error = bool(block.get("is_error"))
                step.exit_status = status
                step.answered = True
            continue
        text = _text_of(content)
        if text and not _is_command_echo(text):
            t.messages.append(Message("user", text, ts, len(t.steps)))
    return t


def _is_command_echo(text: str) -> bool:
    # Slash commands and their local output come back as user lines wrapped in tags.
    head = text.lstrip()[:40]
    return head.startswith(("<command-name>", "<local-command-stdout>", "<command-message>", "Caveat: "))


def relative_to(path: str, root: str | Path) -> str:
    """``path`` relative to ``root`` when inside it, else as given."""
    if not path:
        return path
    try:
        p = Path(path)
        if p.is_absolute():
            return p.resolve().relative_to(Path(root).resolve()).as_posix()
    except (ValueError, OSError):
        return path
    return Path(path).as_posix()
