"""The fact memory's types and input checks: a fact, its anchors and what recording,
staleness and import report; the settings; the time conventions (ISO 8601, UTC)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from indexers.tokens import count_tokens
from mcp_server.errors import CtxfoldError

FACT_TYPES = ("failure", "invariant", "decision", "observation", "todo", "coupling")
STATUSES = ("active", "superseded", "archived")
SOURCES = ("agent", "cli", "import")

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
LIST_HINT = "run `ctxfold facts list --status all` to see the known ids"


class FactError(CtxfoldError, ValueError):
    """Bad input to the fact memory; the message names the value and the next step."""


class FactStorageError(CtxfoldError, RuntimeError):
    """The fact table could not be read or written (lock timeout, newer schema, LanceDB)."""


@dataclass(frozen=True)
class FactSettings:
    """Every tunable of the fact memory in one place (tuned by ``benchmarks/facts_speed``)."""

    # Archive policy: active, unpinned facts below this confidence that were neither
    # served, confirmed nor recorded for this many days are archived (never deleted).
    archive_below_confidence: float = 0.4
    archive_after_days: int = 90
    # Staleness: effective confidence = confidence × factor.
    changed_factor: float = 0.6
    orphaned_factor: float = 0.3
    # An invariant this confident counts as pinned (served first, never auto-archived).
    pinned_invariant_confidence: float = 0.9
    # Two active facts of one type and overlapping anchors "look the same" when their
    # token Jaccard or difflib ratio reaches these.
    similar_jaccard: float = 0.5
    similar_ratio: float = 0.8
    similar_limit: int = 5
    similar_candidates: int = 50  # compared character by character, most shared words first
    # Input limits (tokens): keep facts short, put long evidence by reference.
    max_fact_tokens: int = 2000
    max_evidence_tokens: int = 4000
    max_anchors: int = 50
    # Relevance: BM25 over fact text, mitigation and anchor names, plus anchor hits.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    weight_text: float = 1.0
    weight_symbol: float = 1.5  # an anchor is one of the task's symbols
    weight_path: float = 1.0  # an anchor is (in) one of the task's files
    weight_recent: float = 0.3  # failures and decisions of the last recent_days
    recent_days: float = 7.0
    min_text_share: float = 0.1  # text-only matches below this share of the best are noise
    pinned_bonus: float = 1000.0
    stale_rescore_factor: int = 3  # with current_hash, re-score the top limit × this
    # Durability and housekeeping.
    sync_writes: bool = True  # flush the file system before a write call returns
    compact_every_versions: int = 64  # compact the table every this many table versions
    # Old LanceDB table versions (not rows: every row lives on in the latest version)
    # are cleaned up at compaction once this old; each costs a file in every version check.
    keep_versions_hours: float = 1.0
    recheck_s: float = 1.0  # ask LanceDB for the table version at least this often
    lock_timeout_s: float = 30.0


DEFAULT_SETTINGS = FactSettings()


@dataclass(frozen=True)
class Anchor:
    """What a fact is about: a symbol (``symbol_id`` set) or a file (``path`` only), with
    the content hash it had when the fact was recorded; free text when nothing resolved."""

    text: str  # as the agent wrote it
    symbol_id: str = ""  # "pkg/mod.py:Client.send", or ""
    path: str = ""  # the file, for symbols and files alike; "" for free text
    hash: str = ""  # content hash at record time; "" for free text

    @property
    def key(self) -> str:
        """Identity for comparing anchors: symbol, else file, else the lower-cased text."""
        return self.symbol_id or self.path or "text:" + self.text.strip().lower()

    @property
    def is_code(self) -> bool:
        return bool(self.hash)


@dataclass(frozen=True)
class Fact:
    """One version of a fact, in its current state."""

    id: str
    version: int
    fact: str
    type: str
    status: str  # one of STATUSES
    confidence: float
    created_at: str  # when this version was recorded (and its anchors hashed)
    evidence: str | None = None
    mitigation: str | None = None
    about: tuple[Anchor, ...] = ()
    pinned: bool = False
    source: str = "agent"
    change: str = "recorded"  # how this version came to be: "supersedes v1", "restores v2"
    status_at: str = ""  # when status last changed
    reason: str | None = None  # why it was archived or superseded
    confirmations: int = 1
    last_confirmed_at: str = ""
    last_served_at: str | None = None
    served_count: int = 0

    @property
    def is_pinned(self) -> bool:
        return self.pinned or (
            self.type == "invariant"
            and self.confidence >= DEFAULT_SETTINGS.pinned_invariant_confidence
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (the export line, without ``schema_version``)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["about"] = anchor_dicts(self.about)
        return data


@dataclass(frozen=True)
class Similar:
    fact: Fact
    similarity: float  # max of token Jaccard and difflib ratio, 0..1


@dataclass(frozen=True)
class RecordResult:
    id: str
    version: int
    action: str  # "recorded", "new version", "confirmed"
    fact: Fact
    similar: list[Similar] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Staleness:
    state: str  # "fresh", "changed", "orphaned"
    since: str  # when the anchors were hashed (the version's created_at)
    effective_confidence: float
    changed: tuple[str, ...] = ()  # anchors whose code changed
    gone: tuple[str, ...] = ()  # anchors whose symbol or file no longer exists

    @property
    def note(self) -> str:
        if self.state == "changed":
            return f"code changed since {short_time(self.since)}"
        if self.state == "orphaned":
            return "orphaned: its code is gone"
        return ""


@dataclass
class ImportReport:
    added: int = 0  # versions new to this store
    merged: int = 0  # versions whose state (status, counters) advanced
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    conflicts: list[tuple[int, str]] = field(default_factory=list)  # same version, other text

    @property
    def ok(self) -> bool:
        return not self.errors and not self.conflicts


# --------------------------------------------------------------------------- input checks


def check_type(value: object) -> str:
    kind = str(value).strip().lower() if value is not None else ""
    if kind not in FACT_TYPES:
        raise FactError(f"unknown fact type {value!r}: use one of {', '.join(FACT_TYPES)}")
    return kind


def check_confidence(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FactError(f"confidence {value!r} is not a number: give a value from 0 to 1")
    conf = float(value)
    if math.isnan(conf) or not 0.0 <= conf <= 1.0:
        raise FactError(f"confidence {value!r} is outside [0, 1]: give a value from 0 to 1")
    return conf


def check_text(text: object, settings: FactSettings) -> str:
    if not isinstance(text, str) or not text.strip():
        raise FactError(f"empty fact {text!r}: state what was learned in one or two sentences")
    text = text.strip()
    tokens = count_tokens(text)
    if tokens > settings.max_fact_tokens:
        raise FactError(
            f"fact is {tokens} tokens, over the limit of {settings.max_fact_tokens}: keep the "
            "fact short and put long evidence by reference (a file path, a log line, a URL) "
            "in `evidence`"
        )
    return text


def check_optional(name: str, value: object, settings: FactSettings) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FactError(f"{name} {value!r} is not text: pass a string or leave it out")
    value = value.strip()
    if not value:
        return None
    tokens = count_tokens(value)
    if tokens > settings.max_evidence_tokens:
        raise FactError(
            f"{name} is {tokens} tokens, over the limit of {settings.max_evidence_tokens}: "
            "put long evidence by reference (a file path, a log line, a URL)"
        )
    return value


def check_source(value: object) -> str:
    if value not in SOURCES:
        raise FactError(f"unknown source {value!r}: use one of {', '.join(SOURCES)}")
    return str(value)



# --------------------------------------------------------------------------- time and comparison


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment


def short_time(text: str) -> str:
    """``2026-11-20T10:00:00Z`` → ``2026-11-20T10:00Z`` for compact rendering."""
    try:
        return parse_time(text).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    except ValueError:
        return text


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def anchor_dicts(anchors: tuple[Anchor, ...]) -> list[dict[str, str]]:
    return [{"hash": a.hash, "path": a.path, "symbol_id": a.symbol_id, "text": a.text}
            for a in anchors]



def same_content(a: Fact, b: Fact) -> bool:
    """Same statement about the same code: text, type, evidence, mitigation,
    confidence, pin, and anchors with the same hashes (in any order, however written)."""
    return (
        a.fact == b.fact and a.type == b.type and a.evidence == b.evidence
        and a.mitigation == b.mitigation and a.confidence == b.confidence
        and a.pinned == b.pinned
        and {(x.key, x.hash) for x in a.about} == {(x.key, x.hash) for x in b.about}
    )
