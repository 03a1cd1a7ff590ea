"""Tie references to definitions across files.

Each language's plug-in resolves its own files through ``resolve(parsed, index)``,
using the lookups of ``lookup.py``. Resolution is import-aware; where only a bare name
matches, the edge says so (resolution "name") and carries a confidence that falls with
the number of candidates.
"""

from __future__ import annotations

import sys

from .languages import hooks
from .lookup import CONFIDENCE, MAX_NAME_CANDIDATES, ResolveIndex, name_edges
from .types import Edge, ParsedFile, symbol_id

__all__ = ["CONFIDENCE", "MAX_NAME_CANDIDATES", "ResolveIndex", "name_edges", "resolve_file"]


def resolve_file(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    """All outgoing edges of one file: contain, import, call and inherit."""
    file_node = symbol_id(pf.path, "")
    edges: list[Edge] = []
    for sym in pf.symbols:
        parent = sym.parent
        src = symbol_id(pf.path, parent) if parent and index.has(pf.path, parent) else file_node
        edges.append(Edge(src, sym.id, "contain", "local", 1.0, sym.start_line))
    edges.extend(hooks(pf.language).resolve(pf, index))
    # One edge per (src, dst, kind): keep the most confident.
    best: dict[tuple[str, str, str], Edge] = {}
    for e in edges:
        if e.src == e.dst:
            continue
        key = (e.src, e.dst, e.kind)
        if key not in best or e.confidence > best[key].confidence:
            best[key] = e
    # Ids repeat across many edges (and the index holds every edge): one string each.
    kept = list(best.values())
    for e in kept:
        e.src, e.dst = sys.intern(e.src), sys.intern(e.dst)
    return kept
