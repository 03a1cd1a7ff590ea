"""Facts meet the code index: anchors resolve through the workspace's symbols, staleness
compares content hashes, and recall, the MCP tools and the CLI share one FactStore per
workspace (``Workspace.facts``)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from indexers.parse import content_hash
from indexers.scan import read_regular
from indexers.types import SemanticEdge, split_symbol_id
from mcp_server.errors import CtxfoldError

from .model import Anchor
from .render import FactLine, render_fact_line
from .scoring import check_anchors
from .store import FactStore, may_hold_facts

if TYPE_CHECKING:
    from mcp_server.workspace import Workspace

_open_lock = threading.Lock()
log = logging.getLogger("ctxfold")


def resolve_anchor(ws: Workspace):
    """Anchor text (``path:Qual.name``, ``Qual.name``, a bare name, a file) → Anchor."""

    def resolve(text: str):
        text = text.strip()
        v = ws.views()
        if text in v.symbols:
            sym = v.symbols[text]
            return Anchor(text, sym.id, sym.path, sym.hash)
        if text in v.by_path:
            return Anchor(text, "", text, ws.indexer.files[text].hash)
        try:
            full = ws.resolve_path(text)
            if full.is_file():
                rel = ws.relpath(full)
                return Anchor(text, "", rel, content_hash(read_regular(full, limit=ws.indexer.max_bytes)))
        except (CtxfoldError, OSError):
            pass
        leaf = text.replace("::", ".").rsplit(".", 1)[-1]
        matches = [s for s in v.by_name.get(leaf.lower(), []) if text in (s.name, s.qualname) or s.qualname.endswith("." + text)]
        if len(matches) == 1:
            sym = matches[0]
            return Anchor(text, sym.id, sym.path, sym.hash)
        return None

    return resolve


def current_hash(ws: Workspace):
    def now(anchor) -> str | None:
        v = ws.views()
        if anchor.symbol_id:
            sym = v.symbols.get(anchor.symbol_id)
            return sym.hash if sym else None
        if anchor.path:
            pf = ws.indexer.files.get(anchor.path)
            if pf is not None:
                return pf.hash
            try:
                return content_hash(read_regular(ws.repo / anchor.path, limit=ws.indexer.max_bytes))
            except OSError:
                return None
        return None

    return now


def fact_store(ws: Workspace) -> FactStore:
    """The workspace's FactStore, opened once."""
    with _open_lock:
        store = ws.facts
        if store is None:
            store = FactStore(ws.store_dir, resolve_anchor(ws))
            ws.facts = store
            # Long-unserved, low-confidence facts are archived (never deleted) once per session.
            archived = store.apply_archive_policy()
            if archived:
                log.info("archived %d long-unserved low-confidence facts (restorable)", len(archived))
            ws.edge_sources.append(lambda: coupling_edges(ws, store))
        return store


def coupling_edges(ws: Workspace, store: FactStore) -> list[SemanticEdge]:
    """Facts that tie two or more symbols together (type coupling, or any fact with several
    code anchors) become semantic edges with the agent as provenance, while their anchors
    keep the hashes they had when the fact was recorded."""

    def now(sid: str) -> str | None:
        # Called while views are built: read the index, not the views.
        path, qualname = split_symbol_id(sid)
        pf = ws.indexer.files.get(path)
        return next((s.hash for s in pf.symbols if s.qualname == qualname), None) if pf else None

    edges = []
    for fact in store.list("active"):
        if sum(1 for a in fact.about if a.symbol_id) < 2:
            continue
        anchors = [a for a in fact.about if a.symbol_id and now(a.symbol_id) == a.hash]
        if len(anchors) < 2:
            continue
        for a, b in zip(anchors, anchors[1:]):
            edges.append(SemanticEdge(a.symbol_id, b.symbol_id, fact.type, " ".join(fact.fact.split())[:160],
                                      fact.confidence, "agent", fact.created_at, a.hash, b.hash))
    return edges


def facts_for(ws: Workspace):
    """recall's facts provider: relevant facts as rendered lines, marked as served."""

    def provide(task: str, symbol_ids: set[str], paths: set[str], mark: bool = True) -> list[FactLine]:
        if ws.facts is None and not may_hold_facts(ws.store_dir):
            return []  # no fact recorded yet: LanceDB need not load
        store = fact_store(ws)
        if not len(store):
            return []
        now = current_hash(ws)
        found = store.relevant_facts(task, symbol_ids, paths, limit=10, current_hash=now)
        lines = [
            FactLine(f.id, render_fact_line(f, check_anchors(f, now)), score, [a.symbol_id for a in f.about if a.symbol_id])
            for f, score in found
        ]
        if lines and mark:
            store.mark_served([line.id for line in lines])
        return lines

    return provide
