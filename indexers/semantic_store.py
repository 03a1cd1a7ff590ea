"""The ``semantic_edges`` table: couplings no call graph shows, hash-stamped at both ends.

Each producer owns the edges of its provenance: heuristics re-derive all of theirs at
every run and swap them in with ``replace_edges(db, "heuristic:", edges)``; an LLM
enricher working incrementally adds or refreshes its edges with ``upsert_edges``. An
edge is keyed by ``(src, dst, relation, provenance)``: writing the same key again
replaces the row.

An edge is stale when either end's current content hash differs from the one stamped on
it, or the end is gone (``is_stale``). Stale edges stay stored (a producer re-derives
them) but must not count: readers filter with ``fresh_edges``.

The table's schema is versioned in its Arrow metadata. On a version mismatch the table is
rebuilt, carrying over the rows that still fit, and a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, fields

from indexers.errors import CtxfoldError
from indexers.paths import sql_str
from indexers.types import SemanticEdge

log = logging.getLogger(__name__)

TABLE = "semantic_edges"
SCHEMA_VERSION = "1"
_META_KEY = b"ctxfold.schema"
_META_VALUE = f"{TABLE}/{SCHEMA_VERSION}".encode()
_FIELDS = [f.name for f in fields(SemanticEdge)]

CurrentHash = Callable[[str], "str | None"]  # anchor id -> its hash now, None when gone


class SemanticStoreError(CtxfoldError):
    """The semantic edge table could not be read or written."""


def _schema():
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            pa.field("key", text, nullable=False),
            pa.field("src", text),
            pa.field("dst", text),
            pa.field("relation", text),
            pa.field("reason", text),
            pa.field("confidence", pa.float64()),
            pa.field("provenance", text),
            pa.field("created_at", text),
            pa.field("src_hash", text),
            pa.field("dst_hash", text),
        ],
        metadata={_META_KEY: _META_VALUE},
    )


def edge_key(edge: SemanticEdge) -> str:
    return "\x1f".join((edge.src, edge.dst, edge.relation, edge.provenance))


def _row(edge: SemanticEdge) -> dict:
    return {"key": edge_key(edge), **asdict(edge)}


def _table_names(db) -> list[str]:
    return list(db.list_tables().tables)


def _open(db, create: bool = True):
    """The table, created or rebuilt as needed; None if absent and ``create`` is False."""
    if TABLE not in _table_names(db):
        return db.create_table(TABLE, schema=_schema(), exist_ok=True) if create else None
    table = db.open_table(TABLE)
    found = (table.schema.metadata or {}).get(_META_KEY)
    if found == _META_VALUE:
        return table
    # Keep what still fits: LLM edges cost money to derive again.
    kept = []
    for row in table.to_arrow().to_pylist():
        try:
            kept.append(SemanticEdge(**{name: row[name] for name in _FIELDS}))
        except (KeyError, TypeError):
            continue
    log.warning(
        "semantic edges: table schema %s, expected %s; rebuilt it keeping %d edges",
        (found or b"unversioned").decode(), _META_VALUE.decode(), len(kept),
    )
    table = db.create_table(TABLE, schema=_schema(), mode="overwrite")
    if kept:
        table.add(_dedupe([_row(e) for e in kept]))
    return table


def _dedupe(rows: list[dict]) -> list[dict]:
    return list({r["key"]: r for r in rows}.values())


def replace_edges(db, provenance_prefix: str, edges: Iterable[SemanticEdge]) -> int:
    """Make ``edges`` the only stored edges whose provenance starts with the prefix.

    One atomic commit: readers see the old set or the new one, never none. Every edge
    must carry the prefix (a producer only replaces its own). Returns the edge count.
    """
    if not provenance_prefix:
        raise ValueError("replace_edges needs a provenance prefix such as 'heuristic:'")
    rows = _dedupe([_row(e) for e in edges])
    foreign = [r["provenance"] for r in rows if not r["provenance"].startswith(provenance_prefix)]
    if foreign:
        raise ValueError(
            f"replace_edges({provenance_prefix!r}) got an edge of provenance "
            f"{foreign[0]!r}; store it with its own prefix"
        )
    import pyarrow as pa

    owned = f"starts_with(provenance, {sql_str(provenance_prefix)})"
    try:
        table = _open(db)
        if not rows:
            table.delete(owned)
            return 0
        (
            table.merge_insert("key")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(owned)
            .execute(pa.Table.from_pylist(rows, schema=_schema()))
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise SemanticStoreError(f"could not replace {provenance_prefix!r} edges: {exc}") from exc
    return len(rows)


def upsert_edges(db, edges: Iterable[SemanticEdge]) -> int:
    """Add edges, replacing stored ones with the same (src, dst, relation, provenance)."""
    rows = _dedupe([_row(e) for e in edges])
    if not rows:
        return 0
    import pyarrow as pa

    try:
        (
            _open(db)
            .merge_insert("key")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(pa.Table.from_pylist(rows, schema=_schema()))
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise SemanticStoreError(f"could not store {len(rows)} semantic edges: {exc}") from exc
    return len(rows)


def delete_edges(db, edges: Iterable[SemanticEdge]) -> None:
    """Remove the stored edges with the same keys as ``edges``."""
    keys = sorted({edge_key(e) for e in edges})
    try:
        table = _open(db, create=False)
        if table is None:
            return
        for i in range(0, len(keys), 500):
            table.delete("key IN (" + ", ".join(sql_str(k) for k in keys[i:i + 500]) + ")")
    except (OSError, RuntimeError, ValueError) as exc:
        raise SemanticStoreError(f"could not delete {len(keys)} semantic edges: {exc}") from exc


def load_edges(db, provenance_prefix: str | None = None) -> list[SemanticEdge]:
    """Every stored edge (or those of one provenance prefix), stale ones included."""
    try:
        table = _open(db, create=False)
        if table is None:
            return []
        query = table.search().select(_FIELDS)
        if provenance_prefix:
            query = query.where(f"starts_with(provenance, {sql_str(provenance_prefix)})")
        rows = query.limit(None).to_arrow().to_pylist()
    except (OSError, RuntimeError, ValueError) as exc:
        raise SemanticStoreError(f"could not read semantic edges: {exc}") from exc
    edges = [SemanticEdge(**{name: row[name] for name in _FIELDS}) for row in rows]
    edges.sort(key=lambda e: (e.src, e.dst, e.relation, e.provenance))
    return edges


def is_stale(edge: SemanticEdge, current_hash: CurrentHash) -> bool:
    """True when either end is gone or its content changed since the edge was derived."""
    src, dst = current_hash(edge.src), current_hash(edge.dst)
    return src is None or dst is None or src != edge.src_hash or dst != edge.dst_hash


def stale_edges(edges: Iterable[SemanticEdge], current_hash: CurrentHash) -> list[SemanticEdge]:
    return [e for e in edges if is_stale(e, current_hash)]


def fresh_edges(edges: Iterable[SemanticEdge], current_hash: CurrentHash) -> list[SemanticEdge]:
    return [e for e in edges if not is_stale(e, current_hash)]


def hash_lookup(
    symbol_hashes: dict[str, str], file_hashes: dict[str, str]
) -> CurrentHash:
    """A ``current_hash`` for ``is_stale``: symbol ids ``path:qualname`` are looked up in
    ``symbol_hashes``, file nodes ``path:`` in ``file_hashes`` (keyed by path)."""

    def current(anchor: str) -> str | None:
        path, _, qualname = anchor.rpartition(":")
        return symbol_hashes.get(anchor) if qualname else file_hashes.get(path)

    return current


def stored_version(store_dir) -> int:
    """Changes whenever any process writes the table (0 while there is none): readers
    load the edges again only then. (LanceDB adds a file under ``_versions`` per write.)"""
    import os

    from indexers.paths import db_dir

    try:
        return os.stat(db_dir(store_dir) / f"{TABLE}.lance" / "_versions").st_mtime_ns
    except OSError:
        return 0


def load_stored_edges(store_dir) -> list[SemanticEdge]:
    """Every stored edge, or [] without opening LanceDB when the table does not exist."""
    if not stored_version(store_dir):
        return []
    from indexers.paths import connect

    return load_edges(connect(store_dir))
