"""The read model: what recall, search and fold read, written by the indexer beside the
LanceDB tables at every commit and named by the same manifest, as flat arrays that a
process maps in milliseconds instead of rebuilding about a million Python objects.

One directory per commit (``rm/<name>``) of ``.npy`` files, opened with ``mmap``, so the
server, the shell commands and several servers on one repository share their pages:

- files, sorted by path: path, language, hash, package, errors, imports and references
  (JSON, parsed only by a process that must resolve again), size, mtime, lines, and the
  range of their symbols;
- symbols, in file order and then source order: the ``Symbol`` fields as columns;
- edges, as the resolver made them (by source file, in order): source and destination
  as node numbers (node ``i < n_files`` is file ``i``'s own node ``path:``, node
  ``n_files + j`` is symbol ``j``), kind, resolution, confidence and line;
- text: each symbol's term counts (``indexers/terms.py``) as rows over one vocabulary,
  for the full-text index recall scores with BM25; and the same for the words
  ``search_symbols`` finds a symbol by (``name_terms``).

Strings are kept as one UTF-8 blob per column plus offsets. Written before the manifest
that names it: a crash leaves the previous read model in force.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .store import search_text
from .types import Edge, FileRecord, Import, ParsedFile, Ref, Symbol

FORMAT = 4
_ALNUM = re.compile(r"[a-z0-9]+")
DIRNAME = "rm"
EDGE_KINDS = ("call", "import", "inherit", "type", "contain")
_SYMBOL_STRINGS = ("qualname", "name", "kind", "signature", "doc", "hash", "labels")
_SYMBOL_INTS = ("start_line", "end_line", "body_line", "tokens_full", "tokens_sig", "test")
_FILE_STRINGS = ("path", "language", "hash", "package", "errors", "imports", "refs")


class ReadModelMissing(OSError):
    """The read model the manifest names is gone (a newer commit replaced it): read the manifest again."""


class ReadModelIncompatible(ValueError):
    """Written in another format: the index must be built again."""


# --- writing -------------------------------------------------------------------------


def _save(directory: Path, name: str, array: np.ndarray) -> None:
    np.save(directory / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)


def _save_strings(directory: Path, name: str, values: list[str]) -> None:
    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    _save(directory, f"{name}.blob", np.frombuffer(b"".join(encoded), dtype=np.uint8))
    _save(directory, f"{name}.off", offsets)


def write_read_model(
    store_dir: Path,
    files: dict[str, ParsedFile],
    records: dict[str, FileRecord],
    edges: dict[str, list[Edge]],
    terms_of: Callable[[ParsedFile], list[Counter]],
    previous: ReadModel | None = None,
    changed: set[str] | frozenset[str] = frozenset(),
    relinked: set[str] | frozenset[str] = frozenset(),
) -> str:
    """Write the read model of this index into a new directory and return its name.
    ``terms_of`` gives a file's symbol term counts. A file not ``changed`` keeps its rows
    from ``previous`` (its edges too, unless it was ``relinked``: resolved again), so an
    update encodes and tokenizes only what changed."""
    root = Path(store_dir) / DIRNAME
    name = uuid.uuid4().hex
    tmp = root / f".{name}.tmp"
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        _write(tmp, files, records, edges, terms_of, previous, changed, relinked)
        with open(tmp / "format.json", "w") as fh:
            json.dump({"format": FORMAT, "files": len(files)}, fh)
        for entry in tmp.iterdir():  # written out before the manifest can name it
            fd = os.open(entry, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.rename(tmp, root / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return name


class _Strings:
    """A string column being written, block by block: new values, or a run of an old
    column's values copied as bytes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.lengths: list[np.ndarray] = []

    def add(self, values: list[str]) -> None:
        encoded = [v.encode("utf-8", "surrogatepass") for v in values]
        self.chunks.append(b"".join(encoded))
        self.lengths.append(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)))

    def copy(self, old: Strings, a: int, b: int) -> None:
        off = old._off
        self.chunks.append(old._blob[off[a] : off[b]].tobytes())
        self.lengths.append(np.diff(off[a : b + 1]))

    def save(self, out: Path, name: str) -> None:
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, dtype=np.int64)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        _save(out, f"{name}.blob", np.frombuffer(b"".join(self.chunks), dtype=np.uint8))
        _save(out, f"{name}.off", offsets)


_FILE_JSON = {
    "errors": lambda pf: json.dumps(pf.errors),
    "imports": lambda pf: json.dumps([[i.module, i.name, i.local, i.line] for i in pf.imports]),
    "refs": lambda pf: json.dumps([[r.chain, r.line, r.scope, r.kind, r.target] for r in pf.refs]),
}


