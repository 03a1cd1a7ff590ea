"""The code index on disk: LanceDB tables plus a manifest that commits them together.

Each write makes new LanceDB table versions and a new read model (``readmodel.py``);
only when all are written does ``manifest.json`` (replaced atomically) name them. Readers
map the read model the manifest names (the tables are the store of record, and the
full-text index of ``search_symbols``), so a crash in the middle of a write leaves the
previous index in force, and the next writer rolls the tables back to it before writing.

Writers hold ``index.lock`` (flock), so two index runs never interleave. Facts,
semantic edges and vectors are tables of the same database, owned by other modules:
nothing here touches them.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import time
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import fields
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from .errors import CtxfoldError
from .lockfile import clear_holder, is_current, record_holder, take_over_if_stale
from .paths import connect, make_store_dir, write_atomic
from .types import Edge, ParsedFile, Symbol

SCHEMA_VERSION = 17
CODE_TABLES = ("files", "symbols", "edges")
MANIFEST = "manifest.json"
LOCK = "index.lock"
# Rows per LanceDB append: bounded memory. File rows carry every reference as JSON.
ADD_BATCH = {"files": 200, "symbols": 5_000, "edges": 10_000}
# Descriptors of the write locks this process holds. A forked child shares the lock with
# its parent as long as it keeps the descriptor: parse workers close these first
# (build.py), so that a killed indexer's lock goes with it.
HELD_LOCK_FDS: set[int] = set()


class StoreError(CtxfoldError):
    """The store cannot be used as it is; the message says what to do."""


class StoreBusy(StoreError):
    pass


class StoreIncompatible(StoreError):
    """Written by another schema version, or unreadable: rebuild."""


@lru_cache(maxsize=None)
def _schemas() -> dict:
    """The tables' Arrow schemas (pyarrow loads only for a writer)."""
    import pyarrow as pa

    return {
        "files": pa.schema(
            [
                ("path", pa.string()),
                ("language", pa.string()),
                ("hash", pa.string()),
                ("size", pa.int64()),
                ("mtime_ns", pa.int64()),
                ("lines", pa.int64()),
                ("errors", pa.string()),  # JSON [[start, end], ...]
                ("package", pa.string()),
                ("imports", pa.string()),  # JSON
                ("refs", pa.string()),  # JSON
            ]
        ),
        "symbols": pa.schema(
            [
                ("id", pa.string()),
                ("path", pa.string()),
                ("qualname", pa.string()),
                ("name", pa.string()),
                ("kind", pa.string()),
                ("start_line", pa.int64()),
                ("end_line", pa.int64()),
                ("body_line", pa.int64()),
                ("signature", pa.string()),
                ("doc", pa.string()),
                ("hash", pa.string()),
                ("tokens_full", pa.int64()),
                ("tokens_sig", pa.int64()),
                ("labels", pa.string()),
                ("test", pa.bool_()),
                ("search_text", pa.string()),
            ]
        ),
        "edges": pa.schema(
            [
                ("src", pa.string()),
                ("dst", pa.string()),
                ("src_path", pa.string()),
                ("dst_path", pa.string()),
                ("kind", pa.string()),
                ("resolution", pa.string()),
                ("confidence", pa.float64()),
                ("line", pa.int64()),
            ]
        ),
    }


_ALNUM = re.compile(r"[A-Za-z0-9]+")
_WORD_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_identifier_words(text: str) -> str:
    """``parseHTTPResponse_body`` → ``parse http response body``: words for full-text search."""
    out = []
    for token in _ALNUM.findall(text):
        out.extend(_WORD_PARTS.findall(token))
    return " ".join(w.lower() for w in out)


def search_text(sym: Symbol) -> str:
    return " ".join(
        [sym.qualname, split_identifier_words(sym.qualname), split_identifier_words(sym.signature), sym.labels,
         sym.doc[:300]]
    )


# --- rows <-> types ---------------------------------------------------------------


