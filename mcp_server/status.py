"""ctxfold status: what the index holds and how fresh it is."""

from __future__ import annotations

import os
import time
from collections import Counter

from indexers.history import describe_history
from indexers.paths import in_test_fixtures

from .workspace import Workspace


def status(ws: Workspace) -> dict:
    ix = ws.indexer
    ix.load()
    langs = Counter(pf.language for pf in ix.files.values())
    by_kind, by_resolution = ix.edge_counts()
    changed: list[str] = []
    if ix.generation:
        for rel, rec in ix.records.items():
            try:
                st = os.stat(ws.repo / rel)
            except OSError:
                changed.append(rel)
                continue
            if st.st_mtime_ns != rec.mtime_ns or st.st_size != rec.size:
                changed.append(rel)
        fresh = ix.looks_fresh()
    else:
        fresh = False
    report = {
        "repo": str(ws.repo),
        "store": str(ws.store_dir),
        "indexed": bool(ix.generation),
        "generation": ix.generation,
        "index_age_seconds": round(time.time() - ix.committed_at, 1) if ix.committed_at else None,
        "files": len(ix.files),
        "files_by_language": dict(sorted(langs.items())),
        "symbols": sum(len(pf.symbols) for pf in ix.files.values()),
        "edges": sum(by_kind.values()),
        "edges_by_kind": dict(sorted(by_kind.items())),
        "edges_by_resolution": dict(sorted(by_resolution.items())),
        "skipped": [{"path": s.path, "reason": s.reason} for s in ix.skipped],
        "parse_errors": {p: [list(r) for r in pf.errors] for p, pf in sorted(ix.files.items()) if pf.errors},
        "changed_since_index": sorted(changed),
        "fresh": fresh,
        "history": describe_history(ws.repo, ws.store_dir),
    }
    for extra in _extras():
        report.update(extra(ws))
    return report


def _extras():
    """Sections that other parts of ctxfold add to the status (semantic edges, vectors)."""
    try:
        from .semantic_status import semantic_status
    except ImportError:
        return []
    return [semantic_status]


def render_status(r: dict) -> str:
    if not r["indexed"]:
        return f"{r['repo']}: not indexed yet; run `ctxfold index`"
    age = r["index_age_seconds"]
    lines = [
        f"repo      {r['repo']}",
        f"store     {r['store']} (generation {r['generation']}, {age:.0f} s old)",
        f"files     {r['files']}: " + ", ".join(f"{k} {v}" for k, v in r["files_by_language"].items()),
        f"symbols   {r['symbols']}",
        f"edges     {r['edges']}: " + ", ".join(f"{k} {v}" for k, v in r["edges_by_kind"].items()),
        "resolved  " + ", ".join(f"{k} {v}" for k, v in r["edges_by_resolution"].items()),
        f"history   {r['history']}",
    ]
    for key in sorted(k for k in r if k.startswith(("semantic_", "vectors_", "volatility_"))):
        lines.append(f"{key.replace('_', ' '):16} {r[key]}")
    if r["changed_since_index"]:
        shown = ", ".join(r["changed_since_index"][:10])
        more = len(r["changed_since_index"]) - 10
        lines.append(f"changed   {len(r['changed_since_index'])} files since the index: {shown}" + (f" (+{more})" if more > 0 else ""))
    else:
        lines.append("changed   nothing since the index" if r["fresh"] else "changed   files were added or removed since the index")
    for s in r["skipped"]:
        lines.append(f"skipped   {s['path']}: {s['reason']}")
    for path, ranges in r["parse_errors"].items():
        lines.append(f"errors    {path}: " + ", ".join(f"L{a}-{b}" if a != b else f"L{a}" for a, b in ranges[:5])
                     + (" (a test fixture)" if in_test_fixtures(path) else ""))
    return "\n".join(lines)
