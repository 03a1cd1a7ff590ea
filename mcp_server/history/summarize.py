"""Provider distillation: a rolling summary of the transcript into fact tuples (never
prose), validated like enrich's answers, added to what the heuristics found.

Configured by environment: ``CTXFOLD_HISTORY_PROVIDER`` (anthropic, openai or
claude-cli, the providers enrich uses), ``CTXFOLD_HISTORY_MODEL`` and
``CTXFOLD_HISTORY_BASE_URL``. The transcript is rendered compactly (prompts, replies,
each tool call as one line with its error line), cut into parts of at most
``PART_TOKENS``; each part is sent with the facts so far, and the model answers the whole
updated list. A fact that is not an object with a known type and a short text, or whose
confidence is not a number in 0..1, is dropped and counted. A provider that fails leaves
the heuristic facts standing; the hook goes on.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .distill import Derived, error_line, files_named
from .secrets import clean, strip_private
from .transcript import EDIT_TOOLS, Transcript

TYPES = ("failure", "invariant", "decision", "observation", "todo")
PART_TOKENS = 12000
MAX_FACTS = 30
MAX_ANSWER_TOKENS = 2500

SYSTEM = (
    "You keep a coding session's memory as fact tuples, not prose. Answer with JSON only: "
    '{"facts": [{"type": "failure|invariant|decision|observation|todo", "fact": "one sentence", '
    '"evidence": "what shows it (command, step, output sha)", "mitigation": "what fixed or avoids it, or null", '
    '"confidence": 0.0-1.0, "about": ["repo-relative file paths it concerns"]}]}. '
    "Keep: failures with their error line and what ended them; the user's standing instructions as invariants; "
    "decisions taken and why; files edited and what for; open todos. Drop chatter and anything already superseded. "
    f"At most {MAX_FACTS} facts; return the whole updated list each time."
)


@dataclass
class SummaryReport:
    requests: int = 0
    accepted: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str = ""


def render(t: Transcript) -> list[str]:
    """The transcript as short lines, in order: prompts, replies, tool calls."""
    lines: list[tuple[int, int, str]] = []  # (after step, order, line)
    for i, m in enumerate(t.messages):
        text = " ".join(clean(strip_private(m.text)).split())
        if text:
            lines.append((m.after_step, i, f"{m.role}: {text[:1200]}"))
    for s in t.steps:
        if s.name in EDIT_TOOLS:
            what = f"{s.name} {s.file_path}"
        else:
            what = f"{s.name} {clean(s.command or json.dumps(s.input)[:300])}"
        failed = s.is_error or s.exit_status not in (None, "0")
        seen = clean(error_line(s.output)) if failed else ""
        lines.append((s.index - 1, 10**9, f"step {s.index} {what[:400]} → {'failed: ' + seen[:300] if failed else 'ok'}"))
    lines.sort(key=lambda x: (x[0], x[1]))
    return [line for _, _, line in lines]


def parts(lines: list[str], limit: int = PART_TOKENS) -> list[str]:
    from indexers.tokens import count_many

    out, cur, used = [], [], 0
    for line, n in zip(lines, count_many([line + "\n" for line in lines])):
        if cur and used + n > limit:
            out.append("\n".join(cur))
            cur, used = [], 0
        cur.append(line)
        used += n
    if cur:
        out.append("\n".join(cur))
    return out


def parse_facts(text: str) -> list:
    """The ``facts`` list of an answer: bare JSON, fenced, or an object inside prose."""
    from indexers.providers import json_in_answer

    stripped = text.strip()
    candidates = json_in_answer(stripped, "facts")
    for value in candidates:
        if isinstance(value, dict) and isinstance(value.get("facts"), list):
            return value["facts"]
    raise ValueError(f'no {{"facts": [...]}} object in the answer: {stripped[:80]!r}')


def validate(raw: list, project: Path, cwd: str = "") -> tuple[list[dict], list[str]]:
    good, rejected = [], []
    for item in raw[: MAX_FACTS * 2]:
        if not isinstance(item, dict):
            rejected.append(f"not an object: {str(item)[:60]}")
            continue
        kind, text = item.get("type"), item.get("fact")
        if kind not in TYPES:
            rejected.append(f"unknown type {kind!r}")
            continue
        if not isinstance(text, str) or not 8 <= len(text.strip()) <= 400:
            rejected.append(f"fact text missing or not 8-400 characters: {str(text)[:60]!r}")
            continue
        conf = item.get("confidence", 0.6)
        if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 <= conf <= 1:
            rejected.append(f"confidence {conf!r} is not a number in 0..1")
            continue
        about = item.get("about") or []
        about = files_named([a for a in about if isinstance(a, str)], project, cwd) if isinstance(about, list) else []
        opt = {k: clean(" ".join(str(item[k]).split()))[:400] for k in ("evidence", "mitigation")
               if isinstance(item.get(k), str) and item[k].strip()}
        good.append({"type": kind, "fact": clean(" ".join(text.split())), "confidence": round(float(conf), 2),
                     "about": about, **opt})
    return good[:MAX_FACTS], rejected


def provider_from_env():
    name = os.environ.get("CTXFOLD_HISTORY_PROVIDER", "").strip()
    if not name:
        return None
    from indexers.providers import RetryPolicy, make_provider

    options = {"retry": RetryPolicy(attempts=2, deadline=30.0)}
    if name != "claude-cli":
        options["timeout"] = 25.0
    return make_provider(name, os.environ.get("CTXFOLD_HISTORY_MODEL") or None,
                         os.environ.get("CTXFOLD_HISTORY_BASE_URL") or None, **options)


def summarize(t: Transcript, project: Path, provider, previous: list[dict], session: str) -> tuple[list[Derived], SummaryReport]:
    """Fold the transcript into the facts list, part by part; keys follow ``previous``
    (same type, same or a close text), so the next compaction supersedes, not adds."""
    report = SummaryReport()
    facts = [{k: v for k, v in p.items() if k != "key"} for p in previous]
    for part in parts(render(t)):
        prompt = f"Facts so far:\n{json.dumps({'facts': facts}, ensure_ascii=False)}\n\nNext part of the session:\n{part}"
        report.requests += 1
        try:
            answer = provider.complete(SYSTEM, prompt, MAX_ANSWER_TOKENS)
            raw = parse_facts(answer.text)
        except Exception as exc:  # noqa: BLE001 - a provider's failure leaves the heuristic facts standing
            report.error = f"{type(exc).__name__}: {exc}"
            return [], report
        facts, rejected = validate(raw, project, t.cwd)
        report.rejected += rejected
    report.accepted = len(facts)
    derived = []
    taken: set[str] = set()
    for f in facts:
        key = _match(f, previous, taken) or f"model:{f['type']}:{' '.join(f['fact'].lower().split())[:200]}"
        taken.add(key)
        derived.append(Derived(key=key, type=f["type"], fact=f["fact"], confidence=f["confidence"],
                               evidence=f.get("evidence") or f"rolling summary of session {session}",
                               mitigation=f.get("mitigation"), about=f["about"]))
    return derived, report


def _match(fact: dict, previous: list[dict], taken: set[str]) -> str | None:
    best, key = 0.0, None
    for p in previous:
        if p.get("type") != fact["type"] or p.get("key") in taken:
            continue
        ratio = difflib.SequenceMatcher(None, p.get("fact", "").lower(), fact["fact"].lower()).ratio()
        if ratio > best:
            best, key = ratio, p.get("key")
    return key if best >= 0.6 else None
