"""One served repository: its index, graph and lookups, kept fresh before every answer.

The MCP server opens one Workspace in its lifespan; the CLI opens one per command;
tests and benchmarks open their own. Tool calls run on worker threads, one at a time per
workspace (``lock``): an update patches the views in place.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexers.build import Indexer, Progress, UpdateStats
from indexers.graph import add_code_edges, add_semantic_edges, build_graph
from indexers.history import History, load_history, own_names
from indexers.paths import store_dir_for
from indexers.store import StoreBusy
from indexers.tokens import get_encoding
from indexers.types import Symbol

from .errors import CtxfoldError
from .settings import SETTINGS
from .textindex import CommitIndex, TextIndex

log = logging.getLogger("ctxfold")


def settle_heap() -> None:
    """Take what is loaded now out of Python's full garbage collections. An index holds
    about a million objects on a large repository (sympy: 0.9M), and a full collection walks
    them all: a quarter of a second, more in a bigger process, paid by whichever call it
    falls in. Frozen objects are still freed when nothing refers to them; a cycle among
    them waits for the next settle, which unfreezes and collects first."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@dataclass
class Views:
    """Read-only lookups over one generation of the index."""

    generation: int
    semantic_stamp: tuple = ()
    semantic_edges: list = field(default_factory=list)
    symbols: dict[str, Symbol] = field(default_factory=dict)  # id -> Symbol
    by_path: dict[str, list[Symbol]] = field(default_factory=dict)
    by_name: dict[str, list[Symbol]] = field(default_factory=dict)  # lowercased name
    by_label: dict[str, list[Symbol]] = field(default_factory=dict)  # a string it is registered under
    graph: object = None
    semantic: int = 0  # fresh semantic edges in the graph
    neighbours: dict = field(default_factory=dict)  # recall's per-node neighbour lists: lazily, or all by warm()
    neighbours_key: tuple = ()  # the recall settings those lists were made with
    name_runs: tuple = ()  # (generation, names joined for substring search, offsets, names); seeds.py


