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

FORMAT = 1
_ALNUM = re.compile(r"[a-z0-9]+")
DIRNAME = "rm"
EDGE_KINDS = ("call", "import", "inherit", "type", "contain")
_SYMBOL_STRINGS = ("qualname", "name", "kind", "signature", "doc", "hash", "labels")
_SYMBOL_INTS = ("start_line", "end_line", "body_line", "tokens_full", "tokens_sig")
_FILE_STRINGS = ("path", "language", "hash", "package", "errors", "imports", "refs")


class ReadModelMissing(OSError):
    """The read model the manifest names is gone (a newer commit replaced it): read the manifest again."""


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
) -> str:
    """Write the read model of this index into a new directory and return its name.
    ``terms_of`` gives a file's symbol term counts; files not in ``changed`` take theirs
    from ``previous`` when it has them, so an update tokenizes only what changed."""
    root = Path(store_dir) / DIRNAME
    name = uuid.uuid4().hex
    tmp = root / f".{name}.tmp"
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        _write(tmp, files, records, edges, terms_of, previous, changed)
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


def _write(out: Path, files, records, edges, terms_of, previous, changed) -> None:
    paths = sorted(files)
    file_no = {p: i for i, p in enumerate(paths)}
    n_files = len(paths)

    # files
    pfs = [files[p] for p in paths]
    recs = [records[p] for p in paths]
    _save_strings(out, "file.path", paths)
    _save_strings(out, "file.language", [pf.language for pf in pfs])
    _save_strings(out, "file.hash", [pf.hash for pf in pfs])
    _save_strings(out, "file.package", [pf.package for pf in pfs])
    _save_strings(out, "file.errors", [json.dumps(pf.errors) for pf in pfs])
    _save_strings(out, "file.imports", [json.dumps([[i.module, i.name, i.local, i.line] for i in pf.imports]) for pf in pfs])
    _save_strings(out, "file.refs", [json.dumps([[r.chain, r.line, r.scope, r.kind, r.target] for r in pf.refs]) for pf in pfs])
    _save(out, "file.size", np.array([r.size for r in recs], dtype=np.int64))
    _save(out, "file.mtime_ns", np.array([r.mtime_ns for r in recs], dtype=np.int64))
    _save(out, "file.lines", np.array([pf.lines for pf in pfs], dtype=np.int64))
    first = np.zeros(n_files + 1, dtype=np.int64)
    np.cumsum([len(pf.symbols) for pf in pfs], out=first[1:])
    _save(out, "file.first_symbol", first)

    # symbols
    syms = [s for pf in pfs for s in pf.symbols]
    for column in _SYMBOL_STRINGS:
        _save_strings(out, f"sym.{column}", [getattr(s, column) for s in syms])
    for column in _SYMBOL_INTS:
        _save(out, f"sym.{column}", np.array([getattr(s, column) for s in syms], dtype=np.int64))

    # edges, in the resolver's order
    node = {f"{p}:": i for i, p in enumerate(paths)}
    node.update((s.id, n_files + j) for j, s in enumerate(syms))
    kinds = {k: i for i, k in enumerate(EDGE_KINDS)}
    resolutions: dict[str, int] = {}
    src, dst, kind, res, conf, line = [], [], [], [], [], []
    extra_kinds: list[str] = []
    for p in sorted(edges, key=lambda p: file_no.get(p, n_files)):
        for e in edges[p]:
            a, b = node.get(e.src), node.get(e.dst)
            if a is None or b is None:
                continue  # an end that is no node: no edge any reader could follow
            k = kinds.get(e.kind)
            if k is None:
                k = kinds[e.kind] = len(kinds)
                extra_kinds.append(e.kind)
            src.append(a)
            dst.append(b)
            kind.append(k)
            res.append(resolutions.setdefault(e.resolution, len(resolutions)))
            conf.append(e.confidence)
            line.append(e.line)
    _save(out, "edge.src", np.array(src, dtype=np.int32))
    _save(out, "edge.dst", np.array(dst, dtype=np.int32))
    _save(out, "edge.kind", np.array(kind, dtype=np.uint8))
    _save(out, "edge.resolution", np.array(res, dtype=np.uint8))
    _save(out, "edge.confidence", np.array(conf, dtype=np.float64))
    _save(out, "edge.line", np.array(line, dtype=np.int32))
    _save_strings(out, "edge.kinds", list(EDGE_KINDS) + extra_kinds)
    _save_strings(out, "edge.resolutions", list(resolutions))

    _write_terms(out, "text", paths, pfs, terms_of, previous, changed)
    _write_terms(out, "name", paths, pfs, name_terms, previous, changed)


