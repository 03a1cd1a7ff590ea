"""The fact store: an append-only LanceDB table of fact snapshots, written under a file
lock and flushed before a write returns, and an in-memory copy of the current state
refreshed when another process wrote (see the package docstring)."""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from indexers.paths import connect, make_store_dir

from . import schema as table_format
from .exchange import Exchange
from .index import ActiveIndex
from .model import (
    DEFAULT_SETTINGS,
    LIST_HINT,
    STATUSES,
    Anchor,
    Fact,
    FactError,
    FactSettings,
    FactStorageError,
    RecordResult,
    Similar,
    check_confidence,
    check_optional,
    check_source,
    check_text,
    check_type,
    iso,
    same_content,
    utc_now,
)
from .policy import ArchivePolicy
from .schema import (
    LOCK_FILENAME,
    MIGRATIONS,
    TABLE,
    VERSION_NOTE_FILENAME,
    arrow_schema,
    fact_to_row,
    latest_rows,
    row_to_fact,
    table_schema_version,
)
from .scoring import Relevance

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- locking


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



def may_hold_facts(store_dir: Path) -> bool:
    """False when no fact was ever written to this store (so a reader need not load
    LanceDB to find none): the table has no data files."""
    data = Path(store_dir) / "lance" / f"{table_format.TABLE}.lance" / "data"
    try:
        return any(data.iterdir())
    except OSError:
        return False

class FactStore(Relevance, ArchivePolicy, Exchange):
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
        clock: Callable[[], datetime] = utc_now,
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
        self._index = ActiveIndex(self._pinned)
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
            return self._db.create_table(TABLE, schema=arrow_schema(), exist_ok=True)
        table = self._db.open_table(TABLE)
        found = table_schema_version(table)
        if found > table_format.SCHEMA_VERSION:
            raise FactStorageError(
                f"the fact table in {self.store_dir} has schema {found}, newer than this "
                f"ctxfold's {table_format.SCHEMA_VERSION}: upgrade ctxfold (pip install -U ctxfold)"
            )
        if found < table_format.SCHEMA_VERSION:
            table = self._migrate(table, found)
        return table

    def _migrate(self, table, found: int):
        """Rewrite every row into the current schema (a new version of the table, so the
        old one stays on disk), after saving the old rows to a JSON Lines backup."""
        for step in range(found, table_format.SCHEMA_VERSION):
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
        for step in range(found, table_format.SCHEMA_VERSION):
            rows = [MIGRATIONS[step](row) for row in rows]
        for row in rows:
            row["schema_version"] = table_format.SCHEMA_VERSION
        import pyarrow as pa

        schema = arrow_schema()
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
                rows = latest_rows(query.limit(None).to_arrow()).to_pylist()
                break
            except Exception as exc:
                # A version can vanish under a reader when another process's compaction
                # cleans old versions up; the next read sees the new one.
                if attempt == 2:
                    raise FactStorageError(
                        f"cannot read the fact table in {self.store_dir}: {exc}") from exc
        rows.sort(key=lambda r: r["seq"])
        for row in rows:
            self._apply(row_to_fact(row), row["seq"])
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
        rows = [fact_to_row(f, first + i) for i, f in enumerate(facts)]
        before = self._table_version
        try:
            result = self._table.add(pa.Table.from_pylist(rows, schema=arrow_schema()))
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
        return iso(self._clock())

    def _require(self, fact_id: str) -> Fact:
        """The latest version of ``fact_id`` (mutex held, refreshed)."""
        version = self._latest.get(fact_id)
        if version is None:
            raise FactError(f"unknown fact id {fact_id!r}: {LIST_HINT}")
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
        kind = check_type(type) if type is not None else None
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
        text = check_text(fact, s)
        kind = check_type(type)
        evidence = check_optional("evidence", evidence, s)
        mitigation = check_optional("mitigation", mitigation, s)
        conf = check_confidence(confidence)
        source = check_source(source)
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
            raise FactError(f"cannot supersede unknown fact id {target_id!r}: {LIST_HINT}")
        latest = self._versions[(target_id, self._latest[target_id])]
        if inherit_anchors:
            draft = replace(draft, about=self._rehash(latest.about))
        if latest.status == "active" and same_content(latest, draft):
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
        if same_content(merged, old):
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
                raise FactError(f"cannot forget unknown fact id {fact_id!r}: {LIST_HINT}")
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
        source = check_source(source)
        with self._writing():
            if not isinstance(fact_id, str) or fact_id not in self._latest:
                raise FactError(f"cannot restore unknown fact id {fact_id!r}: {LIST_HINT}")
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


    def _pinned(self, fact: Fact) -> bool:
        return fact.pinned or (
            fact.type == "invariant" and fact.confidence >= self.settings.pinned_invariant_confidence
        )


def record_fact(store: FactStore, fact: str, type: str, **kwargs: Any) -> RecordResult:
    """The ``record_fact`` tool's core: see ``FactStore.record``."""
    return store.record(fact, type, **kwargs)


def forget_fact(store: FactStore, id: str, reason: str) -> Fact:
    """The ``forget_fact`` core: see ``FactStore.forget``."""
    return store.forget(id, reason)
