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
from typing import TYPE_CHECKING

from indexers.build import Indexer, Progress, UpdateStats
from indexers.history import History, load_history, own_names
from indexers.paths import store_dir_for
from indexers.semantic_store import load_stored_edges, stored_version
from indexers.store import StoreBusy
from indexers.tokens import get_encoding
from indexers.types import Symbol

from .errors import CtxfoldError
from .graph import CodeGraph
from .settings import SETTINGS
from .textindex import CommitIndex, NameIndex, TextIndex

if TYPE_CHECKING:
    from .facts import FactStore

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
    """Read-only lookups over one generation of the index: symbols from the indexer, the
    graph and the full-text index over its read model (each built on first use)."""

    generation: int
    read_model: object = None  # indexers.readmodel.ReadModel
    semantic_stamp: tuple = ()
    semantic_edges: list = field(default_factory=list)
    symbols: dict[str, Symbol] = field(default_factory=dict)  # id -> Symbol
    by_path: dict[str, list[Symbol]] = field(default_factory=dict)
    by_name: dict[str, list[Symbol]] = field(default_factory=dict)  # lowercased name
    by_label: dict[str, list[Symbol]] = field(default_factory=dict)  # a string it is registered under
    semantic: int = 0  # fresh semantic edges in the graph
    neighbours: dict = field(default_factory=dict)  # recall's per-node neighbour lists, made as needed
    neighbours_key: tuple = ()  # the recall settings those lists were made with
    name_runs: tuple = ()  # (generation, names joined for substring search, offsets, names); seeds.py
    lay_semantic: object = None  # called with these views once the graph is built (Workspace)
    # From the views one update before: their neighbour lists, graph and the files whose
    # edges changed; the lists that still hold are kept once the graph is built.
    carried: tuple | None = None
    _graph: CodeGraph | None = None
    _text: TextIndex | None = None
    _names: NameIndex | None = None
    _ids: list | None = None

    def node_ids(self) -> list[str]:
        if self._ids is None:
            self._ids = self.read_model.node_ids() if self.read_model is not None else []
        return self._ids

    @property
    def graph(self) -> CodeGraph:
        if self._graph is None:
            self._graph = CodeGraph(self.read_model, self.node_ids(), dict(SETTINGS.edge_weights))
            if self.carried is not None:
                self._keep_lists(*self.carried)
                self.carried = None
            if self.lay_semantic is not None:
                self.lay_semantic(self)
        return self._graph

    def _keep_lists(self, neighbours: dict, key: tuple, old_graph: CodeGraph, relinked: set[str]) -> None:
        """Keep the old neighbour lists of the nodes whose edges cannot have changed: all
        but those of the relinked files and of every node with an edge to or from one of
        them, before or after the update."""
        touched: set[str] = set()
        for g in (old_graph, self._graph):
            nodes = [n for n in g.ids if n.rpartition(":")[0] in relinked]
            touched.update(nodes)
            for n in nodes:
                touched.update(o for o, _ in g.successors(n))
                touched.update(o for o, _ in g.predecessors(n))
        self.neighbours = {n: lists for n, lists in neighbours.items() if n not in touched and n in self._graph}
        self.neighbours_key = key

    @property
    def names(self) -> NameIndex:
        if self._names is None:
            self._names = NameIndex(self.read_model)
        return self._names

    @property
    def text(self) -> TextIndex:
        if self._text is None:
            rm = self.read_model
            self._text = TextIndex(rm, self.node_ids()[rm.n_files:] if rm is not None else [])
        return self._text


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
        self.edge_sources: list = []  # callables adding semantic edges (facts of type coupling)
        self.facts: FactStore | None = None  # the fact memory, opened once by facts.code.fact_store
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
            v = self._views
            if v is None or v.generation != self.indexer.generation:
                v = self._moved_views(v) or self._build_views()
            elif v._graph is not None and v.semantic_stamp != self._semantic_stamp():
                self._lay_semantic(v)
            rebuilt, self._views = v is not self._views, v
            if rebuilt and self.long_lived and not self._warming:
                # The new views are long-lived: out of full collections with the rest. (The
                # old ones go by reference counting; a full collection here would cost a
                # quarter of a second or more on a large index, at every edit.)
                gc.freeze()
            return v

    def _build_views(self) -> Views:
        started = time.perf_counter()
        v = self._new_views()
        for path, pf in self.indexer.files.items():
            self._add_symbols(v, path, pf.symbols)
        log.debug("views for generation %d built in %.0f ms", v.generation, (time.perf_counter() - started) * 1000)
        return v

    def _new_views(self) -> Views:
        files = self.indexer.files
        paths = sorted(files)  # the read model's order: files' own nodes, then their symbols
        ids = [f"{p}:" for p in paths] + [s.id for p in paths for s in files[p].symbols]
        return Views(generation=self.indexer.generation, read_model=self.indexer.read_model,
                     lay_semantic=self._lay_semantic, _ids=ids)

    @staticmethod
    def _add_symbols(v: Views, path: str, symbols: list[Symbol]) -> None:
        v.by_path[path] = symbols
        for sym in symbols:
            v.symbols[sym.id] = sym
            v.by_name.setdefault(sym.name.lower(), []).append(sym)
            for label in sym.labels.split():
                v.by_label.setdefault(label, []).append(sym)

    def _moved_views(self, old: Views | None) -> Views | None:
        """Views of the index one update after ``old``, taking over its symbol lookups with
        the changed files' entries replaced (the graph and the full-text indexes are made
        anew from the new read model, as needed). None when the last update does not start
        at ``old``."""
        change = self.indexer.last_change
        if old is None or change is None or change[0] != old.generation:
            return None
        v = self._new_views()
        v.symbols, v.by_path, v.by_name, v.by_label = old.symbols, old.by_path, old.by_name, old.by_label
        if old._graph is not None and old.neighbours and old.semantic_stamp == self._semantic_stamp():
            v.carried = (old.neighbours, old.neighbours_key, old._graph, change[2] | change[3])
        for path in change[2]:  # the changed files
            for sym in v.by_path.pop(path, []):
                v.symbols.pop(sym.id, None)
                for key, table in [(sym.name.lower(), v.by_name)] + [(label, v.by_label) for label in sym.labels.split()]:
                    same = table.get(key)
                    if same is not None:
                        same[:] = [s for s in same if s is not sym]
                        if not same:
                            del table[key]
            pf = self.indexer.files.get(path)
            if pf is not None:
                self._add_symbols(v, path, pf.symbols)
        return v

    def _lay_semantic(self, v: Views) -> None:
        """Lay the fresh semantic edges over the views' graph (an agent's coupling facts,
        edges written by ``ctxfold enrich``); only their ends lose their neighbour lists."""
        v.semantic_stamp = self._semantic_stamp()
        v.semantic_edges = self._stored_semantic_edges()
        for node in v.graph.set_semantic(self._fresh(v.semantic_edges)):
            v.neighbours.pop(node, None)
        v.semantic = v.graph.semantic_pairs()

    def _semantic_stamp(self) -> tuple:
        """Changes when semantic edges are written (by any process) or when the agent's
        coupling facts change (not when a fact is merely served)."""
        agent = tuple(sorted((e.src, e.dst, e.src_hash, e.dst_hash) for source in self.edge_sources for e in source()))
        return (stored_version(self.store_dir), agent)

    def _stored_semantic_edges(self) -> list:
        """Every semantic edge: derived ones from the store, and couplings the agent
        recorded as facts (those are fresh by construction)."""
        edges = load_stored_edges(self.store_dir)
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

    @property
    def text(self) -> TextIndex:
        """Full-text search over the current index's symbols and files."""
        return self.views().text

    def fresh_views(self, progress: Progress | None = None) -> Views:
        self.refresh(progress)
        return self.views()

    def warm(self) -> Views:
        """What a first recall would otherwise pay for: the index brought up to date, the
        graph and full-text index (``prepare_views``), git history (seconds on a long one)
        and the tokenizer; then all of it settled out of full garbage collections
        (``settle_heap``), here and after every rebuild of the views. For a process that
        serves this workspace."""
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