def name_terms(pf: ParsedFile) -> list[Counter]:
    """The words ``search_symbols`` finds each symbol by: its qualified name, the words of
    its name and signature, its labels and the head of its docstring (``search_text``)."""
    return [Counter(_ALNUM.findall(search_text(s).lower())) for s in pf.symbols]


def _write_terms(out: Path, prefix: str, paths, pfs, terms_of, previous: ReadModel | None, changed) -> None:
    """Each symbol's term counts as rows (``<prefix>.terms``, ``.tfs``, ``.indptr``) over
    one sorted vocabulary (``<prefix>.vocab``)."""
    vocab: dict[str, int] = {}  # term -> number, the previous model's numbers first
    if previous is not None:
        vocab = {t: i for i, t in enumerate(previous.strings(f"{prefix}.vocab").all())}
        old_no = previous.file_numbers()
        old_hash = previous.strings("file.hash")
        old_first = previous.array("file.first_symbol")
        old_indptr = previous.array(f"{prefix}.indptr")
        old_terms = previous.array(f"{prefix}.terms")
        old_tfs = previous.array(f"{prefix}.tfs")
    term_parts, tf_parts, len_parts = [], [], []
    for path, pf in zip(paths, pfs):
        i = old_no.get(path) if previous is not None and path not in changed else None
        if i is not None and old_hash[i] == pf.hash and old_first[i + 1] - old_first[i] == len(pf.symbols):
            a, b = old_indptr[old_first[i]], old_indptr[old_first[i + 1]]
            lengths = np.diff(old_indptr[old_first[i] : old_first[i + 1] + 1])
            term_parts.append(np.asarray(old_terms[a:b], dtype=np.int64))
            tf_parts.append(np.asarray(old_tfs[a:b], dtype=np.int64))
            len_parts.append(lengths)
            continue
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
    terms = np.concatenate(term_parts) if term_parts else np.zeros(0, dtype=np.int64)
    tfs = np.concatenate(tf_parts) if tf_parts else np.zeros(0, dtype=np.int64)
    lengths = np.concatenate(len_parts) if len_parts else np.zeros(0, dtype=np.int64)
    # Keep the terms still used, sorted, and number them anew.
    words = list(vocab)
    used, inverse = np.unique(terms, return_inverse=True)
    used_words = [words[i] for i in used]
    order = sorted(range(len(used_words)), key=used_words.__getitem__)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    _save_strings(out, f"{prefix}.vocab", [used_words[i] for i in order])
    _save(out, f"{prefix}.terms", rank[inverse].astype(np.int32) if len(terms) else np.zeros(0, dtype=np.int32))
    _save(out, f"{prefix}.tfs", tfs.astype(np.int32))
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
    """One read model, mapped. Columns load on first use."""

    def __init__(self, store_dir: Path, name: str):
        self.name = name
        self.dir = Path(store_dir) / DIRNAME / name
        try:
            with open(self.dir / "format.json") as fh:
                meta = json.load(fh)
        except FileNotFoundError:
            raise ReadModelMissing(f"read model {self.dir} is gone") from None
        if meta.get("format") != FORMAT:
            raise ReadModelMissing(f"read model {self.dir} has format {meta.get('format')}, not {FORMAT}")
        self._arrays: dict[str, np.ndarray] = {}
        self._strings: dict[str, Strings] = {}
        self.n_files = len(self.strings("file.path"))
        self.n_symbols = len(self.strings("sym.qualname"))
        self._file_no: dict[str, int] | None = None

    def array(self, name: str) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None:
            try:
                a = self._arrays[name] = np.load(self.dir / f"{name}.npy", mmap_mode="r", allow_pickle=False)
            except FileNotFoundError:
                raise ReadModelMissing(f"read model {self.dir} is gone") from None
        return a

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
                          [tuple(e) for e in json.loads(errors[i])] if errors[i] != "[]" else [])
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
        start, end, body, full, sig = ints
        return [
            Symbol(path_of[j], qualname[j], name[j], kind[j], start[j], end[j], signature[j], doc[j], hash_[j],
                   full[j], sig[j], body[j], labels[j])
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
                            errors=[tuple(e) for e in json.loads(errors[i])] if errors[i] != "[]" else [])
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
