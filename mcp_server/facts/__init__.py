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

Rooms: ``model`` (the types, settings and input checks), ``schema`` (the table's on-disk
form and migrations), ``store`` (``FactStore``: the table, its lock and flushes, the
in-memory state, recording and versions), ``index`` (the active facts' word and anchor
index), ``scoring`` (relevance and staleness), ``policy`` (served bookkeeping and the
archive policy), ``exchange`` (JSON Lines export and import), ``render`` (what agents
read), and ``code`` (anchors resolved through a workspace's index, the workspace's one
store, coupling facts as semantic edges; imported on its own, as it needs the index).
"""

from __future__ import annotations

from .exchange import Exchange
from .index import normalize_text, tokenize
from .model import (
    DEFAULT_SETTINGS,
    FACT_TYPES,
    SOURCES,
    STATUSES,
    Anchor,
    Fact,
    FactError,
    FactSettings,
    FactStorageError,
    ImportReport,
    RecordResult,
    Similar,
    Staleness,
    count_tokens,
)
from .policy import ArchivePolicy
from .render import FactLine, render_fact_line, render_record_result
from .schema import LOCK_FILENAME, MIGRATIONS, SCHEMA_VERSION, TABLE, VERSION_NOTE_FILENAME
from .scoring import Relevance, check_anchors, relevant_facts
from .store import FactStore, forget_fact, record_fact

__all__ = [
    "DEFAULT_SETTINGS", "FACT_TYPES", "LOCK_FILENAME", "MIGRATIONS", "SCHEMA_VERSION", "SOURCES",
    "STATUSES", "TABLE", "VERSION_NOTE_FILENAME", "Anchor", "ArchivePolicy", "Exchange", "Fact", "FactLine",
    "FactError", "FactSettings", "FactStorageError", "FactStore", "ImportReport", "RecordResult",
    "Relevance", "Similar", "Staleness", "check_anchors", "count_tokens", "forget_fact",
    "normalize_text", "record_fact", "relevant_facts", "render_fact_line",
    "render_record_result", "tokenize",
]
