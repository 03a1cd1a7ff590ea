"""Fact memory: what agents learn that the code does not say, kept for good.

A fact is a short statement with a type, a confidence, optional evidence and mitigation,
and anchors (the symbols or files it is about, each stamped with the content hash it had
when the fact was recorded). Nothing is ever deleted:

- a new version of a fact (``supersedes=ID``) keeps the old one, marked superseded;
- forgetting archives (the reason is kept) and archived facts can be restored;
- recording the very same fact again confirms it (a counter), it does not duplicate it.

Storage is the LanceDB table ``facts`` of the store's database, append-only: every row is
a full snapshot of one fact version, and the current state of a version is its row with
the highest ``seq``. A status change (superseded, archived) or a counter change
(confirmed, served) appends a new snapshot; earlier rows stay. Writes are serialised
across processes by ``fcntl.flock`` on ``<store_dir>/facts.lock``; a call returns only
after LanceDB committed its rows (and, by default, after the file system was flushed).

Each ``FactStore`` keeps an in-memory copy of the current state, refreshed from the rows
with a higher ``seq`` whenever the table's version changes, so reads (recall) cost no
table scan.

Conventions: timestamps are ISO 8601 in UTC (``2026-11-20T10:00:00Z``); fact ids are
``f-`` and 8 hex digits; versions count from 1.
"""

from __future__ import annotations

import ctypes
import difflib
import fcntl
import json
import logging
import math
import os
import re
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np

from indexers.paths import connect, make_store_dir
from mcp_server.errors import CtxfoldError

log = logging.getLogger(__name__)

FACT_TYPES = ("failure", "invariant", "decision", "observation", "todo", "coupling")
STATUSES = ("active", "superseded", "archived")
SOURCES = ("agent", "cli", "import")

TABLE = "facts"
LOCK_FILENAME = "facts.lock"
VERSION_NOTE_FILENAME = "facts.version"
SCHEMA_VERSION = 1
_SCHEMA_META_KEY = b"ctxfold.facts.schema_version"

# Row converters for schema migrations: MIGRATIONS[n] turns a row dict written with
# schema n into one for schema n + 1. Empty while schema 1 is the only one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LIST_HINT = "run `ctxfold facts list --status all` to see the known ids"


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
        data["about"] = _anchor_dicts(self.about)
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
            return f"code changed since {_short_time(self.since)}"
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


def count_tokens(text: str) -> int:
    """Exact tiktoken count once ``indexers.tokens`` exists; a rough len/3 until then."""
    try:
        from indexers.tokens import count_tokens as exact
    except ImportError:
        return len(text) // 3
    return exact(text)


def _check_type(value: object) -> str:
    kind = str(value).strip().lower() if value is not None else ""
    if kind not in FACT_TYPES:
        raise FactError(f"unknown fact type {value!r}: use one of {', '.join(FACT_TYPES)}")
    return kind


