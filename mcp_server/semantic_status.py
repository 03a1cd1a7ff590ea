"""The semantic layer's part of ``ctxfold status``: edges by provenance, stale edges,
volatility and vectors."""

from __future__ import annotations

import json
from collections import Counter

from .workspace import Workspace


def semantic_status(ws: Workspace) -> dict:
    lance = ws.store_dir / "lance"
    out: dict = {}
    if (lance / "semantic_edges.lance").exists():
        from indexers.paths import connect
        from indexers.semantic import current_hash_of
        from indexers.semantic_store import load_edges, stale_edges

        edges = load_edges(connect(ws.store_dir))
        stale = stale_edges(edges, current_hash_of(ws.indexer))
        by_source = Counter(e.provenance.split("/")[0] for e in edges)
        out["semantic_edges"] = f"{len(edges)} ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items()))}); {len(stale)} stale"
        out["semantic_stale"] = len(stale)
    else:
        out["semantic_edges"] = "none yet (run `ctxfold enrich`)"
    summary = ws.store_dir / "semantic.json"
    if summary.exists():
        data = json.loads(summary.read_text())
        note = f" ({data['volatility_note']})" if data.get("volatility_note") else ""
        out["volatility_files"] = f"{data['volatile_files']} volatile, {data['stable_files']} stable{note}"
        out["vectors_mode"] = data.get("vectors_mode", "volatile") + (f"; {data['vectors_note']}" if data.get("vectors_note") else "")
    if (lance / "vectors.lance").exists():
        from indexers.paths import connect

        out["vectors_rows"] = connect(ws.store_dir).open_table("vectors").count_rows()
    return out
