"""Export and import: every fact version as one JSON line (keys sorted, stable and
diffable), and an idempotent import that merges state and reports conflicts by line."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import IO

from . import schema as table_format
from .model import (
    ID_RE,
    SOURCES,
    STATUSES,
    Anchor,
    Fact,
    FactError,
    ImportReport,
    check_confidence,
    check_type,
    parse_time,
)


class Exchange:
    """``FactStore``'s export and import (mixed into it: writes under its locks)."""

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
    data["schema_version"] = table_format.SCHEMA_VERSION
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
    schema = data.pop("schema_version", table_format.SCHEMA_VERSION)
    if schema != table_format.SCHEMA_VERSION:
        raise ValueError(f"schema_version {schema!r}, this ctxfold reads {table_format.SCHEMA_VERSION}")
    unknown = set(data) - _EXPORT_KEYS
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    missing = _REQUIRED_KEYS - set(data)
    if missing:
        raise ValueError(f"missing keys {sorted(missing)}")
    fact_id = data["id"]
    if not isinstance(fact_id, str) or not ID_RE.match(fact_id):
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
            parse_time(data[key])
    for key in ("confirmations", "served_count"):
        value = data.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"bad {key} {value!r}")
    try:
        data["type"] = check_type(data["type"])
        data["confidence"] = check_confidence(data["confidence"])
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
