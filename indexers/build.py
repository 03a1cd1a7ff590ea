"""The indexing pipeline: scan → parse → resolve → store, incremental by content hash.

``Indexer`` keeps the whole index in memory (files, symbols, edges) and brings it up to
date with the working tree: only files whose content hash changed are parsed again,
and only the files that could see a change are resolved again.
"""

from __future__ import annotations

import os
import posixpath
import sys
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .readmodel import ReadModel, ReadModelIncompatible, ReadModelMissing, remove_unused, write_read_model
from .scan import DEFAULT_MAX_BYTES, ScannedFile, ScanResult, decode_source, read_regular, read_source, scan, source_lines
from .store import HELD_LOCK_FDS, CodeStore, StoreIncompatible, edge_row, file_row, symbol_row
from .terms import symbol_terms
from .types import Edge, FileRecord, ParsedFile, Skipped, Symbol

# Parsing and resolving (tree-sitter and the language plug-ins) load only when an update
# needs them: a process that reads the index never does.

Progress = Callable[[str, int, int], None]  # (stage, done, total)
PARALLEL_MIN_FILES = 64
COMPACT_EVERY = 10  # commits between compactions of the tables (fragments merged, old versions deleted)


@dataclass
class UpdateStats:
    files: int = 0
    parsed: int = 0
    resolved: int = 0
    deleted: int = 0
    symbols: int = 0
    edges: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    parse_errors: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    rebuilt_reason: str = ""
    seconds: float = 0.0
    changed_paths: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.parsed or self.deleted)


def _parse_one(args: tuple[str, str, str]) -> tuple[str, ParsedFile | None, str]:
    """Read and parse one file; (path, parsed or None, skip reason)."""
    root, rel, language = args
    try:
        data = read_regular(Path(root, rel))
    except OSError as exc:
        return rel, None, f"unreadable ({exc.strerror})"
    text, reason = decode_source(data)
    if text is None:
        return rel, None, reason
    from .parse import parse_source

    try:
        pf = parse_source(rel, language, data, text)
    except Exception as exc:  # one bad file must not stop the index
        return rel, None, f"parser failed ({type(exc).__name__}: {exc})"
    _share_strings(pf)
    pf.terms = symbol_terms(pf, source_lines(text))  # here, while the text is at hand
    return rel, pf, ""


def _terms_of(root: Path):
    """A file's symbol term counts: those its parse left, else read from the file."""

    def terms_of(pf: ParsedFile) -> list:
        if pf.terms is not None and len(pf.terms) == len(pf.symbols):
            return pf.terms
        try:
            lines = source_lines(read_source(root / pf.path))
        except OSError:
            lines = []
        return symbol_terms(pf, lines)

    return terms_of


def _share_strings(pf: ParsedFile) -> None:
    """Intern the names that repeat (reference chains, imports): each parse makes its own
    copies. A worker's results then arrive with one copy of each name per chunk, since
    pickle writes an object it has already written as a reference."""
    intern = sys.intern
    for r in pf.refs:
        r.chain = [intern(part) for part in r.chain][:]  # [:]: an exactly sized list
        r.target = intern(r.target)
    for i in pf.imports:
        i.module, i.name, i.local = intern(i.module), intern(i.name), intern(i.local)
    for s in pf.symbols:
        s.kind, s.name = intern(s.kind), intern(s.name)


def _worker_init(parent: int) -> None:
    """A parse worker dies with the indexer that forked it, and does not hold its lock: an
    orphan kept alive would keep ``index.lock`` too, and every later index run would wait
    for it in vain."""
    for fd in list(HELD_LOCK_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):  # not Linux: the pool's own checks remain
        pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _parse_many(root: Path, todo: list[tuple[str, str]], progress: Progress | None) -> list[tuple[str, ParsedFile | None, str]]:
    jobs = [(str(root), rel, lang) for rel, lang in todo]
    results = []
    if len(jobs) >= PARALLEL_MIN_FILES and (os.cpu_count() or 1) > 1:
        # fork, so that library callers need no __main__ guard. LanceDB warns that a forked
        # child could deadlock in its runtime; parse workers never touch LanceDB.
        warnings.filterwarnings("ignore", message="lancedb fork support is experimental")
        with ProcessPoolExecutor(max_workers=min(4, os.cpu_count() or 1), initializer=_worker_init,
                                 initargs=(os.getpid(),)) as pool:
            for i, res in enumerate(pool.map(_parse_one, jobs, chunksize=16), 1):
                if res[1] is not None:
                    for r in res[1].refs:  # unpickled lists are over-allocated; copies are not
                        r.chain = r.chain[:]  # (about 8 MB on Django)
                results.append(res)
                if progress:
                    progress("parse", i, len(jobs))
    else:
        for i, job in enumerate(jobs, 1):
            results.append(_parse_one(job))
            if progress:
                progress("parse", i, len(jobs))
    return results