def file_row(pf: ParsedFile, size: int, mtime_ns: int) -> dict:
    return {
        "path": pf.path,
        "language": pf.language,
        "hash": pf.hash,
        "size": size,
        "mtime_ns": mtime_ns,
        "lines": pf.lines,
        "errors": json.dumps(pf.errors),
        "package": pf.package,
        "imports": json.dumps([[i.module, i.name, i.local, i.line] for i in pf.imports]),
        "refs": json.dumps([[r.chain, r.line, r.scope, r.kind, r.target] for r in pf.refs]),
    }


_SYMBOL_FIELDS = [f.name for f in fields(Symbol)]


def symbol_row(sym: Symbol) -> dict:
    row = {name: getattr(sym, name) for name in _SYMBOL_FIELDS}  # asdict deep-copies: slow
    row["id"] = sym.id
    row["search_text"] = search_text(sym)
    return row


def edge_row(e: Edge) -> dict:
    return {
        "src": e.src,
        "dst": e.dst,
        "src_path": e.src.rpartition(":")[0],
        "dst_path": e.dst.rpartition(":")[0],
        "kind": e.kind,
        "resolution": e.resolution,
        "confidence": e.confidence,
        "line": e.line,
    }


def _arrow_table(rows: list[dict], schema):
    """``pa.Table.from_pylist`` in the system allocator: Arrow's default one (mimalloc)
    keeps the memory of the batches converted, about 20 MB over a large index."""
    import pyarrow as pa

    pool = pa.system_memory_pool()
    columns = [
        pa.array([row[name] for row in rows], type=type_, memory_pool=pool)
        for name, type_ in zip(schema.names, schema.types)
    ]
    return pa.Table.from_arrays(columns, schema=schema)


# --- the store ------------------------------------------------------------------


