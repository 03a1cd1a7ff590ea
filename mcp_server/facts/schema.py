"""The fact table's on-disk form: its Arrow schema and version, row conversion, and
the migrations from older versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .model import Anchor, Fact, FactStorageError, anchor_dicts

TABLE = "facts"
LOCK_FILENAME = "facts.lock"
VERSION_NOTE_FILENAME = "facts.version"
SCHEMA_VERSION = 1
_SCHEMA_META_KEY = b"ctxfold.facts.schema_version"

# Row converters for schema migrations: MIGRATIONS[n] turns a row dict written with
# schema n into one for schema n + 1. Empty while schema 1 is the only one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


# --------------------------------------------------------------------------- rows


def arrow_schema():
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



def fact_to_row(fact: Fact, seq: int) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copies dominate the cost of a bulk import.
    row = {name: getattr(fact, name) for name in _FACT_FIELDS}
    row["about"] = json.dumps(anchor_dicts(fact.about), sort_keys=True)
    row["seq"] = seq
    row["schema_version"] = SCHEMA_VERSION
    return row


def row_to_fact(row: dict[str, Any]) -> Fact:
    values = {name: row[name] for name in _FACT_FIELDS}
    values["about"] = tuple(Anchor(**a) for a in json.loads(row["about"]))
    return Fact(**values)


def latest_rows(table):
    """Only the newest row (highest seq) of each fact version: older snapshots (served
    and confirmed counters, status changes) stay on disk but need no Python objects."""
    if table.num_rows < 2:
        return table
    import pyarrow.compute as pc

    newest = table.group_by(["id", "version"]).aggregate([("seq", "max")])
    return table.filter(pc.is_in(table["seq"], value_set=newest["seq_max"]))



def table_schema_version(table) -> int:
    metadata = table.schema.metadata or {}
    raw = metadata.get(_SCHEMA_META_KEY)
    if raw is None:
        raise FactStorageError(
            "a table named 'facts' exists but was not written by ctxfold's fact memory "
            "(no schema version): move the store aside or pass another --store"
        )
    return int(raw)