class Workspace:
    def __init__(self, repo: Path | str, store: Path | str | None = None, max_bytes: int | None = None):
        repo = Path(repo).resolve()
        if not repo.exists():
            raise CtxfoldError(f"no such repository: {repo}; pass --repo PATH to an existing directory")
        if not repo.is_dir():
            raise CtxfoldError(f"not a directory: {repo}; pass the repository's root directory")
        self.repo = repo
        self.store_dir = store_dir_for(repo, Path(store) if store else None)
        self.indexer = Indexer(repo, self.store_dir, max_bytes=max_bytes)
        self._lock = threading.RLock()
        self.lock = self._lock  # held by a served tool call from its refresh to its answer
        self._views: Views | None = None
        self._loaded = False
        self.last_update: UpdateStats | None = None
        self.freshness_note = ""
        self.text = TextIndex()  # full-text over symbol bodies, synced per file hash
        self.edge_sources: list = []  # callables adding semantic edges (facts of type coupling)
        self.vectors = None  # (embedder, db) once the vector fallback is found usable
        self.vectors_note = ""
        self._history: History | None = None  # from indexers/history.py
        self._commit_index: tuple[str, CommitIndex] | None = None  # (HEAD, index of its commits)
        self._history_lock = threading.Lock()  # its own: a first read of history takes seconds
        self._own_names: set[str] | None = None
        # A server's workspace (or one warmed): the heap is settled after each full build
        # of the views, the first one included.
        self.long_lived = False
        self._warming = False

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
            stamp = self._semantic_stamp()
            v = self._views
            if v is None or (v.generation != self.indexer.generation and not self._patch_views(v)):
                v = self._build_views()
            if v.semantic_stamp != stamp:
                self._patch_semantic(v, stamp)
            rebuilt, self._views = v is not self._views, v
            self.text.sync(self.repo, self.indexer.files)
            if rebuilt and self.long_lived and not self._warming:
                settle_heap()  # the old views are garbage now, the new ones long-lived
            return v

    def _build_views(self) -> Views:
        started = time.perf_counter()
        v = Views(generation=self.indexer.generation, semantic_stamp=self._semantic_stamp())
        for path, pf in self.indexer.files.items():
            self._add_file_symbols(v, path, pf.symbols)
        v.graph = build_graph(list(v.symbols.values()), self.indexer.all_edges(), list(self.indexer.files))
        v.semantic_edges = self._stored_semantic_edges()
        add_semantic_edges(v.graph, self._fresh(v.semantic_edges))
        v.semantic = self._count_semantic(v)
        log.debug("views for generation %d built in %.0f ms", v.generation, (time.perf_counter() - started) * 1000)
        return v

    @staticmethod
    def _add_file_symbols(v: Views, path: str, symbols: list[Symbol]) -> None:
        v.by_path[path] = symbols
        for sym in symbols:
            v.symbols[sym.id] = sym
            v.by_name.setdefault(sym.name.lower(), []).append(sym)
            for label in sym.labels.split():
                v.by_label.setdefault(label, []).append(sym)

    def _patch_views(self, v: Views) -> bool:
        """Bring views one update forward in place: drop the changed files' nodes, add
        their new ones, and re-add the edges of every file whose edges could have changed
        or been dropped. False when the last update does not start at these views."""
        change = self.indexer.last_change
        if change is None or change[0] != v.generation:
            return False
        _, generation, changed, resolved = change
        into = self.indexer.sources_of_edges_into(changed)
        if into is None:
            return False
        g = v.graph
        # Only the nodes whose edges this may change lose their cached neighbour lists:
        # those of the files re-linked below and their neighbours, before and after.
        relinked = resolved | changed | into
        touched = self._around(v, relinked)
        for path in changed:
            for sym in v.by_path.pop(path, []):
                v.symbols.pop(sym.id, None)
                for key, table in [(sym.name.lower(), v.by_name)] + [(label, v.by_label) for label in sym.labels.split()]:
                    same = table.get(key, [])
                    if sym in same:
                        same.remove(sym)
                if sym.id in g:
                    g.remove_node(sym.id)
            if f"{path}:" in g:
                g.remove_node(f"{path}:")
        for path in resolved - changed:
            nodes = [f"{path}:"] + [s.id for s in v.by_path.get(path, [])]
            g.remove_edges_from([e for n in nodes if n in g for e in g.out_edges(n)])
        for path in changed:
            pf = self.indexer.files.get(path)
            if pf is not None:
                self._add_file_symbols(v, path, pf.symbols)
                g.add_node(f"{path}:")
                g.add_nodes_from(s.id for s in pf.symbols)
        for path in relinked & self.indexer.files.keys():
            add_code_edges(g, self.indexer.edges.get(path, []))
        add_semantic_edges(g, self._fresh(v.semantic_edges))
        v.semantic = self._count_semantic(v)
        for node in touched | self._around(v, relinked):
            v.neighbours.pop(node, None)
        v.generation = generation
        return True

    def _patch_semantic(self, v: Views, stamp: tuple) -> None:
        """Swap the views' semantic edges for the current ones in place (an agent's coupling
        fact, edges written by ``ctxfold enrich``): a semantic edge that had replaced a
        weaker code edge gives that code edge back. Only the ends lose their neighbour lists."""
        g = v.graph
        ends: set[str] = set()
        for e in v.semantic_edges:
            if g.has_edge(e.src, e.dst) and g.edges[e.src, e.dst]["kind"] == "semantic":
                g.remove_edge(e.src, e.dst)
                ends.update((e.src, e.dst))
                code = self.indexer.edges.get(e.src.rpartition(":")[0], [])
                add_code_edges(g, [c for c in code if c.src == e.src and c.dst == e.dst])
        v.semantic_edges = self._stored_semantic_edges()
        fresh = self._fresh(v.semantic_edges)
        add_semantic_edges(g, fresh)
        v.semantic = self._count_semantic(v)
        ends.update(n for e in fresh for n in (e.src, e.dst))
        for node in ends:
            v.neighbours.pop(node, None)
        v.semantic_stamp = stamp

    @staticmethod
    def _count_semantic(v: Views) -> int:
        """Pairs the graph links by a semantic edge."""
        g = v.graph
        return len({(e.src, e.dst) for e in v.semantic_edges
                    if g.has_edge(e.src, e.dst) and g.edges[e.src, e.dst]["kind"] == "semantic"})

    @staticmethod
    def _around(v: Views, paths: set[str]) -> set[str]:
        """The nodes of ``paths`` and every node that shares an edge with one of them."""
        g = v.graph
        nodes = [n for p in paths for n in (f"{p}:", *(s.id for s in v.by_path.get(p, []))) if n in g]
        around = set(nodes)
        for n in nodes:
            around.update(g.succ[n])
            around.update(g.pred[n])
        return around

    def _semantic_stamp(self) -> tuple:
        """Changes when semantic edges are written (by any process) or when the agent's
        coupling facts change (not when a fact is merely served)."""
        try:
            table = os.stat(self.store_dir / "lance" / "semantic_edges.lance" / "_versions").st_mtime_ns
        except OSError:
            table = 0
        agent = tuple(sorted((e.src, e.dst, e.src_hash, e.dst_hash) for source in self.edge_sources for e in source()))
        return (table, agent)

    def _stored_semantic_edges(self) -> list:
        """Every semantic edge: derived ones from the store, and couplings the agent
        recorded as facts (those are fresh by construction)."""
        edges = []
        if (self.store_dir / "lance" / "semantic_edges.lance").exists():
            from indexers.paths import connect
            from indexers.semantic_store import load_edges

            edges = load_edges(connect(self.store_dir))
        for source in self.edge_sources:
            edges.extend(source())
        return edges

    def _fresh(self, edges: list) -> list:
        """The edges whose ends still have the hashes they were derived from."""
        if not edges:
            return []
        from indexers.semantic import current_hash_of
        from indexers.semantic_store import fresh_edges

        return fresh_edges(edges, current_hash_of(self.indexer))

    def fresh_views(self, progress: Progress | None = None) -> Views:
        self.refresh(progress)
        return self.views()

    def warm(self) -> Views:
        """What a first recall would otherwise pay for: the index brought up to date, the
        graph and full-text index, git history (seconds on a long one), the tokenizer and
        recall's per-node lists (``prepare_views``); then all of it settled out of full
        garbage collections (``settle_heap``), here and after every rebuild of the views.
        For a process that serves this workspace."""
        from .recall import prepare_views  # (recall imports this module)

        self.commit_index(self.history())
        get_encoding(SETTINGS.encoding)
        self.long_lived = True
        self._warming = True  # the heap is settled once, at the end
        try:
            v = self.fresh_views()
        finally:
            self._warming = False
        prepare_views(v)
        settle_heap()
        return v

    def history(self) -> History:
        """What git history says at HEAD (issue numbers, recent commits), read once per HEAD."""
        with self._history_lock:
            self._history = load_history(self.repo, self.store_dir, self._history)
            return self._history

    def commit_index(self, history: History) -> CommitIndex:
        """Full-text search over the recent commits' messages, built once per HEAD."""
        with self._history_lock:
            if self._commit_index is None or self._commit_index[0] != history.head:
                self._commit_index = (history.head, CommitIndex(history.commits))
            return self._commit_index[1]

    def own_names(self, v: Views) -> set[str]:
        """Names the repository goes by (directory, remotes, top-level packages): a task's
        link to an issue counts only when it names this repository."""
        if self._own_names is None:
            self._own_names = own_names(self.repo, v.by_path)
        return self._own_names

    # --- helpers ---------------------------------------------------------------------

    def index_age_seconds(self) -> float | None:
        return time.time() - self.indexer.committed_at if self.indexer.committed_at else None

    def resolve_path(self, path: str) -> Path:
        """A path inside the repository (relative to it, or absolute), else a clear error."""
        if not path or not path.strip():
            raise CtxfoldError("empty path: give a file path relative to the repository root")
        full = _resolved(self.repo, path)
        if full != self.repo and self.repo not in full.parents:
            raise CtxfoldError(
                f"path outside the repository: {path!r} resolves to {full}, which is not under {self.repo}; "
                "give a path inside the repository"
            )
        return full

    def relpath(self, full: Path) -> str:
        return full.relative_to(self.repo).as_posix()


def _resolved(repo: Path, path: str) -> Path:
    """``path`` (relative to ``repo``, or absolute) made absolute, with symlinks followed;
    a path no file can have is a CtxfoldError that names it."""
    if "\x00" in path:
        raise CtxfoldError(f"path with a NUL character: {path!r}; give a file path relative to the repository root")
    try:
        os.fsencode(path)
    except UnicodeEncodeError:
        raise CtxfoldError(f"path with a character no file name can hold (a lone surrogate): {path!r}; "
                           "give the file's path as text") from None
    candidate = Path(path)
    try:
        return (candidate if candidate.is_absolute() else repo / candidate).resolve()
    except RuntimeError as exc:  # a symlink loop (Python 3.11; later ones raise OSError)
        raise CtxfoldError(f"symlink loop at {path!r} ({exc}); give the path of a real file") from None
    except OSError as exc:
        raise CtxfoldError(f"cannot resolve {path!r}: {exc.strerror or exc}; give a file path relative to the repository root") from None