def _write(out: Path, files, records, edges, terms_of, previous: ReadModel | None, changed, relinked) -> None:
    paths = sorted(files)
    n_files = len(paths)
    pfs = [files[p] for p in paths]
    recs = [records[p] for p in paths]
    # Files whose rows can be copied from the previous model: same content, not changed.
    # Consecutive ones are copied as one run (``_runs``).
    old_of: list[int | None] = [None] * n_files
    if previous is not None:
        old_no, old_hash, old_first = previous.file_numbers(), previous.strings("file.hash"), previous.array("file.first_symbol")
        for i, (p, pf) in enumerate(zip(paths, pfs)):
            j = old_no.get(p)
            if j is not None and p not in changed and old_hash[j] == pf.hash and old_first[j + 1] - old_first[j] == len(pf.symbols):
                old_of[i] = j

    # files
    _save_strings(out, "file.path", paths)
    _save_strings(out, "file.language", [pf.language for pf in pfs])
    _save_strings(out, "file.hash", [pf.hash for pf in pfs])
    _save_strings(out, "file.package", [pf.package for pf in pfs])
    runs = _runs(old_of)
    for column, dump in _FILE_JSON.items():
        col = _Strings()
        old = previous.strings(f"file.{column}") if previous is not None else None
        for i, k, j in runs:
            col.copy(old, j, j + k - i) if j is not None else col.add([dump(pfs[i])])
        col.save(out, f"file.{column}")
    _save(out, "file.size", np.array([r.size for r in recs], dtype=np.int64))
    _save(out, "file.mtime_ns", np.array([r.mtime_ns for r in recs], dtype=np.int64))
    _save(out, "file.lines", np.array([pf.lines for pf in pfs], dtype=np.int64))
    first = np.zeros(n_files + 1, dtype=np.int64)
    np.cumsum([len(pf.symbols) for pf in pfs], out=first[1:])
    _save(out, "file.first_symbol", first)

    # symbols
    old_first = previous.array("file.first_symbol") if previous is not None else None
    for column in _SYMBOL_STRINGS:
        col = _Strings()
        old = previous.strings(f"sym.{column}") if previous is not None else None
        for i, k, j in runs:
            if j is not None:
                col.copy(old, old_first[j], old_first[j + k - i])
            else:
                col.add([getattr(s, column) for s in pfs[i].symbols])
        col.save(out, f"sym.{column}")
    for column in _SYMBOL_INTS:
        old = previous.array(f"sym.{column}") if previous is not None else None
        parts = [old[old_first[j] : old_first[j + k - i]] if j is not None
                 else np.array([getattr(s, column) for s in pfs[i].symbols], dtype=np.int64) for i, k, j in runs]
        _save(out, f"sym.{column}", np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64))

    _write_edges(out, paths, pfs, first, edges, previous, old_of, relinked)
    _write_terms(out, "text", pfs, terms_of, previous, runs)
    _write_terms(out, "name", pfs, name_terms, previous, runs)


def _runs(old_of: list[int | None]) -> list[tuple[int, int, int | None]]:
    """(first, end, old first) for each run of files whose old rows are consecutive in the
    previous model, and (i, i + 1, None) for each file written anew."""
    runs: list[tuple[int, int, int | None]] = []
    for i, j in enumerate(old_of):
        if j is not None and runs and runs[-1][2] is not None and runs[-1][2] + (runs[-1][1] - runs[-1][0]) == j:
            first, _, old = runs[-1]
            runs[-1] = (first, i + 1, old)
        else:
            runs.append((i, i + 1, j))
    return runs


