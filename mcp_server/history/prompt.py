"""UserPromptSubmit (opt-in): a small recall for the prompt, injected as context, within
a hard time bound. Past the bound nothing is injected and the prompt goes on.

Facts come from the snapshot (milliseconds); code comes from ``recall`` on the index if
it answers in time (a cold process on a large repository will not: the server's
``recall`` tool is the way there). The hook itself never waits longer than the bound.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from .secrets import strip_private
from .settings import SETTINGS, HistorySettings

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")
_COMMON = frozenset("the and for with that this from have what when where which into your you are not but can".split())


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - _COMMON


def prompt_facts(store_dir: Path, prompt: str, limit: int = 8) -> list[dict]:
    """Active facts sharing words with the prompt, best first, from the snapshot as it is."""
    import json

    from .distill import snapshot_path

    try:
        facts = json.loads(snapshot_path(store_dir).read_text()).get("facts") or []
    except (OSError, ValueError):
        return []
    words = _words(prompt)
    scored = []
    for f in facts:
        shared = len(words & _words(f.get("fact", "") + " " + " ".join(a.get("text", "") for a in f.get("about") or [])))
        if shared:
            scored.append((shared * (0.5 + 0.5 * float(f.get("confidence") or 0)), f))
    scored.sort(key=lambda x: (-x[0], x[1].get("id", "")))
    return [f for _, f in scored[:limit]]


def _code_recall(project: Path, prompt: str, budget: int, box: dict) -> None:
    try:
        from mcp_server.recall import recall

        box["text"] = recall(project, prompt, budget).text
    except Exception as exc:  # noqa: BLE001 - reported through the box; the hook fails open
        box["error"] = exc


def user_prompt_submit(payload: dict, store_dir: Path, project: Path, settings: HistorySettings = SETTINGS,
                       code: bool = True) -> dict | None:
    started = time.monotonic()
    prompt = strip_private(str(payload.get("prompt") or "")).strip()
    if len(prompt) < 8 or prompt.startswith("/"):
        return None
    box: dict = {}
    worker = None
    if code and (Path(store_dir) / "manifest.json").exists():
        worker = threading.Thread(target=_code_recall, args=(project, prompt, settings.prompt_budget // 2, box), daemon=True)
        worker.start()
    from .restore import fact_line

    lines = [fact_line(f, project) for f in prompt_facts(store_dir, prompt)]
    if worker is not None:
        worker.join(max(0.0, settings.prompt_timeout_s - (time.monotonic() - started)))
    parts = []
    if lines:
        parts.append("## facts ctxfold remembers about this\n" + "\n".join(lines))
    if box.get("text"):
        parts.append(box["text"])
    if not parts:
        return None
    from indexers.tokens import count_tokens

    text = "# ctxfold: context for this prompt\n" + "\n\n".join(parts)
    while count_tokens(text) > settings.prompt_budget or len(text) > settings.restore_max_chars:
        text = text[: int(len(text) * 0.9)]
        text = text[: text.rfind("\n")] if "\n" in text else ""
    if time.monotonic() - started > settings.prompt_timeout_s or not text:
        return None  # too late: say nothing rather than hold the prompt
    return {"hookSpecificOutput": {"hookEventName": "UserPromptSubmit", "additionalContext": text}}
