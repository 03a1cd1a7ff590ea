"""PreCompact: the transcript becomes fact tuples in the fact memory, before Claude Code's
compaction flattens it into prose.

Heuristics, no model: failures (the command, its error line, the kept output's sha256 and
step as evidence, and the later command that ended it as mitigation), files edited and
what for, the todo list's state, the user's standing instructions ("always…", "never…",
"don't…") as invariants, and decisions the assistant stated. Each derived fact has a key
that is stable within the session (``failure:<command>``, ``edit:<path>``, ...); the
session's state file maps keys to fact ids, so that the next compaction of the same
session supersedes its own facts (or skips the unchanged ones) instead of duplicating
them. Facts are anchored to the files they name that exist in the project.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .outputs import OutputStore, history_dir
from .secrets import clean, strip_private
from .settings import SETTINGS, HistorySettings
from .transcript import EDIT_TOOLS, Message, ToolStep, Transcript, read_transcript, relative_to
from .trim import ERROR_LINE, sha256_text

SNAPSHOT = "facts_snapshot.json"
SNAPSHOT_VERSION = 1

_INSTRUCTION = re.compile(
    r"^(?:please\s+)?(?:always|never|don'?t|do not|must not|make sure(?: to| that)?|from now on|going forward|"
    r"remember to|avoid)\b|\b(?:you must|you should always|you should never|we always|we never)\b",
    re.I,
)
_DECISION = re.compile(
    r"\b(?:decided to|decision:|i(?:'ll| will) use|we(?:'ll| will) use|going with|chose to|instead of|rather than|"
    r"the root cause|the fix is|the cause is|switch(?:ed|ing)? to)\b",
    re.I,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_PATH = re.compile(r"(?:(?<=[\s\"'`(=:])|^)((?:[\w.-]+/)*[\w-][\w.-]*\.[A-Za-z0-9]{1,8})(?=[\s\"'`),:;]|[.!?](?:\s|$)|$)")
_TRACE_FILE = re.compile(r'File "([^"]+)", line \d+')


@dataclass
class Derived:
    """One fact as the heuristics (or a model) derived it, before it is recorded."""

    key: str
    type: str
    fact: str
    confidence: float
    evidence: str | None = None
    mitigation: str | None = None
    about: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        raw = json.dumps([self.type, self.fact, self.evidence, self.mitigation, sorted(self.about), self.confidence])
        return hashlib.sha1(raw.encode()).hexdigest()[:16]


def _one_line(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sentences(text: str) -> list[str]:
    return [s.strip(" -*•\t") for s in _SENTENCE.split(text) if s and s.strip(" -*•\t")]


def error_line(output: str) -> str:
    """The most telling line of a failed output: the last error-looking line, else the last line."""
    lines = [line for line in output.splitlines() if line.strip()]
    for line in reversed(lines[-400:]):
        if ERROR_LINE.search(line) and not line.startswith("Exit code"):
            return line.strip()
    rest = [line for line in lines if not line.startswith("Exit code")]
    return (rest or lines or [""])[-1].strip()


def _failed(step: ToolStep) -> bool:
    if step.exit_status not in (None, "0"):
        return True
    return step.is_error


def _command_key(step: ToolStep) -> str:
    return " ".join((step.command or step.name).split())[:200]


def files_named(texts: list[str], project: Path, cwd: str = "") -> list[str]:
    """Repository-relative paths of existing files that the texts name."""
    found: list[str] = []
    roots = [Path(project)] + ([Path(cwd)] if cwd else [])
    for text in texts:
        for raw in _TRACE_FILE.findall(text) + _PATH.findall(text):
            for root in roots:
                p = Path(raw) if Path(raw).is_absolute() else root / raw
                try:
                    if p.is_file():
                        rel = relative_to(str(p.resolve()), project)
                        if not rel.startswith("/") and rel not in found:
                            found.append(rel)
                        break
                except OSError:
                    continue
    return found[:10]


def derive(t: Transcript, project: Path, outputs: OutputStore | None = None, session: str = "",
           settings: HistorySettings = SETTINGS) -> list[Derived]:
    """Facts from one transcript, by heuristics. ``outputs`` keeps failed outputs so
    that a failure's evidence (its sha256) can be read back."""
    project = Path(project)
    found: list[Derived] = []
    steps = t.steps

    # Failures, and the later run of the same command that passed.
    failures: dict[str, tuple[ToolStep, int]] = {}
    for step in steps:
        if step.name in EDIT_TOOLS or step.name in ("Read", "TodoWrite", "Glob", "Grep", "LS"):
            continue
        key = _command_key(step)
        if _failed(step):
            count = failures.get(key, (step, 0))[1] + 1
            failures[key] = (step, count)
    for key, (step, count) in list(failures.items())[-settings.max_failures:]:
        output = clean(step.output)
        sha = sha256_text(output)
        if outputs is not None and output:
            outputs.keep(output, sha)
        line = clean(error_line(step.output))
        what = f"`{_one_line(clean(step.command), 160)}`" if step.command else step.name
        fixed = next((s for s in steps[step.index:] if _command_key(s) == key and not _failed(s) and s.answered), None)
        times = f" ({count} times)" if count > 1 else ""
        mitigation = None
        if fixed is not None:
            edited = sorted({relative_to(s.file_path, project) for s in steps[step.index:fixed.index] if s.name in EDIT_TOOLS and s.file_path})
            after = f" after editing {', '.join(edited[:5])}" if edited else ""
            mitigation = f"passed again at step {fixed.index}{after}"
        found.append(Derived(
            key=f"failure:{key}", type="failure",
            fact=f"{what} failed{times}: {_one_line(line, 300)}" + (" (since fixed)" if fixed else ""),
            confidence=settings.failure_confidence,
            evidence=f"output sha256 {sha[:16]} (`ctxfold output show {sha[:12]}`), step {step.index} of session {session or t.session}, {step.ts}",
            mitigation=mitigation,
            about=files_named([step.command, step.output[-4000:]], project, t.cwd),
        ))

    # Files edited, and what for: the assistant's words just before the first edit.
    edits: dict[str, list[ToolStep]] = {}
    for step in steps:
        if step.name in EDIT_TOOLS and step.file_path and not step.is_error:
            edits.setdefault(relative_to(step.file_path, project), []).append(step)
    said = [m for m in t.messages if m.role == "assistant"]
    for path, done in list(edits.items())[-settings.max_edits:]:
        first = done[0].index
        before = [m for m in said if m.after_step < first]
        purpose = _one_line(clean(strip_private(before[-1].text)), 200) if before else ""
        n = f" ({len(done)} edits)" if len(done) > 1 else ""
        found.append(Derived(
            key=f"edit:{path}", type="observation",
            fact=f"edited {path}{n} this session" + (f": {purpose}" if purpose else ""),
            confidence=settings.edit_confidence,
            evidence=f"steps {', '.join(str(s.index) for s in done[:10])} of session {session or t.session}",
            about=[path] if (project / path).is_file() else [],
        ))

    # The user's standing instructions.
    seen: set[str] = set()
    instructions: list[Derived] = []
    for msg in t.messages:
        if msg.role != "user":
            continue
        for sentence in _sentences(strip_private(msg.text)):
            if len(sentence) < 8 or len(sentence) > 400 or not _INSTRUCTION.search(sentence):
                continue
            norm = " ".join(sentence.lower().split())
            if norm in seen:
                continue
            seen.add(norm)
            text = clean(sentence)
            instructions.append(Derived(
                key=f"instruction:{norm[:200]}", type="invariant", fact=f"the user said: {_one_line(text, 300)}",
                confidence=settings.instruction_confidence,
                evidence=f"user message of session {session or t.session}, {msg.ts}",
                about=files_named([text], project, t.cwd),
            ))
    found += instructions[-settings.max_instructions:]

    # Decisions the assistant stated.
    decisions: list[Derived] = []
    for msg in said:
        for sentence in _sentences(strip_private(msg.text)):
            if 20 <= len(sentence) <= 400 and _DECISION.search(sentence):
                text = clean(sentence)
                norm = " ".join(text.lower().split())
                decisions.append(Derived(
                    key=f"decision:{norm[:200]}", type="decision", fact=_one_line(text, 300),
                    confidence=settings.decision_confidence,
                    evidence=f"assistant, after step {msg.after_step} of session {session or t.session}, {msg.ts}",
                    about=files_named([text], project, t.cwd),
                ))
    unique = {d.key: d for d in decisions}
    found += list(unique.values())[-settings.max_decisions:]

    # The todo list's state: open items are todo facts.
    for item in (t.todos or [])[: settings.max_todos]:
        status = str(item.get("status", ""))
        content = clean(str(item.get("content", ""))).strip()
        if content and status in ("pending", "in_progress"):
            found.append(Derived(
                key=f"todo:{' '.join(content.lower().split())[:200]}", type="todo",
                fact=f"open todo ({status.replace('_', ' ')}): {_one_line(content, 300)}",
                confidence=settings.todo_confidence,
                evidence=f"the todo list of session {session or t.session}",
                about=files_named([content], project, t.cwd),
            ))
    return found


