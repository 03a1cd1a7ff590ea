"""Facts meet the code index: anchors resolve through the symbols, staleness compares
content hashes, and recall, the MCP tools and the CLI share one FactStore per workspace."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated

from mcp.server.mcpserver import Context
from mcp_types import ToolAnnotations
from pydantic import Field

from indexers.parse import content_hash
from indexers.scan import read_regular

from .errors import CtxfoldError
from .recall import FactLine
from .workspace import Workspace

_open_lock = threading.Lock()
log = logging.getLogger("ctxfold")


def resolve_anchor(ws: Workspace):
    """Anchor text (``path:Qual.name``, ``Qual.name``, a bare name, a file) → Anchor."""
    from .facts import Anchor

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


def fact_store(ws: Workspace):
    """The workspace's FactStore, opened once."""
    from .facts import FactStorageError, FactStore

    with _open_lock:
        store = getattr(ws, "_fact_store", None)
        if store is None:
            try:
                store = FactStore(ws.store_dir, resolve_anchor(ws))
            except FactStorageError as exc:
                raise CtxfoldError(str(exc)) from exc
            ws._fact_store = store
            # Long-unserved, low-confidence facts are archived (never deleted) once per session.
            archived = store.apply_archive_policy()
            if archived:
                log.info("archived %d long-unserved low-confidence facts (restorable)", len(archived))
            ws.edge_sources.append(lambda: coupling_edges(ws, store))
        return store


def coupling_edges(ws: Workspace, store) -> list:
    """Facts that tie two or more symbols together (type coupling, or any fact with several
    code anchors) become semantic edges with the agent as provenance, while their anchors
    keep the hashes they had when the fact was recorded."""
    from indexers.types import SemanticEdge, split_symbol_id

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
    from .facts import check_anchors, render_fact_line

    def provide(task: str, symbol_ids: set[str], paths: set[str], mark: bool = True) -> list[FactLine]:
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


def record_fact(ws: Workspace, fact: str, type: str, **kwargs) -> str:
    from .facts import FactError, render_record_result

    try:
        return render_record_result(fact_store(ws).record(fact, type, **kwargs))
    except FactError as exc:
        raise CtxfoldError(str(exc)) from exc


def forget_fact(ws: Workspace, id: str, reason: str) -> str:
    from .facts import FactError, render_fact_line

    try:
        fact = fact_store(ws).forget(id, reason)
    except FactError as exc:
        raise CtxfoldError(str(exc)) from exc
    return f"archived (restorable with `ctxfold facts restore {fact.id}`): {render_fact_line(fact)}"


def register_fact_tools(mcp, workspace, run) -> None:
    @mcp.tool(structured_output=False, annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    async def record_fact(
        fact: Annotated[str, Field(description="The fact, short (one or two sentences). Put long evidence by reference.")],
        type: Annotated[str, Field(description="failure, invariant, decision, observation, todo or coupling")],
        ctx: Context,
        evidence: Annotated[str | None, Field(description="What shows it: a command and its output, a test, a link.")] = None,
        mitigation: Annotated[str | None, Field(description="What to do about it.")] = None,
        confidence: Annotated[float, Field(description="0 to 1.")] = 0.7,
        about: Annotated[list[str] | None, Field(description="Symbols (path:Class.method or a name) or files it is about.")] = None,
        supersedes: Annotated[str | None, Field(description="Id of a fact this one replaces (a new version of it).")] = None,
        pinned: Annotated[bool, Field(description="Always serve it first (rules that must never be broken).")] = False,
    ) -> str:
        """Remember something the code does not say (a failure and its cause, an invariant, a
        decision and why, a coupling between two places) so it survives compaction and later
        sessions. recall serves it back when a task touches it. Returns the fact's id and
        version, and similar facts already known: supersede one instead of duplicating."""
        ws = workspace(ctx)
        return await run(ctx, ws, _record_fact, ws, fact, type, evidence=evidence, mitigation=mitigation,
                         confidence=confidence, about=about or [], supersedes=supersedes, pinned=pinned)

    @mcp.tool(structured_output=False, annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False))
    async def forget_fact(
        id: Annotated[str, Field(description="The fact's id, e.g. f-1a2b3c4d.")],
        reason: Annotated[str, Field(description="Why it no longer holds.")],
        ctx: Context,
    ) -> str:
        """Archive a fact that no longer holds: it leaves recall but is kept and can be restored.
        Nothing is ever deleted."""
        ws = workspace(ctx)
        return await run(ctx, ws, _forget_fact, ws, id, reason)


# The plain functions, under names the tool functions above do not shadow.
_record_fact = record_fact
_forget_fact = forget_fact


def add_facts_cli(subparsers, common) -> None:
    from .facts_cli import add_facts_command

    def open_store(args):
        ws = Workspace(getattr(args, "repo", None) or ".", getattr(args, "store", None))
        ws.refresh()
        return fact_store(ws)

    parser = add_facts_command(subparsers, open_store)
    parser.add_argument("--repo", default=None, help="repository root (default: the current directory)")
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: REPO/.ctxfold)")
