"""The offline layer over the call graph: volatility, semantic edges and vectors.

``derive`` runs it for an up-to-date index: heuristic edges always; LLM edges for stable
modules when a provider is given; embeddings for the symbols the vectors mode selects.
It never runs on a tool call's critical path. A summary goes to ``semantic.json`` in the
store for ``ctxfold status``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from .build import Indexer
from .enrich import EnrichSettings, enrich
from .heuristics import HEURISTIC_PREFIX, heuristic_edges
from .paths import connect
from .scan import read_source
from .semantic_store import load_edges, replace_edges, stale_edges, upsert_edges
from .vectors import EmbedderUnavailable, VectorSettings, load_embedder, select_for_embedding, update_vectors
from .volatility import compute_volatility

SUMMARY = "semantic.json"
LLM_PREFIX = "llm:"


@dataclass
class DeriveReport:
    volatile_files: int = 0
    stable_files: int = 0
    volatility_note: str = ""
    heuristic_edges: int = 0
    llm_edges: int = 0
    llm_requests: int = 0
    llm_cached: int = 0
    llm_skipped: int = 0
    est_input_tokens: int = 0
    est_output_tokens: int = 0
    degraded: str | None = None
    vectors_embedded: int = 0
    vectors_note: str = ""
    notes: list[str] = field(default_factory=list)


def current_hash_of(indexer: Indexer) -> Callable[[str], str | None]:
    """Anchor id (``path:qualname`` or ``path:``) → its content hash now, None when gone."""
    by_id = {s.id: s.hash for s in indexer.all_symbols()}

    def current(anchor: str) -> str | None:
        if anchor in by_id:
            return by_id[anchor]
        if anchor.endswith(":"):
            pf = indexer.files.get(anchor[:-1])
            return pf.hash if pf else None
        return None

    return current


def derive(
    indexer: Indexer,
    *,
    provider=None,
    stale_only: bool = False,
    dry_run: bool = False,
    vectors_mode: str = "volatile",
    enrich_settings: EnrichSettings | None = None,
    vector_settings: VectorSettings | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
) -> DeriveReport:
    repo = indexer.repo
    report = DeriveReport()
    symbols = indexer.all_symbols()

    def read_text(path: str) -> str:
        return read_source(repo / path)

    def file_hash(path: str) -> str | None:
        pf = indexer.files.get(path)
        return pf.hash if pf else None

    vol = compute_volatility(repo, list(indexer.files), now=now)  # now: the reference time of churn
    report.volatile_files = len(vol.volatile_paths())
    report.stable_files = len(indexer.files) - report.volatile_files
    report.volatility_note = vol.note
    db = connect(indexer.store.dir)

    if not stale_only:
        edges = heuristic_edges(symbols, read_text, file_hash, commits=vol.commits, repo=repo, paths=list(indexer.files))
        report.heuristic_edges = len(edges)
        if not dry_run:
            replace_edges(db, HEURISTIC_PREFIX, edges)

    if provider is not None:
        stable = [s for s in symbols if not vol.is_volatile(s.path)]
        calls = [(e.src, e.dst) for e in indexer.all_edges() if e.kind == "call"]
        only_ids = None
        if stale_only:
            stale = stale_edges(load_edges(db, LLM_PREFIX), current_hash_of(indexer))
            only_ids = {end for e in stale for end in (e.src, e.dst)}
        res = enrich(
            stable, read_text, calls, provider, indexer.store.dir, enrich_settings,
            only_ids=only_ids, dry_run=dry_run,
            progress=(lambda done, total: progress("enrich", done, total)) if progress else None,
        )
        report.llm_edges = len(res.edges)
        report.llm_requests, report.llm_cached, report.llm_skipped = res.requests, res.cached, len(res.skipped)
        report.est_input_tokens, report.est_output_tokens = res.est_input_tokens, res.est_output_tokens
        report.degraded = res.degraded
        if not dry_run:
            # A full, clean run replaces every LLM edge; a partial one only adds and updates.
            if only_ids is None and not res.skipped and res.degraded is None:
                replace_edges(db, LLM_PREFIX, res.edges)
            else:
                upsert_edges(db, res.edges)

    if vectors_mode != "off" and not dry_run:
        settings = vector_settings or VectorSettings(mode=vectors_mode)
        chosen = select_for_embedding(symbols, vol, vectors_mode)
        if chosen or (Path(indexer.store.dir) / "lance" / "vectors.lance").exists():
            # An empty selection still runs, to drop rows no longer selected.
            try:
                embedder = load_embedder(settings)
                stats = update_vectors(
                    db, embedder, chosen, read_text,
                    progress=(lambda done, total: progress("embed", done, total)) if progress else None,
                    batch_size=settings.batch_size,
                )
                report.vectors_embedded = stats.embedded
            except EmbedderUnavailable as exc:
                report.vectors_note = f"vectors off: {exc}"
        else:
            report.vectors_note = f"no symbols selected for embedding in mode {vectors_mode!r}"

    if not dry_run:
        summary = {
            "at": time.time(),
            "volatile_files": report.volatile_files,
            "stable_files": report.stable_files,
            "volatility_note": report.volatility_note,
            "volatile_paths": sorted(vol.volatile_paths())[:200],
            "vectors_mode": vectors_mode,
            "vectors_note": report.vectors_note,
        }
        (Path(indexer.store.dir) / SUMMARY).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return report