def _check_confidence(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FactError(f"confidence {value!r} is not a number: give a value from 0 to 1")
    conf = float(value)
    if math.isnan(conf) or not 0.0 <= conf <= 1.0:
        raise FactError(f"confidence {value!r} is outside [0, 1]: give a value from 0 to 1")
    return conf


def _check_text(text: object, settings: FactSettings) -> str:
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


def _check_optional(name: str, value: object, settings: FactSettings) -> str | None:
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


def _check_source(value: object) -> str:
    if value not in SOURCES:
        raise FactError(f"unknown source {value!r}: use one of {', '.join(SOURCES)}")
    return str(value)


# --------------------------------------------------------------------------- text helpers

_WORD_RE = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+")
_STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from has have if in into is it its "
    "not of on or so that the their then there these this to was were when which while "
    "will with without".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words, identifiers split (``sendRequest`` → send, request), stop words
    dropped, a plural ``s`` stripped so that "retries" and "retry" do not meet but
    "locks" and "lock" do."""
    words = map(_word, _WORD_RE.findall(text))
    return [word for word in words if word]


@lru_cache(maxsize=1 << 16)
def _word(raw: str) -> str:
    """One word's index form ('' to drop it); a pure function, memoised because a cold
    load of a large store tokenizes the same few thousand words over and over."""
    word = raw.lower()
    if len(word) < 2 or word in _STOPWORDS:
        return ""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def normalize_text(text: str) -> str:
    """The form in which two recordings of one fact are compared."""
    return " ".join(text.lower().split()).rstrip(".!;: ")


def _similarity(
    a_norm: str, a_words: frozenset[str], b_norm: str, b_words: frozenset[str],
    settings: FactSettings,
) -> float:
    """Token Jaccard, or the difflib ratio when that is higher and could matter."""
    union = a_words | b_words
    jaccard = len(a_words & b_words) / len(union) if union else 0.0
    if jaccard >= settings.similar_jaccard:
        return jaccard
    matcher = difflib.SequenceMatcher(None, a_norm, b_norm, autojunk=False)
    if matcher.real_quick_ratio() < settings.similar_ratio or matcher.quick_ratio() < settings.similar_ratio:
        return jaccard
    return max(jaccard, matcher.ratio())


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment


def _short_time(text: str) -> str:
    """``2026-11-20T10:00:00Z`` → ``2026-11-20T10:00Z`` for compact rendering."""
    try:
        return _parse_time(text).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    except ValueError:
        return text


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# --------------------------------------------------------------------------- rows


def _arrow_schema():
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("seq", pa.int64(), nullable=False),
            pa.field("schema_version", pa.int32(), nullable=False),
            pa.field("id", pa.string(), nullable=False),
            pa.field("version", pa.int32(), nullable=False),
            pa.field("status", pa.string(), nullable=False),
            pa.field("fact", pa.string(), nullable=False),
            pa.field("type", pa.string(), nullable=False),
            pa.field("confidence", pa.float64(), nullable=False),
            pa.field("created_at", pa.string(), nullable=False),
            pa.field("evidence", pa.string()),
            pa.field("mitigation", pa.string()),
            pa.field("about", pa.string(), nullable=False),  # JSON list of anchors
            pa.field("pinned", pa.bool_(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("change", pa.string(), nullable=False),
            pa.field("status_at", pa.string(), nullable=False),
            pa.field("reason", pa.string()),
            pa.field("confirmations", pa.int32(), nullable=False),
            pa.field("last_confirmed_at", pa.string(), nullable=False),
            pa.field("last_served_at", pa.string()),
            pa.field("served_count", pa.int32(), nullable=False),
        ],
        metadata={_SCHEMA_META_KEY: str(SCHEMA_VERSION).encode()},
    )


_FACT_FIELDS = tuple(Fact.__dataclass_fields__)


def _anchor_dicts(anchors: tuple[Anchor, ...]) -> list[dict[str, str]]:
    return [{"hash": a.hash, "path": a.path, "symbol_id": a.symbol_id, "text": a.text}
            for a in anchors]


def _fact_to_row(fact: Fact, seq: int) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copies dominate the cost of a bulk import.
    row = {name: getattr(fact, name) for name in _FACT_FIELDS}
    row["about"] = json.dumps(_anchor_dicts(fact.about), sort_keys=True)
    row["seq"] = seq
    row["schema_version"] = SCHEMA_VERSION
    return row


def _row_to_fact(row: dict[str, Any]) -> Fact:
    values = {name: row[name] for name in _FACT_FIELDS}
    values["about"] = tuple(Anchor(**a) for a in json.loads(row["about"]))
    return Fact(**values)


def _latest_rows(table):
    """Only the newest row (highest seq) of each fact version: older snapshots (served
    and confirmed counters, status changes) stay on disk but need no Python objects."""
    if table.num_rows < 2:
        return table
    import pyarrow.compute as pc

    newest = table.group_by(["id", "version"]).aggregate([("seq", "max")])
    return table.filter(pc.is_in(table["seq"], value_set=newest["seq_max"]))


# --------------------------------------------------------------------------- locking


def may_hold_facts(store_dir: Path) -> bool:
    """False when no fact was ever written to this store (so a reader need not load
    LanceDB to find none): the table has no data files."""
    data = Path(store_dir) / "lance" / f"{TABLE}.lance" / "data"
    try:
        return any(data.iterdir())
    except OSError:
        return False


@contextmanager
def _file_lock(path: Path, timeout_s: float) -> Iterator[None]:
    """Exclusive ``flock`` on ``path``, waiting at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    with open(path, "a+b") as handle:
        pause = 0.001
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise FactStorageError(
                        f"{path} is held by another process for over {timeout_s:.0f} s: "
                        "retry, or look for a stuck ctxfold process"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.02)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _flush_file_system(directory: Path) -> None:
    """Flush the file system holding ``directory``: LanceDB renames its files into place
    but does not fsync them, so without this an acknowledged fact could be lost to a
    power cut (a killed process loses nothing either way)."""
    if sys.platform.startswith("linux"):
        fd = os.open(directory, os.O_RDONLY)
        try:
            if ctypes.CDLL(None, use_errno=True).syncfs(fd) == 0:
                return
        finally:
            os.close(fd)
    os.sync()


# --------------------------------------------------------------------------- the store


class FactStore:
    """The fact memory of one store directory.

    ``resolve_anchor(text)`` turns an anchor as written by the agent (``path:Qual.name``,
    a bare name, a file) into an ``Anchor`` carrying the current content hash, or returns
    None; unresolved anchors are kept as free text, with a warning. ``clock`` returns the
    current time (aware); tests pass a fixed one.

    Thread-safe: one lock per instance guards the in-memory state; ``facts.lock`` guards
    writes across processes.
    """

    def __init__(
        self,
        store_dir: str | os.PathLike,
        resolve_anchor: Callable[[str], Anchor | None] | None = None,
        *,
        settings: FactSettings = DEFAULT_SETTINGS,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store_dir = Path(store_dir)
        make_store_dir(self.store_dir)
        self.resolve_anchor = resolve_anchor
        self.settings = settings
        self._clock = clock
        self._lock_path = self.store_dir / LOCK_FILENAME
        self._version_note = self.store_dir / VERSION_NOTE_FILENAME
        self._checked_at = 0.0
        self._mutex = threading.RLock()
        # Current state, rebuilt from rows: (id, version) -> Fact, plus derived indexes.
        self._versions: dict[tuple[str, int], Fact] = {}
        self._latest: dict[str, int] = {}
        self._active: dict[str, Fact] = {}
        self._max_seq = 0
        self._table_version = -1
        self._index = _ActiveIndex(self._pinned)
        try:
            self._db = connect(self.store_dir)
            with _file_lock(self._lock_path, settings.lock_timeout_s):
                self._table = self._open_or_create()
        except (FactError, FactStorageError):
            raise
        except Exception as exc:  # LanceDB raises assorted types; wrap at the boundary
            raise FactStorageError(f"cannot open the fact table in {self.store_dir}: {exc}") from exc
        with self._mutex:
            self._refresh()

    # ----------------------------------------------------------------- table lifecycle

    def _open_or_create(self):
        if TABLE not in self._db.list_tables().tables:
            return self._db.create_table(TABLE, schema=_arrow_schema(), exist_ok=True)
        table = self._db.open_table(TABLE)
        found = _table_schema_version(table)
        if found > SCHEMA_VERSION:
            raise FactStorageError(
                f"the fact table in {self.store_dir} has schema {found}, newer than this "
                f"ctxfold's {SCHEMA_VERSION}: upgrade ctxfold (pip install -U ctxfold)"
            )
        if found < SCHEMA_VERSION:
            table = self._migrate(table, found)
        return table

    def _migrate(self, table, found: int):
        """Rewrite every row into the current schema (a new version of the table, so the
        old one stays on disk), after saving the old rows to a JSON Lines backup."""
        for step in range(found, SCHEMA_VERSION):
            if step not in MIGRATIONS:
                raise FactStorageError(
                    f"no migration of the fact table from schema {step} to {step + 1}: "
                    "export with the ctxfold that wrote it, then import"
                )
        rows = table.to_arrow().to_pylist()
        backup = self.store_dir / f"facts-schema{found}-backup-{int(time.time())}.jsonl"
        with open(backup, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        for step in range(found, SCHEMA_VERSION):
            rows = [MIGRATIONS[step](row) for row in rows]
        for row in rows:
            row["schema_version"] = SCHEMA_VERSION
        import pyarrow as pa

        schema = _arrow_schema()
        data = pa.Table.from_pylist(rows, schema=schema)
        migrated = self._db.create_table(TABLE, data=data, schema=schema, mode="overwrite")
        if migrated.count_rows() != len(rows):
            raise FactStorageError(
                f"migration of the fact table wrote {migrated.count_rows()} rows of "
                f"{len(rows)}: the old rows are in {backup}"
            )
        return migrated

    # ----------------------------------------------------------------- in-memory state

    def _refresh(self, *, force: bool = False) -> None:
        """Apply the rows other writers appended since we last looked (mutex held).

        Asking LanceDB for the table's version lists its version directory, which grows
        with every write; so writers also note the version in ``facts.version`` and a
        read checks that small file, asking LanceDB only when it differs or at least
        every ``recheck_s`` (a writer killed between its commit and the note)."""
        if not force and self._table_version >= 0:
            fresh = time.monotonic() - self._checked_at < self.settings.recheck_s
            if fresh and self._noted_version() == self._table_version:
                return
        for attempt in (1, 2):
            try:
                version = self._table.version
                self._checked_at = time.monotonic()
                if version == self._table_version:
                    return
                query = self._table.search()
                if self._max_seq:
                    query = query.where(f"seq > {self._max_seq}")
                rows = _latest_rows(query.limit(None).to_arrow()).to_pylist()
                break
            except Exception as exc:
                # A version can vanish under a reader when another process's compaction
                # cleans old versions up; the next read sees the new one.
                if attempt == 2:
                    raise FactStorageError(
                        f"cannot read the fact table in {self.store_dir}: {exc}") from exc
        rows.sort(key=lambda r: r["seq"])
        for row in rows:
            self._apply(_row_to_fact(row), row["seq"])
        self._table_version = version

    def _noted_version(self) -> int:
        try:
            return int(self._version_note.read_text() or -2)
        except (OSError, ValueError):
            return -2

    def _note_version(self) -> None:
        """Tell readers in other processes that the table moved (call under the lock)."""
        try:
            self._version_note.write_text(str(self._table_version))
        except OSError as exc:  # readers fall back to asking LanceDB every recheck_s
            log.warning("cannot write %s: %s", self._version_note, exc)

    def _apply(self, fact: Fact, seq: int) -> None:
        key = (fact.id, fact.version)
        self._versions[key] = fact
        self._max_seq = max(self._max_seq, seq)
        if fact.version >= self._latest.get(fact.id, 0):
            self._latest[fact.id] = fact.version
        current = self._active.get(fact.id)
        if fact.status == "active":
            if current is not None and current.version == fact.version:
                # Counters changed, the text did not: the indexes hold, their copy is new.
                self._active[fact.id] = self._index.facts[fact.id] = fact
                return
            if current is not None and current.version > fact.version:
                return  # a stale active row; the newer version wins
            if current is not None:
                self._index.remove(current)
            self._active[fact.id] = fact
            self._index.add(fact)
        elif current is not None and current.version == fact.version:
            del self._active[fact.id]
            self._index.remove(current)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._mutex:
            with _file_lock(self._lock_path, self.settings.lock_timeout_s):
                self._refresh(force=True)  # seq numbers are allotted from the latest state
                yield

    def _commit(self, facts: list[Fact], *, sync: bool = True) -> None:
        """Append snapshots in one LanceDB commit (call inside ``_writing``)."""
        if not facts:
            return
        import pyarrow as pa

        first = self._max_seq + 1
        rows = [_fact_to_row(f, first + i) for i, f in enumerate(facts)]
        before = self._table_version
        try:
            result = self._table.add(pa.Table.from_pylist(rows, schema=_arrow_schema()))
        except Exception as exc:
            raise FactStorageError(f"cannot write to the fact table in {self.store_dir}: {exc}") from exc
        if sync and self.settings.sync_writes:
            try:
                _flush_file_system(self.store_dir)
            except OSError as exc:  # committed already: say so, do not fail the call
                log.warning("could not flush %s after writing facts: %s", self.store_dir, exc)
        if getattr(result, "version", None) == before + 1:
            for i, fact in enumerate(facts):
                self._apply(fact, first + i)
            self._table_version = result.version
        else:  # someone else committed too (a writer ignoring the lock)
            self._refresh(force=True)
        self._note_version()
        every = self.settings.compact_every_versions
        if every and self._table_version % every == 0:
            try:
                self._compact()
            except FactStorageError as exc:  # the rows are committed; compaction can wait
                log.warning("%s", exc)

    def compact(self) -> None:
        """Merge the table's small fragments (each write adds one) so that reads stay
        fast, and clean up table versions older than ``keep_versions_hours``. Rows are
        rewritten, never dropped: every fact version and every state snapshot stays in
        the latest table version. Runs by itself every ``compact_every_versions``."""
        with self._writing():
            self._compact()

    def _compact(self) -> None:
        try:
            self._table.optimize(cleanup_older_than=timedelta(hours=self.settings.keep_versions_hours))
        except Exception as exc:
            raise FactStorageError(f"cannot compact the fact table: {exc}") from exc
        self._refresh(force=True)
        self._note_version()

    # ----------------------------------------------------------------- lookups

    def _now(self) -> str:
        return _iso(self._clock())

    def _require(self, fact_id: str) -> Fact:
        """The latest version of ``fact_id`` (mutex held, refreshed)."""
        version = self._latest.get(fact_id)
        if version is None:
            raise FactError(f"unknown fact id {fact_id!r}: {_LIST_HINT}")
        return self._versions[(fact_id, version)]

    def get(self, fact_id: str, version: int | None = None) -> Fact:
        """One version of a fact (the latest when ``version`` is None), any status."""
        with self._mutex:
            self._refresh()
            latest = self._require(fact_id)
            if version is None:
                return latest
            found = self._versions.get((fact_id, version))
            if found is None:
                raise FactError(
                    f"fact {fact_id} has no version {version!r} (it has 1..{latest.version}): "
                    f"run `ctxfold facts history {fact_id}`"
                )
            return found

    def history(self, fact_id: str) -> list[Fact]:
        """Every version of a fact, oldest first, each in its current state."""
        with self._mutex:
            self._refresh()
            latest = self._require(fact_id)
            return [self._versions[(fact_id, v)] for v in range(1, latest.version + 1)
                    if (fact_id, v) in self._versions]

    def list(self, status: str = "active", type: str | None = None) -> list[Fact]:
        """Facts, newest first. ``status`` "active" or "archived": the facts whose latest
        version has it; "all": the latest version of every fact; "superseded": every
        superseded version."""
        if status not in (*STATUSES, "all"):
            raise FactError(f"unknown status {status!r}: use active, archived, superseded or all")
        kind = _check_type(type) if type is not None else None
        with self._mutex:
            self._refresh()
            if status == "superseded":
                found = [f for f in self._versions.values() if f.status == "superseded"]
            else:
                found = [self._versions[(i, v)] for i, v in self._latest.items()]
                if status != "all":
                    found = [f for f in found if f.status == status]
        if kind:
            found = [f for f in found if f.type == kind]
        found.sort(key=lambda f: (f.created_at, f.id, f.version), reverse=True)
        return found

    def __len__(self) -> int:
        with self._mutex:
            self._refresh()
            return len(self._active)

    # ----------------------------------------------------------------- writes

    def _resolve(self, about: Iterable[str] | str | None) -> tuple[tuple[Anchor, ...], list[str]]:
        if about is None:
            return (), []
        if isinstance(about, str):
            about = [about]
        texts: list[str] = []
        for raw in about:
            if not isinstance(raw, str):
                raise FactError(f"anchor {raw!r} is not text: name a symbol or a file")
            text = raw.strip()
            if text and text not in texts:
                texts.append(text)
        if len(texts) > self.settings.max_anchors:
            raise FactError(
                f"{len(texts)} anchors, over the limit of {self.settings.max_anchors}: "
                "anchor the fact to the few symbols or files it is about"
            )
        anchors, unresolved = [], []
        for text in texts:
            anchor = self.resolve_anchor(text) if self.resolve_anchor else None
            if anchor is None:
                anchor = Anchor(text=text)
                unresolved.append(text)
            elif anchor.text != text:
                anchor = replace(anchor, text=text)
            anchors.append(anchor)
        warnings = []
        if unresolved:
            names = ", ".join(repr(t) for t in unresolved)
            warnings.append(
                f"anchor {names} matched no symbol or file; kept as free text, which is "
                "never checked for staleness (use path:Qualified.name or a repo-relative path)"
            )
        return tuple(anchors), warnings

    def record(
        self,
        fact: str,
        type: str,
        evidence: str | None = None,
        mitigation: str | None = None,
        confidence: float = 0.7,
        about: Iterable[str] | str | None = None,
        supersedes: str | None = None,
        pinned: bool = False,
        source: str = "agent",
    ) -> RecordResult:
        """Record a fact, a new version of one (``supersedes``), or confirm one already
        known. Returns its id and version and the active facts that look the same.

        ``about`` names the symbols (``path:Qualified.name`` or a bare name) or files the
        fact is about; a new version given no anchors (None or empty) keeps those of the
        version it supersedes, stamped with today's hashes."""
        s = self.settings
        text = _check_text(fact, s)
        kind = _check_type(type)
        evidence = _check_optional("evidence", evidence, s)
        mitigation = _check_optional("mitigation", mitigation, s)
        conf = _check_confidence(confidence)
        source = _check_source(source)
        anchors, warnings = self._resolve(about)
        draft = Fact(
            id="", version=0, fact=text, type=kind, status="active", confidence=conf,
            created_at="", evidence=evidence, mitigation=mitigation, about=anchors,
            pinned=bool(pinned), source=source,
        )
        with self._writing():
            now = self._now()
            if supersedes is not None:
                return self._supersede(supersedes, draft, now, warnings, not anchors)
            same = self._index.exact(draft)
            if same is not None:
                return self._confirm(same, draft, now, warnings)
            fact_id = self._new_id()
            new = replace(draft, id=fact_id, version=1, created_at=now, status_at=now,
                          last_confirmed_at=now)
            similar = self._similar(new)
            self._commit([new])
            return RecordResult(fact_id, 1, "recorded", new, similar, warnings)

    def _new_id(self) -> str:
        while True:
            fact_id = "f-" + secrets.token_hex(4)
            if fact_id not in self._latest:
                return fact_id

    def _supersede(
        self, target_id: str, draft: Fact, now: str, warnings: list[str], inherit_anchors: bool
    ) -> RecordResult:
        if not isinstance(target_id, str) or target_id not in self._latest:
            raise FactError(f"cannot supersede unknown fact id {target_id!r}: {_LIST_HINT}")
        latest = self._versions[(target_id, self._latest[target_id])]
        if inherit_anchors:
            draft = replace(draft, about=self._rehash(latest.about))
        if latest.status == "active" and _same_content(latest, draft):
            return self._confirm(latest, draft, now, warnings)
        new = replace(
            draft, id=target_id, version=latest.version + 1, created_at=now, status_at=now,
            last_confirmed_at=now, change=f"supersedes v{latest.version}",
        )
        rows = [new]
        if latest.status == "active":
            rows.insert(0, replace(latest, status="superseded", status_at=now,
                                   reason=f"superseded by v{new.version}"))
        similar = self._similar(new)
        self._commit(rows)
        return RecordResult(target_id, new.version, "new version", new, similar, warnings)

    def _confirm(self, old: Fact, draft: Fact, now: str, warnings: list[str]) -> RecordResult:
        """The same fact again: count the confirmation; what the new recording adds
        (evidence, mitigation, pin, a higher confidence) becomes a new version."""
        merged = replace(
            old,
            evidence=draft.evidence or old.evidence,
            mitigation=draft.mitigation or old.mitigation,
            pinned=old.pinned or draft.pinned,
            confidence=max(old.confidence, draft.confidence),
            about=draft.about,  # stamped now: a changed anchor makes a new version
            confirmations=old.confirmations + 1,
            last_confirmed_at=now,
        )
        if _same_content(merged, old):
            merged = replace(merged, about=old.about)
            self._commit([merged])
            return RecordResult(old.id, old.version, "confirmed", merged,
                                self._similar(merged), warnings)
        new = replace(merged, version=old.version + 1, created_at=now, status_at=now,
                      change=f"confirms v{old.version} with more", source=draft.source)
        retired = replace(old, status="superseded", status_at=now,
                          reason=(f"confirmed as v{new.version} with new evidence, "
                                  "mitigation, pin, confidence or anchor hashes"))
        self._commit([retired, new])
        return RecordResult(old.id, new.version, "confirmed", new, self._similar(new), warnings)

    def _similar(self, fact: Fact) -> list[Similar]:
        s = self.settings
        found = []
        for other, score in self._index.similar(fact, s):
            if other.id != fact.id and (score >= s.similar_jaccard or score >= s.similar_ratio):
                found.append(Similar(other, round(score, 3)))
        found.sort(key=lambda x: (-x.similarity, x.fact.id))
        return found[: s.similar_limit]

    def forget(self, fact_id: str, reason: str) -> Fact:
        """Archive a fact: it leaves recall but stays listable and restorable."""
        if not isinstance(reason, str) or not reason.strip():
            raise FactError(
                f"forgetting {fact_id!r} needs a reason: say why the fact no longer holds"
            )
        with self._writing():
            if not isinstance(fact_id, str) or fact_id not in self._latest:
                raise FactError(f"cannot forget unknown fact id {fact_id!r}: {_LIST_HINT}")
            latest = self._versions[(fact_id, self._latest[fact_id])]
            if latest.status != "active":
                raise FactError(
                    f"fact {fact_id} v{latest.version} is already {latest.status} "
                    f"({latest.reason or 'no reason'}): nothing to forget; "
                    f"`ctxfold facts restore {fact_id}` brings it back"
                )
            now = self._now()
            archived = replace(latest, status="archived", status_at=now, reason=reason.strip())
            self._commit([archived])
            return archived

    def restore(self, fact_id: str, version: int | None = None, source: str = "agent") -> Fact:
        """Re-publish a version as a new active version: the latest (when archived) if
        ``version`` is None, else that earlier version (a rollback). Returns the new one."""
        source = _check_source(source)
        with self._writing():
            if not isinstance(fact_id, str) or fact_id not in self._latest:
                raise FactError(f"cannot restore unknown fact id {fact_id!r}: {_LIST_HINT}")
            latest = self._versions[(fact_id, self._latest[fact_id])]
            if version is None:
                if latest.status == "active":
                    raise FactError(
                        f"fact {fact_id} v{latest.version} is active already: to roll back, "
                        f"give a version (`ctxfold facts history {fact_id}` lists them)"
                    )
                base = latest
            else:
                base = self._versions.get((fact_id, version)) if isinstance(version, int) else None
                if base is None:
                    raise FactError(
                        f"fact {fact_id} has no version {version!r} (it has 1..{latest.version}): "
                        f"run `ctxfold facts history {fact_id}`"
                    )
                if base.status == "active":
                    raise FactError(f"fact {fact_id} v{version} is the active version already")
            now = self._now()
            new = replace(
                base, version=latest.version + 1, status="active", created_at=now,
                status_at=now, reason=None, source=source, change=f"restores v{base.version}",
                about=self._rehash(base.about), confirmations=1, last_confirmed_at=now,
                last_served_at=None, served_count=0,
            )
            rows = [new]
            if latest.status == "active":
                rows.insert(0, replace(latest, status="superseded", status_at=now,
                                       reason=f"rolled back to v{base.version} as v{new.version}"))
            self._commit(rows)
            return new

    def _rehash(self, anchors: tuple[Anchor, ...]) -> tuple[Anchor, ...]:
        """Anchors of a restored version, stamped with today's hashes where they resolve
        (the restored fact is asserted anew, now)."""
        if not self.resolve_anchor:
            return anchors
        out = []
        for anchor in anchors:
            found = self.resolve_anchor(anchor.text) if anchor.is_code else None
            out.append(replace(found, text=anchor.text) if found else anchor)
        return tuple(out)

    def mark_served(self, ids: Iterable[str]) -> int:
        """Note that these facts were served to an agent now (for the archive policy).
        Unknown or inactive ids are skipped. Returns how many were marked."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        with self._writing():
            now = self._now()
            rows = [
                replace(f, last_served_at=now, served_count=f.served_count + 1)
                for f in (self._active.get(i) for i in wanted) if f is not None
            ]
            # Served stats are bookkeeping: not worth flushing the file system for.
            self._commit(rows, sync=False)
            return len(rows)

    def apply_archive_policy(self, now: datetime | None = None) -> list[Fact]:
        """Archive active, unpinned facts with confidence below the threshold that were
        not served, confirmed or recorded for ``archive_after_days``. Returns them."""
        s = self.settings
        moment = now or self._clock()
        if moment.tzinfo is None:
            raise FactError(f"now={moment!r} has no time zone: pass an aware datetime (UTC)")
        cutoff = moment - timedelta(days=s.archive_after_days)
        with self._writing():
            stamp = _iso(moment)
            rows = []
            for fact in sorted(self._active.values(), key=lambda f: f.id):
                if self._pinned(fact) or fact.confidence >= s.archive_below_confidence:
                    continue
                seen = max(
                    _parse_time(t) for t in
                    (fact.created_at, fact.last_confirmed_at, fact.last_served_at) if t
                )
                if seen < cutoff:
                    rows.append(replace(
                        fact, status="archived", status_at=stamp,
                        reason=(f"archive policy: confidence {fact.confidence:g} < "
                                f"{s.archive_below_confidence:g} and not served since "
                                f"{_short_time(_iso(seen))} ({s.archive_after_days} days)"),
                    ))
            self._commit(rows)
            return rows

    def _pinned(self, fact: Fact) -> bool:
        return fact.pinned or (
            fact.type == "invariant" and fact.confidence >= self.settings.pinned_invariant_confidence
        )

    # ----------------------------------------------------------------- recall

    def relevant_facts(
        self,
        task: str,
        symbol_ids: Iterable[str] = (),
        paths: Iterable[str] = (),
        limit: int = 10,
        *,
        current_hash: Callable[[Anchor], str | None] | None = None,
    ) -> list[tuple[Fact, float]]:
        """Active facts for a task, best first: pinned invariants always first, then
        facts ranked by word overlap with the task (BM25), anchors among the given
        symbols or files, and recent failures and decisions. With ``current_hash`` the
        score is scaled by the staleness-adjusted confidence. Does not mark them served:
        call ``mark_served`` with the ids actually shown."""
        s = self.settings
        limit = max(limit, 0)
        with self._mutex:
            self._refresh()
            index = self._index
            base = np.zeros(index.capacity)
            text = index.bm25(tokenize(task), s.bm25_k1, s.bm25_b)
            if text is not None and text.max() > 0:
                share = text / text.max()
                base += np.where(share >= s.min_text_share, s.weight_text * share, 0.0)
            for fact_id, weight in self._anchor_hits(set(symbol_ids), set(paths)).items():
                base[index.slot_of[fact_id]] += weight
            age = (self._clock().timestamp() - index.created[: index.capacity]) / 86400
            recent = index.recent_kind[: index.capacity] & (base > 0) & (age >= 0) & (
                age < s.recent_days)
            base += np.where(recent, s.weight_recent * (1 - age / s.recent_days), 0.0)
            pinned_ids = set(index.pinned)
            pinned = [index.slot_of[fid] for fid in pinned_ids]
            score = base * (0.5 + 0.5 * index.confidence[: index.capacity])
            score[pinned] += s.pinned_bonus
            wanted = (limit * (s.stale_rescore_factor if current_hash else 1)) + len(pinned)
            hits = np.flatnonzero(score > 0)
            if len(hits) > wanted:
                # Take ties at the cut too, so that the order below is deterministic.
                cut = -np.partition(-score[hits], wanted - 1)[wanted - 1]
                hits = hits[score[hits] >= cut]
            ranked = [(index.facts[index.id_at[slot]], float(score[slot]), float(base[slot]))
                      for slot in hits.tolist()]
        if current_hash is not None:
            ranked = [
                (fact, base * (0.5 + 0.5 * check_anchors(fact, current_hash, s).effective_confidence)
                 + (s.pinned_bonus if fact.id in pinned_ids else 0.0), base)
                for fact, _, base in ranked
            ]
        ranked.sort(key=lambda item: (-item[1], item[0].id))
        return [(fact, round(score, 4)) for fact, score, _ in ranked[:limit]]

    def _anchor_hits(self, symbols: set[str], paths: set[str]) -> dict[str, float]:
        """Anchor weight per fact: its symbol is one of the task's (full symbol weight),
        its free text names one (half), it sits in one of the task's files (full path
        weight) or in the file of one of the task's symbols (half)."""
        s = self.settings
        anchors = self._index.anchors
        hits: dict[str, float] = {}

        def bump(ids: Iterable[str], weight: float) -> None:
            for fact_id in ids:
                hits[fact_id] = hits.get(fact_id, 0.0) + weight

        names = set()
        for sid in symbols:
            bump(anchors["symbol"].get(sid, ()), s.weight_symbol)
            qualname = sid.rpartition(":")[2]
            if qualname:
                names |= {qualname.lower(), qualname.rpartition(".")[2].lower()}
        for name in names:
            bump(anchors["text"].get(name, ()), s.weight_symbol / 2)
        for path in paths:
            bump(anchors["path"].get(path, ()), s.weight_path)
            bump(anchors["text"].get(path.lower(), ()), s.weight_path / 2)
        for path in {sid.rpartition(":")[0] for sid in symbols} - paths:
            bump(anchors["path"].get(path, ()), s.weight_path / 2)
        return hits

    # ----------------------------------------------------------------- export / import

    def export_jsonl(self, fp: IO[str]) -> int:
        """Write every version of every fact, one JSON object a line, sorted by (id,
        version), keys sorted. Returns the number of lines."""
        with self._mutex:
            self._refresh()
            facts = [self._versions[k] for k in sorted(self._versions)]
        for fact in facts:
            fp.write(_export_line(fact) + "\n")
        fp.flush()
        return len(facts)

    def import_jsonl(self, fp: IO[str]) -> ImportReport:
        """Import an export. Idempotent: a version already here with the same text is
        merged (statuses only move forward, counters take the maximum); one with other
        text is a conflict, reported and skipped. Bad lines are reported by number and
        the rest is imported."""
        report = ImportReport()
        parsed: list[tuple[int, Fact]] = []
        for number, line in enumerate(fp, start=1):
            if not line.strip():
                continue
            try:
                parsed.append((number, _parse_export_line(line)))
            except (ValueError, TypeError, KeyError) as exc:
                report.errors.append((number, str(exc)))
        with self._writing():
            staged: dict[tuple[str, int], Fact] = {}
            for number, fact in parsed:
                key = (fact.id, fact.version)
                existing = staged.get(key) or self._versions.get(key)
                if existing is None:
                    staged[key] = fact
                    report.added += 1
                    continue
                if not _same_version(existing, fact):
                    report.conflicts.append((number, (
                        f"{fact.id} v{fact.version} exists here with other content; kept "
                        f"this store's version (compare with `ctxfold facts show {fact.id} "
                        f"--version {fact.version}`)")))
                    continue
                merged = _merge_state(existing, fact)
                if merged == existing:
                    report.unchanged += 1
                else:
                    staged[key] = merged
                    report.merged += 1
            staged.update(self._retire_extra_active(staged))
            self._commit(list(staged.values()))
        return report

    def _retire_extra_active(self, staged: dict[tuple[str, int], Fact]) -> dict:
        """Keep one active version per fact (the newest) when an import brought two."""
        state = {**self._versions, **staged}
        newest: dict[str, int] = {}
        for (fact_id, version), fact in state.items():
            if fact.status == "active":
                newest[fact_id] = max(newest.get(fact_id, 0), version)
        fixes = {}
        for (fact_id, version), fact in state.items():
            if fact.status == "active" and version < newest[fact_id]:
                fixes[(fact_id, version)] = replace(
                    fact, status="superseded", status_at=state[(fact_id, newest[fact_id])].created_at,
                    reason=f"superseded by v{newest[fact_id]} (import)")
        return fixes


# --------------------------------------------------------------------------- the active index


class _Posting:
    """One word's postings: slots and term frequencies in numpy arrays, so a query scores
    a common word in one vectorised step. New entries wait in Python lists until the
    next query moves them over; removal zeroes an entry (a tombstone), and the arrays
    are packed when tombstones outnumber live entries."""

    __slots__ = ("slots", "tfs", "size", "new_slots", "new_tfs", "where")

    def __init__(self) -> None:
        self.slots = np.zeros(0, dtype=np.int64)
        self.tfs = np.zeros(0, dtype=np.float64)
        self.size = 0  # entries in the arrays; later positions are in the lists
        self.new_slots: list[int] = []
        self.new_tfs: list[float] = []
        self.where: dict[int, int] = {}  # slot -> position

    @property
    def df(self) -> int:
        return len(self.where)

    def add(self, slot: int, tf: int) -> None:
        self.where[slot] = self.size + len(self.new_slots)
        self.new_slots.append(slot)
        self.new_tfs.append(float(tf))

    def remove(self, slot: int) -> None:
        position = self.where.pop(slot)
        if position < self.size:
            self.tfs[position] = 0.0
        else:
            self.new_tfs[position - self.size] = 0.0
        if self.where and len(self.where) * 2 < self.size + len(self.new_slots):
            self._pack()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.new_slots:
            total = self.size + len(self.new_slots)
            if total > len(self.slots):
                self.slots = np.resize(self.slots, max(8, 2 * total))
                self.tfs = np.resize(self.tfs, max(8, 2 * total))
            self.slots[self.size : total] = self.new_slots
            self.tfs[self.size : total] = self.new_tfs
            self.size = total
            self.new_slots, self.new_tfs = [], []
        return self.slots[: self.size], self.tfs[: self.size]

    def _pack(self) -> None:
        slots, tfs = self.arrays()
        live = tfs > 0
        self.slots, self.tfs = slots[live].copy(), tfs[live].copy()
        self.size = len(self.slots)
        self.where = {slot: i for i, slot in enumerate(self.slots.tolist())}


class _ActiveIndex:
    """Indexes over the active facts: words (BM25), anchors, exact-duplicate keys, and
    per-fact numbers (confidence, length, age) in numpy arrays indexed by a slot, so
    that ranking 10,000 facts takes a few vectorised steps instead of a Python loop."""

    def __init__(self, is_pinned: Callable[[Fact], bool]) -> None:
        self.is_pinned = is_pinned
        self.pinned: set[str] = set()  # served first, always
        self.facts: dict[str, Fact] = {}
        self.slot_of: dict[str, int] = {}
        self.id_at: list[str | None] = []
        self.free: list[int] = []
        self.postings: dict[str, _Posting] = {}
        self.total_length = 0
        self.length = np.zeros(0)
        self.confidence = np.zeros(0)
        self.created = np.zeros(0)  # epoch seconds
        self.recent_kind = np.zeros(0, dtype=bool)  # a failure or a decision
        self.words: dict[str, frozenset[str]] = {}  # fact id -> words of the fact text
        self.doc_words: dict[str, tuple[str, ...]] = {}  # fact id -> every indexed word
        self.norms: dict[str, str] = {}  # fact id -> normalized fact text
        # Anchor lookups, all -> set of fact ids: "symbol" by symbol id, "path" by file
        # (of symbols and files alike), "text" by lower-cased free text, "key" by Anchor.key.
        self.anchors: dict[str, dict[str, set[str]]] = {
            "symbol": {}, "path": {}, "text": {}, "key": {}}
        self.exact_keys: dict[tuple, str] = {}

    @property
    def capacity(self) -> int:
        return len(self.id_at)

    @staticmethod
    def _extra_tokens(fact: Fact) -> list[str]:
        """Words indexed besides the fact's own: the mitigation and the anchors' names."""
        parts = [fact.mitigation or ""]
        parts += [a.symbol_id.rpartition(":")[2] or a.path or a.text for a in fact.about]
        return tokenize(" ".join(parts))

    @staticmethod
    def _anchor_entries(fact: Fact) -> set[tuple[str, str]]:
        entries = set()
        for anchor in fact.about:
            entries.add(("key", anchor.key))
            if anchor.symbol_id:
                entries.add(("symbol", anchor.symbol_id))
            if anchor.path:
                entries.add(("path", anchor.path))
            if not anchor.is_code:
                entries.add(("text", anchor.text.strip().lower()))
        return entries

    @staticmethod
    def exact_key(fact: Fact) -> tuple:
        return (normalize_text(fact.fact), fact.type, frozenset(a.key for a in fact.about))

    def _take_slot(self, fid: str) -> int:
        if self.free:
            slot = self.free.pop()
            self.id_at[slot] = fid
        else:
            slot = len(self.id_at)
            self.id_at.append(fid)
            if slot >= len(self.length):
                grown = max(64, 2 * len(self.length))
                self.length = np.resize(self.length, grown)
                self.confidence = np.resize(self.confidence, grown)
                self.created = np.resize(self.created, grown)
                self.recent_kind = np.resize(self.recent_kind, grown)
        self.slot_of[fid] = slot
        return slot

    def add(self, fact: Fact) -> None:
        fid = fact.id
        slot = self._take_slot(fid)
        self.facts[fid] = fact
        if self.is_pinned(fact):
            self.pinned.add(fid)
        own = tokenize(fact.fact)
        counts = Counter(own)
        counts.update(self._extra_tokens(fact))
        for word, tf in counts.items():
            posting = self.postings.get(word)
            if posting is None:
                posting = self.postings[word] = _Posting()
            posting.add(slot, tf)
        length = sum(counts.values())
        self.total_length += length
        self.length[slot] = length
        self.confidence[slot] = fact.confidence
        self.created[slot] = _parse_time(fact.created_at).timestamp()
        self.recent_kind[slot] = fact.type in ("failure", "decision")
        self.words[fid] = frozenset(own)
        self.doc_words[fid] = tuple(counts)
        self.norms[fid] = normalize_text(fact.fact)
        for table, key in self._anchor_entries(fact):
            self.anchors[table].setdefault(key, set()).add(fid)
        self.exact_keys[self.exact_key(fact)] = fid

    def remove(self, fact: Fact) -> None:
        fid = fact.id
        slot = self.slot_of.pop(fid)
        self.facts.pop(fid, None)
        self.pinned.discard(fid)
        for word in self.doc_words.pop(fid, ()):
            posting = self.postings.get(word)
            if posting is not None and slot in posting.where:
                posting.remove(slot)
                if not posting.df:
                    del self.postings[word]
        self.total_length -= int(self.length[slot])
        self.length[slot] = self.confidence[slot] = self.created[slot] = 0
        self.recent_kind[slot] = False
        self.id_at[slot] = None
        self.free.append(slot)
        self.words.pop(fid, None)
        self.norms.pop(fid, None)
        for table, key in self._anchor_entries(fact):
            bucket = self.anchors[table].get(key)
            if bucket is not None:
                bucket.discard(fid)
                if not bucket:
                    del self.anchors[table][key]
        key = self.exact_key(fact)
        if self.exact_keys.get(key) == fid:
            del self.exact_keys[key]

    def exact(self, draft: Fact) -> Fact | None:
        fid = self.exact_keys.get(self.exact_key(draft))
        return self.facts.get(fid) if fid else None

    def similar(self, fact: Fact, settings: FactSettings) -> Iterator[tuple[Fact, float]]:
        """Active facts of the same type whose anchors overlap (or that have none, like
        this one), with their similarity to ``fact``; only the candidates sharing the
        most words are compared character by character."""
        words = frozenset(tokenize(fact.fact))
        norm = normalize_text(fact.fact)
        if fact.about:
            keys = self.anchors["key"]
            pool = set().union(*(keys.get(a.key, set()) for a in fact.about))
            ranked = sorted(pool, key=lambda fid: (-len(words & self.words[fid]), fid))
            candidates = ranked[: settings.similar_candidates]
        else:
            shared = np.zeros(self.capacity)
            for word in words:
                posting = self.postings.get(word)
                if posting is not None:
                    slots, tfs = posting.arrays()
                    shared[slots] += tfs > 0
            hits = np.flatnonzero(shared)
            if len(hits) > settings.similar_candidates:
                top = np.argpartition(-shared[hits], settings.similar_candidates)
                hits = hits[top[: settings.similar_candidates]]
            candidates = [self.id_at[slot] for slot in hits.tolist()]
        for fid in candidates:
            other = self.facts[fid]
            if other.type != fact.type or (not fact.about and other.about):
                continue
            yield other, _similarity(norm, words, self.norms[fid], self.words[fid], settings)

    def bm25(self, query: list[str], k1: float, b: float) -> np.ndarray | None:
        """BM25 of every slot for the query words (None when no word is indexed)."""
        count = len(self.facts)
        postings = [self.postings[w] for w in set(query) if w in self.postings]
        if not count or not postings:
            return None
        average = self.total_length / count or 1.0
        scores = np.zeros(self.capacity)
        for posting in postings:
            slots, tfs = posting.arrays()
            idf = math.log(1 + (count - posting.df + 0.5) / (posting.df + 0.5))
            norm = k1 * (1 - b + b * self.length[slots] / average)
            # Slots are unique within a posting, so plain fancy-index += is exact.
            scores[slots] += idf * tfs * (k1 + 1) / (tfs + norm)
        return scores


# --------------------------------------------------------------------------- module helpers


def _same_content(a: Fact, b: Fact) -> bool:
    """Same statement about the same code: text, type, evidence, mitigation,
    confidence, pin, and anchors with the same hashes (in any order, however written)."""
    return (
        a.fact == b.fact and a.type == b.type and a.evidence == b.evidence
        and a.mitigation == b.mitigation and a.confidence == b.confidence
        and a.pinned == b.pinned
        and {(x.key, x.hash) for x in a.about} == {(x.key, x.hash) for x in b.about}
    )


_VERSION_FIELDS = ("fact", "type", "evidence", "mitigation", "confidence", "about", "pinned",
                   "source", "created_at", "change")


def _same_version(a: Fact, b: Fact) -> bool:
    """Two copies of one version (from two stores) say exactly the same thing."""
    return all(getattr(a, name) == getattr(b, name) for name in _VERSION_FIELDS)


_STATUS_RANK = {"active": 0, "superseded": 1, "archived": 1}


def _merge_state(here: Fact, there: Fact) -> Fact:
    """One version's state from two stores: statuses only move forward (active →
    superseded or archived), counters and last-seen times take the maximum."""
    if _STATUS_RANK[there.status] > _STATUS_RANK[here.status] or (
        _STATUS_RANK[there.status] == _STATUS_RANK[here.status] and there.status != here.status
        and there.status_at > here.status_at
    ):
        status, status_at, reason = there.status, there.status_at, there.reason
    else:
        status, status_at, reason = here.status, here.status_at, here.reason
    served = [t for t in (here.last_served_at, there.last_served_at) if t]
    return replace(
        here, status=status, status_at=status_at, reason=reason,
        confirmations=max(here.confirmations, there.confirmations),
        last_confirmed_at=max(here.last_confirmed_at, there.last_confirmed_at),
        last_served_at=max(served) if served else None,
        served_count=max(here.served_count, there.served_count),
    )


def _export_line(fact: Fact) -> str:
    data = fact.to_dict()
    data["schema_version"] = SCHEMA_VERSION
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


_EXPORT_KEYS = set(Fact.__dataclass_fields__) | {"schema_version"}
_REQUIRED_KEYS = {"id", "version", "fact", "type", "status", "confidence", "created_at"}


def _parse_export_line(line: str) -> Fact:
    """One export line → Fact, checked; raises ValueError naming the problem."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    schema = data.pop("schema_version", SCHEMA_VERSION)
    if schema != SCHEMA_VERSION:
        raise ValueError(f"schema_version {schema!r}, this ctxfold reads {SCHEMA_VERSION}")
    unknown = set(data) - _EXPORT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    missing = _REQUIRED_KEYS - set(data)
    if missing:
        raise ValueError(f"missing keys {sorted(missing)}")
    fact_id = data["id"]
    if not isinstance(fact_id, str) or not _ID_RE.match(fact_id):
        raise ValueError(f"bad id {fact_id!r}")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"bad version {version!r} (a whole number from 1)")
    if data["status"] not in STATUSES:
        raise ValueError(f"bad status {data['status']!r} (one of {', '.join(STATUSES)})")
    if data.get("source", "agent") not in SOURCES:
        raise ValueError(f"bad source {data['source']!r} (one of {', '.join(SOURCES)})")
    for key in ("fact", "created_at"):
        if not isinstance(data[key], str) or not data[key]:
            raise ValueError(f"bad {key} {data[key]!r}")
    for key in ("created_at", "status_at", "last_confirmed_at", "last_served_at"):
        if data.get(key):
            _parse_time(data[key])
    for key in ("confirmations", "served_count"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"bad {key} {value!r}")
    try:
        data["type"] = _check_type(data["type"])
        data["confidence"] = _check_confidence(data["confidence"])
    except FactError as exc:
        raise ValueError(str(exc)) from None
    about = data.get("about", [])
    if not isinstance(about, list):
        raise ValueError("about is not a list")
    anchors = []
    for item in about:
        if not isinstance(item, dict) or set(item) - {"text", "symbol_id", "path", "hash"} \
                or not all(isinstance(v, str) for v in item.values()) or "text" not in item:
            raise ValueError(f"bad anchor {item!r}")
        anchors.append(Anchor(**item))
    data["about"] = tuple(anchors)
    data.setdefault("status_at", data["created_at"])
    data.setdefault("last_confirmed_at", data["created_at"])
    if not isinstance(data.get("pinned", False), bool):
        raise ValueError(f"bad pinned {data['pinned']!r}")
    return Fact(**data)


def _table_schema_version(table) -> int:
    metadata = table.schema.metadata or {}
    raw = metadata.get(_SCHEMA_META_KEY)
    if raw is None:
        raise FactStorageError(
            "a table named 'facts' exists but was not written by ctxfold's fact memory "
            "(no schema version): move the store aside or pass another --store"
        )
    return int(raw)


def check_anchors(
    fact: Fact,
    current_hash: Callable[[Anchor], str | None],
    settings: FactSettings = DEFAULT_SETTINGS,
) -> Staleness:
    """Compare a fact's anchors with the code as it is now. ``current_hash(anchor)``
    returns the anchor's content hash today, or None when its symbol or file is gone.
    Free-text anchors are not checked. Orphaned: every code anchor is gone; changed:
    some code anchor changed or went away; fresh otherwise."""
    code = [a for a in fact.about if a.is_code]
    changed, gone = [], []
    for anchor in code:
        now = current_hash(anchor)
        if now is None:
            gone.append(anchor.text)
        elif now != anchor.hash:
            changed.append(anchor.text)
    if code and len(gone) == len(code):
        state, factor = "orphaned", settings.orphaned_factor
    elif changed or gone:
        state, factor = "changed", settings.changed_factor
    else:
        state, factor = "fresh", 1.0
    return Staleness(state, fact.created_at, round(fact.confidence * factor, 4),
                     tuple(changed), tuple(gone))


def render_fact_line(fact: Fact, staleness: Staleness | None = None) -> str:
    """One compact line for an agent:
    ``[failure f-1a2b3c4d 2026-11-20T10:00Z conf 0.48 (code changed since …)] text — mitigation: …``
    The confidence shown is the effective one when staleness is given."""
    conf = staleness.effective_confidence if staleness else fact.confidence
    version = f" v{fact.version}" if fact.version > 1 else ""
    head = f"{fact.type} {fact.id}{version} {_short_time(fact.created_at)} conf {conf:.2g}"
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


def relevant_facts(
    store: FactStore,
    task: str,
    symbol_ids: set[str],
    paths: set[str],
    limit: int = 10,
    *,
    current_hash: Callable[[Anchor], str | None] | None = None,
) -> list[tuple[Fact, float]]:
    """The facts recall serves for a task: see ``FactStore.relevant_facts``."""
    return store.relevant_facts(task, symbol_ids, paths, limit, current_hash=current_hash)


def record_fact(store: FactStore, fact: str, type: str, **kwargs: Any) -> RecordResult:
    """The ``record_fact`` tool's core: see ``FactStore.record``."""
    return store.record(fact, type, **kwargs)


def forget_fact(store: FactStore, id: str, reason: str) -> Fact:
    """The ``forget_fact`` core: see ``FactStore.forget``."""
    return store.forget(id, reason)