class CodeStore:
    """The code index tables of one store directory."""

    def __init__(self, store_dir: Path):
        self.dir = Path(store_dir)
        self._db = None

    @property
    def db(self):
        if self._db is None:
            self._db = connect(self.dir)  # makes the store directory if need be
        return self._db

    # manifest

    def manifest(self) -> dict | None:
        """The committed manifest; None when there is no index yet."""
        path = self.dir / MANIFEST
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreIncompatible(f"{path} is unreadable ({exc}); the index will be rebuilt") from exc
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
            found = data.get("schema_version") if isinstance(data, dict) else "?"
            raise StoreIncompatible(
                f"the index in {self.dir} was written by schema version {found}, this ctxfold uses "
                f"{SCHEMA_VERSION}; the index will be rebuilt (facts are kept)"
            )
        return data

    def manifest_mtime(self) -> int:
        try:
            return (self.dir / MANIFEST).stat().st_mtime_ns
        except OSError:
            return 0

    def _write_manifest(self, data: dict) -> None:
        write_atomic(self.dir / MANIFEST, json.dumps(data, indent=1, sort_keys=True))
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    # locking

    @contextmanager
    def write_lock(self, timeout: float = 30.0):
        """Hold the index write lock; StoreBusy if another process keeps it past ``timeout``."""
        make_store_dir(self.dir)
        path = self.dir / LOCK
        deadline = time.monotonic() + timeout
        fh, held = None, False
        try:
            while True:
                if fh is None:
                    fh = open(path, "a+")
                    HELD_LOCK_FDS.add(fh.fileno())
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    if is_current(fh, path):
                        break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(
                            f"another ctxfold process is indexing {self.dir.parent} (lock {path}); "
                            "wait for it to finish, or try again"
                        ) from None
                    if not take_over_if_stale(path):  # held by no live indexer: a fresh lock file
                        time.sleep(0.05)
                        continue
                HELD_LOCK_FDS.discard(fh.fileno())  # replaced: open the lock file now in place
                fh.close()
                fh = None
            record_holder(fh)
            held = True
            yield
        finally:
            if fh is not None:
                if held:
                    clear_holder(fh)
                HELD_LOCK_FDS.discard(fh.fileno())
                fh.close()

    # tables

    def _table(self, name: str, version: int | None):
        if name not in self.db.list_tables().tables:
            tbl = self.db.create_table(name, schema=_schemas()[name])
        else:
            tbl = self.db.open_table(name)
        if version is not None and tbl.version != version:
            tbl.checkout(version)
        return tbl

    def drop_incompatible_tables(self) -> None:
        """Before a rebuild over an index of another schema: drop only the code tables
        whose columns differ from this version's (the others are replaced whole by the
        rebuild's commit). The manifest stays until that commit replaces it."""
        existing = set(self.db.list_tables().tables)
        for name in CODE_TABLES:
            if name not in existing:
                continue
            try:
                same = self.db.open_table(name).schema.equals(_schemas()[name])
            except Exception:  # unreadable: nothing in it is worth keeping
                same = False
            if not same:
                self.db.drop_table(name)

    def commit(self, manifest_extra: dict, replace: dict[str, tuple[str, list[str], Iterable[dict]]], compact: bool = False,
               replace_all: bool = False) -> dict:
        """Replace rows and commit. ``replace[table] = (key column, keys to delete, rows to add)``;
        ``replace_all``: every row of the code tables is deleted first (a rebuild), in new
        table versions, so that the old index stays in force until the manifest names them.

        Call with the write lock held.
        """
        try:
            old = self.manifest()
        except StoreIncompatible:  # another schema's index, being rebuilt: replaced whole
            old, replace_all = None, True
        versions = dict(old["versions"]) if old else {}
        for name in CODE_TABLES:
            tbl = self._table(name, None)
            committed = versions.get(name)
            if committed is not None and tbl.version != committed:
                self._rollback(tbl, committed)
            if name in replace:
                column, keys, rows = replace[name]
                if committed is None and not tbl.count_rows():
                    keys = []  # a new, empty table (a first index): nothing to delete
                elif replace_all:
                    keys = []
                    tbl.delete("true")
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    quoted = ", ".join("'" + k.replace("'", "''") + "'" for k in chunk)
                    tbl.delete(f"{column} IN ({quoted})")
                rows = iter(rows)
                while batch := list(itertools.islice(rows, ADD_BATCH[name])):
                    tbl.add(_arrow_table(batch, _schemas()[name]))
            versions[name] = tbl.version
        generation = (old or {}).get("generation", 0) + 1
        manifest = {
            **manifest_extra,
            "schema_version": SCHEMA_VERSION,
            "generation": generation,
            "versions": versions,
            "committed_at": time.time(),
        }
        self._write_manifest(manifest)
        if compact:
            self.compact()
        return manifest

    @staticmethod
    def _rollback(tbl, committed: int) -> None:
        """A write that crashed before its commit: roll the table back to the committed
        version. One that a compaction deleted (it crashed before naming the new ones)
        leaves the newest, compacted from it."""
        if committed not in {v["version"] for v in tbl.list_versions()}:
            return
        tbl.checkout(committed)
        tbl.restore()

    def compact(self) -> None:
        """Merge the small fragments that incremental writes leave, and delete every table
        version but the newest (readers map the read model, never a table version). Until
        the manifest names the new versions, the committed ones are gone: ``_rollback``
        then keeps the newest, which holds the same rows. Call with the write lock held."""
        tables = {name: self._table(name, None) for name in CODE_TABLES}
        with warnings.catch_warnings():
            # LanceDB warns that readers of an older version would fail: none exist (readers
            # map the read model) and writers hold the lock.
            warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
            for tbl in tables.values():
                tbl.optimize(cleanup_older_than=timedelta(0), delete_unverified=True)
        manifest = self.manifest()
        if manifest is not None:  # the same rows at new versions (the committed ones are gone)
            manifest["versions"] = {name: tbl.version for name, tbl in tables.items()}
            self._write_manifest(manifest)
