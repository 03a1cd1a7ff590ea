"""Facts as agents read them: one compact line per fact, and what recording one did."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Fact, RecordResult, Staleness, short_time


@dataclass
class FactLine:
    """A fact as recall shows it: one compact line, already rendered by the fact store."""

    id: str
    text: str
    score: float
    anchors: list[str] = field(default_factory=list)  # symbol ids the fact is about

def render_fact_line(fact: Fact, staleness: Staleness | None = None) -> str:
    """One compact line for an agent:
    ``[failure f-1a2b3c4d 2026-11-20T10:00Z conf 0.48 (code changed since …)] text — mitigation: …``
    The confidence shown is the effective one when staleness is given."""
    conf = staleness.effective_confidence if staleness else fact.confidence
    version = f" v{fact.version}" if fact.version > 1 else ""
    head = f"{fact.type} {fact.id}{version} {short_time(fact.created_at)} conf {conf:.2g}"
    if fact.is_pinned:
        head += " pinned"
    if staleness and staleness.note:
        head += f" ({staleness.note})"
    line = f"[{head}] {' '.join(fact.fact.split())}"
    if fact.mitigation:
        line += f" — mitigation: {' '.join(fact.mitigation.split())}"
    return line


def render_record_result(result: RecordResult) -> str:
    """What ``record_fact`` tells the agent: the id and version, what happened, warnings,
    and the active facts that look the same (so it can supersede one instead)."""
    verb = {"recorded": "recorded", "new version": "recorded new version",
            "confirmed": "confirmed (already known)"}[result.action]
    lines = [f"{verb}: {result.id} v{result.version}"]
    if result.action == "confirmed":
        lines[0] += f", confirmed {result.fact.confirmations} times"
    lines += [f"warning: {w}" for w in result.warnings]
    if result.similar:
        lines.append("similar active facts (if one is the same fact, record again with "
                     "supersedes=<its id> instead of keeping both):")
        lines += [f"  {s.similarity:.2f} {render_fact_line(s.fact)}" for s in result.similar]
    return "\n".join(lines)