# ------------------------------------------------------------------ session state


def session_state_path(store_dir: Path, session: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session or "unknown")[:100]
    return history_dir(store_dir) / "sessions" / f"{safe}.json"


def read_state(store_dir: Path, session: str) -> dict:
    try:
        data = json.loads(session_state_path(store_dir, session).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data) -> None:
    from indexers.paths import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))


# ------------------------------------------------------------------ recording


def file_anchor_resolver(project: Path):
    """Anchors to files of the project, stamped with the content hash the indexer uses,
    without opening the code index (a hook must stay light)."""
    from mcp_server.facts import Anchor

    def resolve(text: str):
        p = Path(project) / text
        try:
            if p.is_file():
                return Anchor(text, "", Path(text).as_posix(), file_hash(p.read_bytes()))
        except OSError:
            return None
        return None

    return resolve


def file_hash(data: bytes) -> str:
    # The same hash as indexers.parse.content_hash, which imports tree-sitter to get here.
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass
class DistillReport:
    session: str
    derived: int = 0
    recorded: int = 0
    superseded: int = 0
    unchanged: int = 0
    archived: int = 0
    errors: list[str] = field(default_factory=list)


def record_derived(store, derived: list[Derived], state: dict, session: str) -> DistillReport:
    """Record what is new or changed; supersede this session's earlier versions; archive
    todos no longer open. ``state['facts']`` (key → id, digest) is updated in place."""
    from mcp_server.facts import FactError

    report = DistillReport(session, derived=len(derived))
    known: dict = state.setdefault("facts", {})
    for d in derived:
        prev = known.get(d.key)
        if prev and prev.get("digest") == d.digest:
            report.unchanged += 1
            continue
        kwargs = dict(evidence=d.evidence, mitigation=d.mitigation, confidence=d.confidence,
                      about=d.about or None, source="agent")
        try:
            if prev:
                try:
                    result = store.record(d.fact, d.type, supersedes=prev["id"], **kwargs)
                    report.superseded += 1
                except FactError:  # the earlier fact is gone (another store, say)
                    result = store.record(d.fact, d.type, **kwargs)
                    report.recorded += 1
            else:
                result = store.record(d.fact, d.type, **kwargs)
                report.recorded += 1
        except FactError as exc:
            report.errors.append(f"{d.key}: {exc}")
            continue
        known[d.key] = {"id": result.id, "digest": d.digest}
    wanted = {d.key for d in derived}
    for key in [k for k in known if k.startswith(("todo:", "model:")) and k not in wanted]:
        why = "no longer open in the todo list" if key.startswith("todo:") else "dropped by the rolling summary"
        try:
            store.forget(known[key]["id"], f"{why} of session {session}")
            report.archived += 1
        except FactError:
            pass
        del known[key]
    return report