def _ref_names_of(pf: ParsedFile) -> set[str]:
    return {r.chain[-1] for r in pf.refs} | {i.name for i in pf.imports if i.name}


def _dependents_by_import(changed: set[str], files: dict[str, ParsedFile]) -> set[str]:
    """Files whose imports could name one of ``changed`` (by module stem or package dir)."""
    stems = set()
    for path in changed:
        stem = posixpath.splitext(posixpath.basename(path))[0]
        stems.add(stem if stem not in ("__init__", "index", "mod", "lib", "main") else posixpath.basename(posixpath.dirname(path)))
        stems.add(posixpath.basename(posixpath.dirname(path)))
    stems.discard("")
    out = set()
    for path, pf in files.items():
        for imp in pf.imports:
            words = set(imp.module.replace("::", "/").replace(".", "/").split("/"))
            if words & stems or imp.name in stems:
                out.add(path)
                break
    return out


class Indexer:
    """The index of one repository, in memory, kept in step with its store."""

    def __init__(self, repo: Path, store_dir: Path, max_bytes: int | None = None):
        """``max_bytes``: the size above which files are skipped; None keeps the limit the
        index was last built with (1 MB for a new one)."""
        self.repo = Path(repo).resolve()
        if not self.repo.is_dir():
            raise FileNotFoundError(f"no such repository directory: {self.repo}")
        self.store = CodeStore(store_dir)
        self._max_bytes = max_bytes
        self._built_max_bytes: int | None = None  # the limit the loaded index was built with
        self.files: dict[str, ParsedFile] = {}
        self.records: dict[str, FileRecord] = {}
        self._edges: dict[str, list[Edge]] | None = {}  # by source file; None: not read yet
        self.skipped: list[Skipped] = []
        self.dirs: dict[str, int] = {}
        self.generation = 0
        self.committed_at = 0.0
        self._manifest_mtime = -1
        self.load_note = ""
        # The committed read model, mapped. Loading reads files and symbols from it; the
        # references and edges that resolving needs are read only by an update (``_full``).
        self.read_model: ReadModel | None = None
        self._full = True
        # Derived lookups for incremental updates, built on first need.
        # The last update as (generation before, generation after, changed files, files
        # resolved again), so that readers can patch their views instead of rebuilding.
        self.last_change: tuple[int, int, set[str], set[str]] | None = None
        self._root_str = str(self.repo)
        self._abs_paths: dict[str, str] = {}
        self._resolve_index = None  # resolve.ResolveIndex
        self._ref_names: dict[str, set[str]] | None = None  # name -> files referencing it
        self._edges_into: dict[str, set[str]] | None = None  # file -> files with edges into it

    # --- loading ---------------------------------------------------------------

    def load(self) -> bool:
        """Read the committed index (files and symbols); False (with ``load_note``) when
        there is none usable."""
        for _ in range(3):  # a commit in between replaces the read model: read the manifest again
            try:
                return self._load()
            except ReadModelMissing:
                continue
            except (StoreIncompatible, ReadModelIncompatible) as exc:
                self.load_note = str(exc)
                return False
            except Exception as exc:  # a corrupt or foreign store: rebuild rather than fail
                self.load_note = f"the index in {self.store.dir} is unreadable ({type(exc).__name__}: {exc}); rebuilding"
                return False
        self.load_note = f"the index in {self.store.dir} kept changing while it was read; try again"
        return False

    def _load(self) -> bool:
        mtime = self.store.manifest_mtime()
        manifest = self.store.manifest() or {}
        name = manifest.get("read_model")
        self.read_model = rm = ReadModel(self.store.dir, name) if name else None
        self.files, self.records = (rm.parsed_files(rm.symbols(), with_refs=False), rm.records()) if rm else ({}, {})
        self._edges = None if rm else {}
        self._full = rm is None
        self.skipped = [Skipped(p, r) for p, r in manifest.get("skipped", [])]
        self.dirs = manifest.get("dirs", {})
        self._built_max_bytes = manifest.get("max_bytes")
        self._resolve_index = self._ref_names = self._edges_into = None
        self.last_change = None
        self.generation = manifest.get("generation", 0)
        self.committed_at = manifest.get("committed_at", 0.0)
        self._manifest_mtime = mtime
        return bool(manifest)

    def _load_full(self) -> None:
        """What resolving needs beside files and symbols: every file's references and
        imports, and the edges (from the read model, not LanceDB)."""
        if self._full:
            return
        rm = self.read_model
        symbols = [s for pf in self.files.values() for s in pf.symbols]  # keep the Symbol objects readers hold
        self.files = rm.parsed_files(symbols, with_refs=True)
        self._edges = None
        _ = self.edges
        self._full = True

    def edge_count(self) -> int:
        return sum(self.edge_counts()[0].values())

    def edge_counts(self) -> tuple[Counter, Counter]:
        """Edges by kind, and by resolution (containment aside), without reading them all."""
        if self._edges is None and self.read_model is not None:
            return self.read_model.edge_counts()
        edges = self.all_edges()
        return Counter(e.kind for e in edges), Counter(e.resolution for e in edges if e.kind != "contain")

    @property
    def edges(self) -> dict[str, list[Edge]]:
        """The resolved edges by source file (read from the read model on first use)."""
        if self._edges is None:
            self._edges = self.read_model.edges_by_file() if self.read_model else {}
        return self._edges

    @edges.setter
    def edges(self, value: dict[str, list[Edge]]) -> None:
        self._edges = value

    @property
    def max_bytes(self) -> int:
        return self._max_bytes or self._built_max_bytes or DEFAULT_MAX_BYTES

    def _limit_changed(self) -> bool:
        """Asked for another size limit than the index was built with: every file is
        weighed again (a quick scan would keep what the old limit let in)."""
        return self.max_bytes != (self._built_max_bytes or DEFAULT_MAX_BYTES)

    def reload_if_changed(self) -> bool:
        """Pick up a commit made by another process."""
        if self.store.manifest_mtime() != self._manifest_mtime:
            return self.load()
        return False

    # --- freshness --------------------------------------------------------------

    def _abs(self, rel: str) -> str:
        # Absolute path strings, made once: a freshness check stats thousands of files.
        cached = self._abs_paths.get(rel)
        if cached is None:
            cached = self._abs_paths[rel] = os.path.join(self._root_str, rel) if rel else self._root_str
        return cached

    def _dirs_unchanged(self) -> bool:
        stat = os.stat
        try:
            return all(stat(self._abs(rel)).st_mtime_ns == mtime for rel, mtime in self.dirs.items())
        except OSError:
            return False

    def looks_fresh(self) -> bool:
        """A cheap check (stats only, no walk): nothing changed since the last update."""
        if not self.generation or not self._dirs_unchanged():
            return False
        stat = os.stat
        try:
            for rel, rec in self.records.items():
                st = stat(self._abs(rel))
                if st.st_mtime_ns != rec.mtime_ns or st.st_size != rec.size:
                    return False
        except OSError:
            return False
        return True

    def _quick_scan(self) -> ScanResult | None:
        """When no directory changed, no file was added or removed: stat the known files
        instead of walking the tree. None when a full scan is needed."""
        if not self.generation or not self.dirs or self._limit_changed() or not self._dirs_unchanged():
            return None
        result = ScanResult(skipped=list(self.skipped), dirs=dict(self.dirs))
        stat = os.stat
        try:
            for rel, rec in self.records.items():
                st = stat(self._abs(rel))
                result.files.append(ScannedFile(rel, st.st_size, st.st_mtime_ns, rec.language))
        except OSError:
            return None
        return result

    # --- updating ---------------------------------------------------------------

    def update(self, *, rebuild: bool = False, progress: Progress | None = None, lock_timeout: float = 30.0) -> UpdateStats:
        """Bring the index up to date with the working tree and commit it."""
        started = time.perf_counter()
        stats = UpdateStats()
        with self.store.write_lock(timeout=lock_timeout):
            # A rebuild is built beside the index in force (in memory, then new table
            # versions) and replaces it whole at the commit: killed before that, it
            # leaves the old index as it was.
            if rebuild:
                stats.rebuilt_reason = "rebuild requested"
                self._forget_loaded()
            elif self._manifest_mtime != self.store.manifest_mtime() and not self.load():
                if self.load_note:
                    stats.rebuilt_reason = self.load_note
                    print(f"ctxfold: {self.load_note}", file=sys.stderr)
                    self.store.drop_incompatible_tables()
                    self._forget_loaded()
            if not rebuild and not stats.rebuilt_reason and not self._limit_changed() and self.looks_fresh():
                stats.files = len(self.files)
                stats.symbols = sum(len(pf.symbols) for pf in self.files.values())
                stats.edges = self.edge_count()
                stats.parse_errors = {p: pf.errors for p, pf in self.files.items() if pf.errors}
                stats.skipped = list(self.skipped)
            else:
                self._load_full()
                self._update_locked(stats, progress, replace_all=bool(stats.rebuilt_reason))
        stats.seconds = time.perf_counter() - started
        return stats

    def _forget_loaded(self) -> None:
        self.files, self.records, self.edges, self.generation = {}, {}, {}, 0
        self.read_model, self._full = None, True
        self._resolve_index = self._ref_names = self._edges_into = None

    def _update_locked(self, stats: UpdateStats, progress: Progress | None, replace_all: bool = False) -> None:
        if progress:
            progress("scan", 0, 0)
        result: ScanResult = self._quick_scan() or scan(self.repo, self.max_bytes)
        present = {f.path: f for f in result.files}
        deleted = [p for p in self.files if p not in present]
        todo: list[tuple[str, str]] = []
        touched_meta: list[str] = []  # same content, new mtime: refresh the record only
        for f in result.files:
            rec = self.records.get(f.path)
            if rec is not None and rec.mtime_ns == f.mtime_ns and rec.size == f.size:
                continue
            if rec is not None and rec.size == f.size:
                try:
                    from .parse import content_hash

                    if content_hash(read_regular(Path(self.repo, f.path))) == rec.hash:
                        rec.mtime_ns = f.mtime_ns
                        touched_meta.append(f.path)
                        continue
                except OSError:
                    pass
            todo.append((f.path, f.language))

        skipped = list(result.skipped)
        parsed: dict[str, ParsedFile] = {}
        for rel, pf, reason in _parse_many(self.repo, todo, progress):
            if pf is None:
                skipped.append(Skipped(rel, reason))
                if rel in self.files:  # was indexed, now unreadable: drop what it had
                    deleted.append(rel)
            else:
                parsed[rel] = pf
        changed = set(parsed) | set(deleted)

        # Who must be resolved again: the changed files; files with edges to symbols that
        # are gone; files whose references name a symbol that appeared; and, for new
        # files, files whose imports could name them (a new module makes an old import resolve).
        old_names = {p: {s.qualname for s in self.files[p].symbols} for p in changed if p in self.files}
        old_files = {p: self.files[p] for p in changed if p in self.files}
        for path in deleted:
            self.files.pop(path, None)
            self.records.pop(path, None)
            self.edges.pop(path, None)
        self.files.update(parsed)
        for rel, pf in parsed.items():
            f = present[rel]
            self.records[rel] = FileRecord(rel, pf.language, pf.hash, f.size, f.mtime_ns, pf.lines, pf.errors)
        to_resolve = set(parsed)
        if changed and len(parsed) < len(self.files):
            ref_names, edges_into = self._reverse_lookups(old_files, changed)
            gone: set[str] = set()
            appeared: set[str] = set()
            for path in changed:
                new = {s.qualname for s in self.files[path].symbols} if path in self.files else set()
                old = old_names.get(path, set())
                gone |= {f"{path}:{q}" for q in old - new} | ({f"{path}:"} if path not in self.files else set())
                appeared |= {q.rsplit(".", 1)[-1] for q in new - old}
            if gone:
                for src_path in {s for p in changed for s in edges_into.get(p, ())}:
                    if any(e.dst in gone for e in self.edges.get(src_path, ())):
                        to_resolve.add(src_path)
            for name in appeared:
                to_resolve |= ref_names.get(name, set())
            new_files = {p for p in parsed if p not in old_names} | set(deleted)
            if new_files:
                to_resolve |= _dependents_by_import(new_files, self.files)
        else:
            self._ref_names = self._edges_into = None  # rebuilt on the next incremental update
        to_resolve &= set(self.files)

        if to_resolve:
            from .resolve import ResolveIndex, resolve_file

            if self._resolve_index is None or self._resolve_index.files is not self.files:
                self._resolve_index = ResolveIndex.build(self.files, root=self.repo)
            else:
                self._resolve_index.replace(set(deleted), parsed)
            index = self._resolve_index
            for i, path in enumerate(sorted(to_resolve), 1):
                old_edges = self.edges.get(path, [])
                self.edges[path] = resolve_file(self.files[path], index)
                self._note_edges(path, old_edges, self.edges[path])
                if progress and i % 50 == 0:
                    progress("resolve", i, len(to_resolve))
            index.cache.clear()  # memos of this resolution; a full index leaves many
        elif self._resolve_index is not None:
            self._resolve_index.replace(set(deleted), parsed)
        for path in deleted:
            self._note_edges(path, [], [])

        stats.files = len(self.files)
        stats.parsed = len(parsed)
        stats.deleted = len([p for p in deleted if p not in parsed])
        stats.resolved = len(to_resolve)
        stats.skipped = skipped
        stats.changed_paths = sorted(changed)
        stats.parse_errors = {p: pf.errors for p, pf in self.files.items() if pf.errors}
        stats.symbols = sum(len(pf.symbols) for pf in self.files.values())
        stats.edges = sum(len(v) for v in self.edges.values())

        if not (changed or touched_meta or to_resolve) and self.generation and result.dirs == self.dirs and not self._limit_changed():
            return
        file_keys = sorted(changed | set(touched_meta))
        # Generators: rows are made slice by slice as the store appends them.
        file_rows = (file_row(self.files[p], self.records[p].size, self.records[p].mtime_ns) for p in file_keys if p in self.files)
        sym_rows = (symbol_row(s) for p in sorted(parsed) for s in parsed[p].symbols)
        edge_keys = sorted(to_resolve | changed)
        edge_rows = (edge_row(e) for p in edge_keys for e in self.edges.get(p, []))
        if progress:
            progress("write", 0, 0)
        read_model = write_read_model(self.store.dir, self.files, self.records, self.edges, _terms_of(self.repo),
                                      previous=self.read_model, changed=changed, relinked=to_resolve | changed)
        manifest = self.store.commit(
            {
                "read_model": read_model,
                "repo": str(self.repo),
                "skipped": [[s.path, s.reason] for s in skipped],
                "dirs": result.dirs,
                "max_bytes": self.max_bytes,
            },
            {
                "files": ("path", file_keys, file_rows),
                "symbols": ("path", sorted(changed), sym_rows),
                "edges": ("src_path", edge_keys, edge_rows),
            },
            compact=(self.generation + 1) % COMPACT_EVERY == 0,
            replace_all=replace_all,
        )
        remove_unused(self.store.dir, keep=read_model)
        self.read_model = ReadModel(self.store.dir, read_model)
        for pf in parsed.values():
            pf.terms = None  # in the read model now
        self.skipped = skipped
        self.dirs = result.dirs
        self._built_max_bytes = self.max_bytes
        self.last_change = (self.generation, manifest["generation"], set(changed), set(to_resolve))
        self.generation = manifest["generation"]
        self.committed_at = manifest["committed_at"]
        self._manifest_mtime = self.store.manifest_mtime()

    def _reverse_lookups(self, old_files: dict[str, ParsedFile], changed: set[str]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Who references a name, and who has edges into a file: built once, then kept in
        step with each update (``old_files``: the changed files as they were)."""
        if self._ref_names is None or self._edges_into is None:
            self._ref_names, self._edges_into = {}, {}
            for path, pf in self.files.items():
                self._add_ref_names(path, pf)
            for path, edges in self.edges.items():
                self._note_edges(path, [], edges)
        else:
            for path, pf in old_files.items():
                for name in _ref_names_of(pf):
                    self._ref_names.get(name, set()).discard(path)
            for path in changed & self.files.keys():
                self._add_ref_names(path, self.files[path])
        return self._ref_names, self._edges_into

    def sources_of_edges_into(self, paths: set[str]) -> set[str] | None:
        """Files with edges into ``paths``, when that is known without a scan."""
        if self._edges_into is None:
            return None
        return {src for p in paths for src in self._edges_into.get(p, ())}

    def _add_ref_names(self, path: str, pf: ParsedFile) -> None:
        for name in _ref_names_of(pf):
            self._ref_names.setdefault(name, set()).add(path)

    def _note_edges(self, src_path: str, old: list[Edge], new: list[Edge]) -> None:
        if self._edges_into is None:
            return
        for e in old:
            self._edges_into.get(e.dst.rpartition(":")[0], set()).discard(src_path)
        for e in new:
            if e.kind != "contain":
                self._edges_into.setdefault(e.dst.rpartition(":")[0], set()).add(src_path)

    # --- views -------------------------------------------------------------------

    def all_symbols(self) -> list[Symbol]:
        return [s for pf in self.files.values() for s in pf.symbols]

    def all_edges(self) -> list[Edge]:
        return [e for edges in self.edges.values() for e in edges]


def build_index(repo_root: Path, store: Path | None = None, progress: Progress | None = None, rebuild: bool = False, max_bytes: int | None = None) -> UpdateStats:
    """Index ``repo_root`` (incrementally when an index exists) and commit it."""
    from .paths import store_dir_for

    indexer = Indexer(repo_root, store_dir_for(repo_root, store), max_bytes=max_bytes)
    return indexer.update(rebuild=rebuild, progress=progress)
