"""One served repository: its index, graph and lookups, kept fresh before every answer.

The MCP server opens one Workspace in its lifespan; the CLI opens one per command;
tests and benchmarks open their own. Tool calls run on worker threads, so refreshing
holds a lock and swaps in new read-only views.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexers.build import Indexer, Progress, UpdateStats
from indexers.graph import add_semantic_edges, build_graph
from indexers.paths import store_dir_for
from indexers.scan import DEFAULT_MAX_BYTES
from indexers.store import StoreBusy
from indexers.types import Symbol

from .errors import CtxfoldError
from .textindex import TextIndex

log = logging.getLogger("ctxfold")


@dataclass
class Views:
    """Read-only lookups over one generation of the index."""

    generation: tuple
    symbols: dict[str, Symbol] = field(default_factory=dict)  # id -> Symbol
    by_path: dict[str, list[Symbol]] = field(default_factory=dict)
    by_name: dict[str, list[Symbol]] = field(default_factory=dict)  # lowercased name
    graph: object = None
    semantic: int = 0  # fresh semantic edges in the graph
    neighbours: dict = field(default_factory=dict)  # recall's per-node neighbour lists, filled lazily


class Workspace:
    def __init__(self, repo: Path | str, store: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES):
        repo = Path(repo).resolve()
        if not repo.exists():
            raise CtxfoldError(f"no such repository: {repo}; pass --repo PATH to an existing directory")
        if not repo.is_dir():
            raise CtxfoldError(f"not a directory: {repo}; pass the repository's root directory")
        self.repo = repo
        self.store_dir = store_dir_for(repo, Path(store) if store else None)
        self.indexer = Indexer(repo, self.store_dir, max_bytes=max_bytes)
        self._lock = threading.RLock()
        self._views: Views | None = None
        self._loaded = False
        self.last_update: UpdateStats | None = None
        self.freshness_note = ""
        self.text = TextIndex()  # full-text over symbol bodies, synced per file hash
        self.edge_sources: list = []  # callables adding semantic edges (facts of type coupling)
        self.vectors = None  # (embedder, db) once the vector fallback is found usable
        self.vectors_note = ""

    # --- freshness ---------------------------------------------------------------

    def refresh(self, progress: Progress | None = None, lock_timeout: float = 10.0) -> UpdateStats | None:
        """Bring the index up to date with the working tree (cheap when nothing changed)."""
        with self._lock:
            if not self._loaded:
                self.indexer.load()
                self._loaded = True
            else:
                self.indexer.reload_if_changed()
            stats = None
            if not self.indexer.looks_fresh():
                try:
                    stats = self.indexer.update(progress=progress, lock_timeout=lock_timeout)
                    self.last_update = stats
                    self.freshness_note = ""
                except StoreBusy as exc:
                    # Another process is writing: answer from the last committed index.
                    self.indexer.load()
                    self.freshness_note = f"index may be stale: {exc}"
            return stats

    def views(self) -> Views:
        with self._lock:
            gen = (self.indexer.generation, self._semantic_stamp())
            if self._views is None or self._views.generation != gen:
                self._views = self._build_views(gen)
                self.text.sync(self.repo, self.indexer.files)
            return self._views

    def _build_views(self, generation: int) -> Views:
        started = time.perf_counter()
        v = Views(generation=generation)
        for path, pf in self.indexer.files.items():
            v.by_path[path] = pf.symbols
            for sym in pf.symbols:
                v.symbols[sym.id] = sym
                v.by_name.setdefault(sym.name.lower(), []).append(sym)
        v.graph = build_graph(list(v.symbols.values()), self.indexer.all_edges(), list(self.indexer.files))
        v.semantic = add_semantic_edges(v.graph, self._fresh_semantic_edges())
        log.debug("views for generation %d built in %.0f ms", generation, (time.perf_counter() - started) * 1000)
        return v

    def _semantic_stamp(self) -> int:
        """Changes whenever semantic edges or coupling facts are written (by any process)."""
        stamp = 0
        for table in ("semantic_edges", "facts"):
            try:
                stamp += os.stat(self.store_dir / "lance" / f"{table}.lance" / "_versions").st_mtime_ns
            except OSError:
                pass
        return stamp

    def _fresh_semantic_edges(self) -> list:
        """Semantic edges whose ends still have the hashes they were derived from, plus
        couplings the agent recorded as facts."""
        edges = []
        if (self.store_dir / "lance" / "semantic_edges.lance").exists():
            from indexers.paths import connect
            from indexers.semantic import current_hash_of
            from indexers.semantic_store import fresh_edges, load_edges

            edges = fresh_edges(load_edges(connect(self.store_dir)), current_hash_of(self.indexer))
        for source in self.edge_sources:
            edges.extend(source())
        return edges

    def fresh_views(self, progress: Progress | None = None) -> Views:
        self.refresh(progress)
        return self.views()

    # --- helpers ---------------------------------------------------------------------

    def index_age_seconds(self) -> float | None:
        return time.time() - self.indexer.committed_at if self.indexer.committed_at else None

    def resolve_path(self, path: str) -> Path:
        """A path inside the repository (relative to it, or absolute), else a clear error."""
        if not path or not path.strip():
            raise CtxfoldError("empty path: give a file path relative to the repository root")
        candidate = Path(path)
        full = (candidate if candidate.is_absolute() else self.repo / candidate).resolve()
        if full != self.repo and self.repo not in full.parents:
            raise CtxfoldError(
                f"path outside the repository: {path!r} resolves to {full}, which is not under {self.repo}; "
                "give a path inside the repository"
            )
        return full

    def relpath(self, full: Path) -> str:
        return full.relative_to(self.repo).as_posix()