def _write_edges(out: Path, paths, pfs, first, edges, previous: ReadModel | None, old_of, relinked) -> None:
    """Edges by source file, in the resolver's order: a file not resolved again keeps its
    old rows, their node numbers moved to the new numbering."""
    n_files = len(paths)
    node = {f"{p}:": i for i, p in enumerate(paths)}
    for i, pf in enumerate(pfs):
        node.update((s.id, n_files + first[i] + k) for k, s in enumerate(pf.symbols))
    kinds = list(EDGE_KINDS)
    resolutions: list[str] = []
    renumber = kind_map = res_map = old_edge_ptr = None
    if previous is not None:
        old_ids = previous.node_ids()
        renumber = np.fromiter((node.get(n, -1) for n in old_ids), dtype=np.int64, count=len(old_ids))
        for k in previous.strings("edge.kinds").all():
            if k not in kinds:
                kinds.append(k)
        resolutions = previous.strings("edge.resolutions").all()
        kind_map = np.array([kinds.index(k) for k in previous.strings("edge.kinds").all()], dtype=np.int64)
        res_map = np.arange(len(resolutions), dtype=np.int64)
        old_edge_ptr = previous.array("file.first_edge")
    kind_no = {k: i for i, k in enumerate(kinds)}
    res_no = {r: i for i, r in enumerate(resolutions)}
    cols: dict[str, list[np.ndarray]] = {c: [] for c in ("src", "dst", "kind", "resolution", "confidence", "line")}
    counts = np.zeros(n_files, dtype=np.int64)
    for i, p in enumerate(paths):
        j = old_of[i]
        if j is not None and p not in relinked:
            a, b = old_edge_ptr[j], old_edge_ptr[j + 1]
            src = renumber[previous.array("edge.src")[a:b]]
            dst = renumber[previous.array("edge.dst")[a:b]]
            keep = (src >= 0) & (dst >= 0)
            cols["src"].append(src[keep])
            cols["dst"].append(dst[keep])
            cols["kind"].append(kind_map[previous.array("edge.kind")[a:b][keep]])
            cols["resolution"].append(res_map[previous.array("edge.resolution")[a:b][keep]])
            cols["confidence"].append(np.asarray(previous.array("edge.confidence")[a:b][keep]))
            cols["line"].append(np.asarray(previous.array("edge.line")[a:b][keep], dtype=np.int64))
            counts[i] = int(keep.sum())
            continue
        rows = []
        for e in edges.get(p, ()):
            s, d = node.get(e.src), node.get(e.dst)
            if s is None or d is None:
                continue  # an end that is no node: no edge any reader could follow
            k = kind_no.get(e.kind)
            if k is None:
                k = kind_no[e.kind] = len(kinds)
                kinds.append(e.kind)
            r = res_no.get(e.resolution)
            if r is None:
                r = res_no[e.resolution] = len(resolutions)
                resolutions.append(e.resolution)
            rows.append((s, d, k, r, e.confidence, e.line))
        if rows:
            s, d, k, r, c, ln = zip(*rows)
            for name, values, dtype in (("src", s, np.int64), ("dst", d, np.int64), ("kind", k, np.int64),
                                        ("resolution", r, np.int64), ("confidence", c, np.float64), ("line", ln, np.int64)):
                cols[name].append(np.array(values, dtype=dtype))
        counts[i] = len(rows)
    dtypes = {"src": np.int32, "dst": np.int32, "kind": np.uint8, "resolution": np.uint8, "confidence": np.float64, "line": np.int32}
    for name, parts in cols.items():
        _save(out, f"edge.{name}", np.concatenate(parts).astype(dtypes[name]) if parts else np.zeros(0, dtype=dtypes[name]))
    ptr = np.zeros(n_files + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    _save(out, "file.first_edge", ptr)
    _save_strings(out, "edge.kinds", kinds)
    _save_strings(out, "edge.resolutions", resolutions)


def name_terms(pf: ParsedFile) -> list[Counter]:
    """The words ``search_symbols`` finds each symbol by: its qualified name, the words of
    its name and signature, its labels and the head of its docstring (``search_text``)."""
    return [Counter(_ALNUM.findall(search_text(s).lower())) for s in pf.symbols]


def _write_terms(out: Path, prefix: str, pfs, terms_of, previous: ReadModel | None, runs) -> None:
    """Each symbol's term counts as rows (``<prefix>.terms``, ``.tfs``, ``.indptr``) over
    one vocabulary (``<prefix>.vocab``): the previous model's, with new terms appended
    (a fresh build numbers them as first met)."""
    vocab: dict[str, int] = {}
    if previous is not None:
        vocab = {t: i for i, t in enumerate(previous.strings(f"{prefix}.vocab").all())}
        old_first = previous.array("file.first_symbol")
        old_indptr = previous.array(f"{prefix}.indptr")
        old_terms = previous.array(f"{prefix}.terms")
        old_tfs = previous.array(f"{prefix}.tfs")
    term_parts, tf_parts, len_parts = [], [], []
    for i, k, j in runs:
        if j is not None:
            s0, s1 = old_first[j], old_first[j + k - i]
            a, b = old_indptr[s0], old_indptr[s1]
            term_parts.append(np.asarray(old_terms[a:b], dtype=np.int64))
            tf_parts.append(np.asarray(old_tfs[a:b], dtype=np.int64))
            len_parts.append(np.diff(old_indptr[s0 : s1 + 1]))
            continue
        pf = pfs[i]
        counters = terms_of(pf)
        ids, tfs = [], []
        for c in counters:
            for t, n in c.items():
                tid = vocab.get(t)
                if tid is None:
                    tid = vocab[t] = len(vocab)
                ids.append(tid)
                tfs.append(n)
        term_parts.append(np.array(ids, dtype=np.int64))
        tf_parts.append(np.array(tfs, dtype=np.int64))
        len_parts.append(np.array([len(c) for c in counters], dtype=np.int64))
    lengths = np.concatenate(len_parts) if len_parts else np.zeros(0, dtype=np.int64)
    _save_strings(out, f"{prefix}.vocab", list(vocab))
    _save(out, f"{prefix}.terms", np.concatenate(term_parts).astype(np.int32) if term_parts else np.zeros(0, dtype=np.int32))
    _save(out, f"{prefix}.tfs", np.concatenate(tf_parts).astype(np.int32) if tf_parts else np.zeros(0, dtype=np.int32))
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    _save(out, f"{prefix}.indptr", indptr)


def remove_unused(store_dir: Path, keep: str) -> None:
    """Delete the read models other than ``keep`` (and unfinished ones). A process that
    still maps one keeps its pages until it lets go."""
    root = Path(store_dir) / DIRNAME
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


# --- reading -------------------------------------------------------------------------


def _error_ranges(text: str) -> list[tuple[int, int]]:
    """A file's parse-error line ranges, from their JSON (most files have none)."""
    return [tuple(e) for e in json.loads(text)] if text != "[]" else []


class Strings:
    """A column of strings: one UTF-8 blob and its offsets."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray):
        self._blob, self._off = blob, offsets

    def __len__(self) -> int:
        return len(self._off) - 1

    def __getitem__(self, i: int) -> str:
        a, b = self._off[i], self._off[i + 1]
        return self._blob[a:b].tobytes().decode("utf-8", "surrogatepass")

    def all(self) -> list[str]:
        data = self._blob.tobytes()
        off = self._off.tolist()
        return [data[off[i] : off[i + 1]].decode("utf-8", "surrogatepass") for i in range(len(off) - 1)]


class ReadModel:
    """One read model, every column mapped when it is opened."""

    def __init__(self, store_dir: Path, name: str):
        self.name = name
        self.dir = Path(store_dir) / DIRNAME / name
        try:
            with open(self.dir / "format.json") as fh:
                meta = json.load(fh)
        except FileNotFoundError:
            raise ReadModelMissing(f"read model {self.dir} is gone") from None
        if meta.get("format") != FORMAT:
            raise ReadModelIncompatible(
                f"the read model in {self.dir} has format {meta.get('format')}, this ctxfold reads {FORMAT}; "
                "the index will be rebuilt (facts are kept)")
        # Every column mapped now: a later commit may delete the directory, and a mapped
        # file stays readable after that, where opening it would fail.
        try:
            self._arrays: dict[str, np.ndarray] = {
                # (as plain arrays over the mapping: np.memmap's slicing costs microseconds each)
                f.name[:-4]: np.load(f, mmap_mode="r", allow_pickle=False).view(np.ndarray)
                for f in self.dir.iterdir() if f.name.endswith(".npy")
            }
        except FileNotFoundError:
            raise ReadModelMissing(f"read model {self.dir} is gone") from None
        self._strings: dict[str, Strings] = {}
        self.n_files = len(self.strings("file.path"))
        self.n_symbols = len(self.strings("sym.qualname"))
        self._file_no: dict[str, int] | None = None

    def array(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise ReadModelIncompatible(f"the read model in {self.dir} has no column {name}; the index will be rebuilt") from None

    def strings(self, name: str) -> Strings:
        s = self._strings.get(name)
        if s is None:
            s = self._strings[name] = Strings(self.array(f"{name}.blob"), self.array(f"{name}.off"))
        return s

    def file_numbers(self) -> dict[str, int]:
        if self._file_no is None:
            self._file_no = {p: i for i, p in enumerate(self.strings("file.path").all())}
        return self._file_no

    def records(self) -> dict[str, FileRecord]:
        paths = self.strings("file.path").all()
        langs = self.strings("file.language").all()
        hashes = self.strings("file.hash").all()
        errors = self.strings("file.errors").all()
        size = self.array("file.size").tolist()
        mtime = self.array("file.mtime_ns").tolist()
        lines = self.array("file.lines").tolist()
        return {
            p: FileRecord(p, langs[i], hashes[i], size[i], mtime[i], lines[i],
                          _error_ranges(errors[i]))
            for i, p in enumerate(paths)
        }

    def symbols(self) -> list[Symbol]:
        """Every symbol, in file order and then source order."""
        paths = self.strings("file.path").all()
        first = self.array("file.first_symbol").tolist()
        path_of = [None] * self.n_symbols
        for i, p in enumerate(paths):
            path_of[first[i] : first[i + 1]] = [p] * (first[i + 1] - first[i])
        cols = [self.strings(f"sym.{c}").all() for c in _SYMBOL_STRINGS]
        ints = [self.array(f"sym.{c}").tolist() for c in _SYMBOL_INTS]
        qualname, name, kind, signature, doc, hash_, labels = cols
        start, end, body, full, sig, test = ints
        return [
            Symbol(path_of[j], qualname[j], name[j], kind[j], start[j], end[j], signature[j], doc[j], hash_[j],
                   full[j], sig[j], body[j], labels[j], bool(test[j]))
            for j in range(self.n_symbols)
        ]

    def parsed_files(self, symbols: list[Symbol], with_refs: bool) -> dict[str, ParsedFile]:
        """Files with their symbols (``symbols`` as ``symbols()`` gives them); references and
        imports only ``with_refs`` (a process that resolves again needs them)."""
        paths = self.strings("file.path").all()
        langs = self.strings("file.language").all()
        hashes = self.strings("file.hash").all()
        packages = self.strings("file.package").all()
        errors = self.strings("file.errors").all()
        lines = self.array("file.lines").tolist()
        first = self.array("file.first_symbol").tolist()
        refs = self.strings("file.refs") if with_refs else None
        imports = self.strings("file.imports") if with_refs else None
        out = {}
        for i, p in enumerate(paths):
            pf = ParsedFile(p, langs[i], hashes[i], lines[i], symbols[first[i] : first[i + 1]],
                            package=packages[i],
                            errors=_error_ranges(errors[i]))
            if with_refs:
                pf.refs = [Ref(c, ln, s, k, t) for c, ln, s, k, t in json.loads(refs[i])]
                pf.imports = [Import(m, n, a, ln) for m, n, a, ln in json.loads(imports[i])]
            out[p] = pf
        return out

    def node_ids(self) -> list[str]:
        """Node numbers to ids: files' own nodes, then symbols."""
        paths = self.strings("file.path").all()
        first = self.array("file.first_symbol").tolist()
        qualname = self.strings("sym.qualname").all()
        out = [f"{p}:" for p in paths]
        for i, p in enumerate(paths):
            out.extend(f"{p}:{q}" for q in qualname[first[i] : first[i + 1]])
        return out

    def edge_counts(self) -> tuple[Counter, Counter]:
        """Edges by kind, and by resolution (containment aside)."""
        kinds = self.strings("edge.kinds").all()
        resolutions = self.strings("edge.resolutions").all()
        kind = np.asarray(self.array("edge.kind"))
        res = np.asarray(self.array("edge.resolution"))
        by_kind = Counter({kinds[k]: int(n) for k, n in enumerate(np.bincount(kind, minlength=len(kinds))) if n})
        not_contain = kind != kinds.index("contain")
        by_res = Counter({resolutions[r]: int(n) for r, n in enumerate(np.bincount(res[not_contain], minlength=len(resolutions))) if n})
        return by_kind, by_res

    def edges_by_file(self, ids: list[str] | None = None) -> dict[str, list[Edge]]:
        """The resolver's edges, by source file, as it made them."""
        import sys

        ids = ids if ids is not None else self.node_ids()
        kinds = self.strings("edge.kinds").all()
        resolutions = self.strings("edge.resolutions").all()
        src = self.array("edge.src").tolist()
        dst = self.array("edge.dst").tolist()
        kind = self.array("edge.kind").tolist()
        res = self.array("edge.resolution").tolist()
        conf = self.array("edge.confidence").tolist()
        line = self.array("edge.line").tolist()
        intern = sys.intern
        ids = [intern(i) for i in ids]
        out: dict[str, list[Edge]] = {}
        for k in range(len(src)):
            s = ids[src[k]]
            out.setdefault(s.rpartition(":")[0], []).append(Edge(s, ids[dst[k]], kinds[kind[k]], resolutions[res[k]], conf[k], line[k]))
        return out