def snapshot_path(store_dir: Path) -> Path:
    return history_dir(store_dir) / SNAPSHOT


def write_snapshot(store, store_dir: Path) -> int:
    """The active facts as plain JSON beside the fact table, for SessionStart to read in
    milliseconds (the fact store itself takes a second to import LanceDB). Stamped with
    the fact table's version note, so that a reader can tell when it is behind."""
    version = ""
    try:
        version = (Path(store_dir) / "facts.version").read_text().strip()
    except OSError:
        pass
    facts = []
    for f in store.list("active"):
        facts.append({
            "id": f.id, "version": f.version, "fact": f.fact, "type": f.type, "confidence": f.confidence,
            "created_at": f.created_at, "pinned": bool(f.is_pinned), "mitigation": f.mitigation,
            "evidence": f.evidence, "about": [{"text": a.text, "path": a.path, "symbol": a.symbol_id, "hash": a.hash} for a in f.about],
        })
    write_json(snapshot_path(store_dir), {"schema": SNAPSHOT_VERSION, "facts_version": version, "facts": facts})
    return len(facts)


def open_fact_store(store_dir: Path, project: Path):
    from mcp_server.facts import FactStore

    return FactStore(store_dir, resolve_anchor=file_anchor_resolver(project))


def distill(transcript_path: str | Path | None, store_dir: Path, project: Path, session: str = "",
            settings: HistorySettings = SETTINGS, store=None, provider=None) -> DistillReport:
    """Distill one transcript into the fact memory of ``store_dir`` and refresh the snapshot.
    With a ``provider`` (or one configured by ``CTXFOLD_HISTORY_PROVIDER``), a rolling
    summary adds its fact tuples to the heuristic ones."""
    t = read_transcript(transcript_path)
    session = session or t.session
    derived = derive(t, project, OutputStore(store_dir), session, settings)
    state = read_state(store_dir, session)
    provider = provider if provider is not None else _provider_from_env()
    if provider is not None:
        from .summarize import summarize

        previous = state.get("model_facts") or []
        more, summary = summarize(t, project, provider, previous, session)
        state["last_summary"] = asdict(summary)
        if summary.error:  # keep what the model said last time; the heuristics stand
            more = [Derived(p["key"], p["type"], p["fact"], p["confidence"], p.get("evidence"), p.get("mitigation"),
                            p.get("about") or []) for p in previous]
        else:
            state["model_facts"] = [asdict(d) for d in more]
        derived += more
    known = state.get("facts") or {}
    wanted = {d.key for d in derived}
    quiet = (all(known.get(d.key, {}).get("digest") == d.digest for d in derived)
             and not any(k.startswith(("todo:", "model:")) and k not in wanted for k in known)
             and snapshot_path(store_dir).exists())
    if quiet and store is None:  # nothing new since the last compaction: leave the fact table shut
        report = DistillReport(session, derived=len(derived), unchanged=len(derived))
        state["compactions"] = int(state.get("compactions", 0)) + 1
        state["last_report"] = asdict(report)
        write_json(session_state_path(store_dir, session), state)
        return report
    store = store or open_fact_store(store_dir, project)
    report = record_derived(store, derived, state, session)
    state["session"] = session
    state["compactions"] = int(state.get("compactions", 0)) + 1
    state["distilled_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    state["edited"] = [k.split(":", 1)[1] for k in state["facts"] if k.startswith("edit:")]
    state["last_report"] = asdict(report)
    write_json(session_state_path(store_dir, session), state)
    write_snapshot(store, store_dir)
    return report


def _provider_from_env():
    import os

    if not os.environ.get("CTXFOLD_HISTORY_PROVIDER"):
        return None
    from .summarize import provider_from_env

    return provider_from_env()


def pre_compact(payload: dict, store_dir: Path, project: Path) -> dict | None:
    """The PreCompact hook: distill, say nothing (compaction goes on as Claude Code planned).
    Then build the block SessionStart will show after the compaction, so that its lines
    are counted now, while the tokenizer is loaded anyway, and not then."""
    session = str(payload.get("session_id") or "")
    distill(payload.get("transcript_path"), store_dir, project, session)
    from .restore import build_block

    build_block(store_dir, project, session, payload.get("transcript_path"), "compact")
    return None


__all__ = ["Derived", "DistillReport", "derive", "distill", "pre_compact", "write_snapshot", "Message"]
