"""BM25 indexes for recall: over symbol texts (names, signatures, docstrings, bodies and
their file path; the read model's term rows, scored with numpy), for its full-text seeds,
with each file also taken as one document; and over the messages of recent commits, for
the past commits that read like a task."""

from __future__ import annotations

import builtins
import math
from collections import Counter

import numpy as np

from indexers.readmodel import ReadModel
from indexers.terms import words

# Python's built-in exceptions (ValueError, KeyError): tasks name them in every traceback
# and example, and code raises and catches them everywhere, so they say nothing of where;
# the words of the message do. Not searched for unless the repository defines one itself
# (``ignored_words``). "exception" and "warning" are prose words and stay.
BUILTIN_ERRORS = frozenset(
    name.lower() for name, obj in vars(builtins).items() if isinstance(obj, type) and issubclass(obj, BaseException)
) - {"exception", "warning"}
K1, B = 1.2, 0.75
MAX_DF = 0.25  # a term in more of the documents than this share is not searched for
ALWAYS_DF = 10  # a term in no more documents than this is searched all the same (small repositories, short histories)


def ignored_words(own_names) -> frozenset[str]:
    """Query words full-text search skips in a repository whose lowercased symbol names are
    ``own_names``: the built-in exceptions it does not define."""
    return frozenset(w for w in BUILTIN_ERRORS if w not in own_names)


class _Postings:
    """Documents by term: for term ``t``, ``docs[ptr[t]:ptr[t+1]]`` (ascending) and their term counts."""

    def __init__(self, terms: np.ndarray, docs: np.ndarray, tfs: np.ndarray, n_terms: int, doc_len: np.ndarray):
        order = np.argsort(terms, kind="stable")
        self.docs = docs[order]
        self.tfs = tfs[order].astype(np.float64)
        self.ptr = np.searchsorted(terms[order], np.arange(n_terms + 1))
        self.doc_len = doc_len.astype(np.float64)
        self.total_len = int(doc_len.sum())

    def bm25(self, term_ids: list[tuple[str, int | None, int]], max_df: float):
        """BM25 scores of every document (0 where no term matched), and for each term
        searched, its name and the documents it matched; a term in more than ``max_df`` of
        the documents (and in more than ``ALWAYS_DF``) is too common to say anything.
        The sums run term by term, in the query's order, as one would by hand."""
        n = len(self.doc_len)
        scores = np.zeros(n)
        hits: list[tuple[str, np.ndarray]] = []
        if not n:
            return scores, hits
        avg = self.total_len / n
        for term, tid, qtf in term_ids:
            if tid is None:
                continue
            a, b = self.ptr[tid], self.ptr[tid + 1]
            df = int(b - a)
            if not df or df > max(n * max_df, ALWAYS_DF):
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            weight = idf * (1 + math.log(qtf))
            docs, tf = self.docs[a:b], self.tfs[a:b]
            denom = tf + K1 * (1 - B + B * self.doc_len[docs] / avg)
            scores[docs] += weight * tf * (K1 + 1) / denom
            hits.append((term, docs))
        return scores, hits


def _matched(scores: np.ndarray, hits: list[tuple[str, np.ndarray]], by_score: bool) -> np.ndarray:
    """Documents that matched: those matched by an earlier query term first, then in index
    order; ``by_score``: best first, in that order among equal scores."""
    first = np.full(len(scores), len(hits), dtype=np.int64)
    for i, (_, docs) in reversed(list(enumerate(hits))):
        first[docs] = i
    matched = np.flatnonzero(first < len(hits))
    keys = (matched, first[matched], -scores[matched]) if by_score else (matched, first[matched])
    return matched[np.lexsort(keys)]


def _symbol_postings(rm: ReadModel, prefix: str):
    """The vocabulary and postings of one of the read model's term tables, and its rows
    (term, document, count) with each document's length."""
    vocab = rm.strings(f"{prefix}.vocab").all()
    terms = np.asarray(rm.array(f"{prefix}.terms"), dtype=np.int64)
    tfs = np.asarray(rm.array(f"{prefix}.tfs"), dtype=np.int64)
    indptr = np.asarray(rm.array(f"{prefix}.indptr"))
    doc_of_row = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    cum = np.concatenate([[0], np.cumsum(tfs)])
    doc_len = cum[indptr[1:]] - cum[indptr[:-1]]
    postings = _Postings(terms, doc_of_row, tfs, len(vocab), doc_len)
    return {t: i for i, t in enumerate(vocab)}, postings, (terms, doc_of_row, tfs, doc_len)


class NameIndex:
    """BM25 over the words ``search_symbols`` finds a symbol by (its qualified name, the
    words of its name and signature, labels, the head of its docstring), every word searched."""

    def __init__(self, rm: ReadModel | None):
        self._vocab: dict[str, int] = {}
        self._postings: _Postings | None = None
        if rm is not None and rm.n_symbols:
            self._vocab, self._postings, _ = _symbol_postings(rm, "name")

    def search(self, words: list[str], allowed: np.ndarray | None = None) -> list[int]:
        """Symbol numbers that hold any of ``words`` (and are ``allowed``), best first;
        among equal scores, in index order."""
        if self._postings is None or not words:
            return []
        query = [(w, self._vocab.get(w), n) for w, n in Counter(words).items()]
        scores, hits = self._postings.bm25(query, max_df=1.0)
        found = np.zeros(len(scores), dtype=bool)
        for _, docs in hits:
            found[docs] = True
        if allowed is not None:
            found &= allowed
        docs = np.flatnonzero(found)
        return docs[np.lexsort((docs, -scores[docs]))].tolist()


class TextIndex:
    """Full-text search over one read model's symbols (and files, each as one document)."""

    def __init__(self, rm: ReadModel | None = None, symbol_ids: list[str] | None = None):
        self._rm = rm
        self.symbol_ids = symbol_ids or []
        self._vocab: dict[str, int] | None = None
        self._symbols: _Postings | None = None
        self._files: _Postings | None = None
        self.paths: list[str] = rm.strings("file.path").all() if rm is not None else []

    def build(self) -> None:
        """Build the postings now (else the first search does)."""
        if self._symbols is not None:
            return
        rm = self._rm
        if rm is None or not rm.n_symbols:
            self._vocab = {}
            empty = np.zeros(0, dtype=np.int64)
            self._symbols = _Postings(empty, empty, empty, 0, empty)
            self._files = _Postings(empty, empty, empty, 0, np.zeros(len(self.paths), dtype=np.int64))
            return
        self._vocab, self._symbols, (terms, doc_of_row, tfs, doc_len) = _symbol_postings(rm, "text")
        # Files: the same terms summed over each file's symbols.
        first = np.asarray(rm.array("file.first_symbol"))
        n_files = len(first) - 1
        file_of_doc = np.repeat(np.arange(n_files), np.diff(first))
        key = terms * n_files + file_of_doc[doc_of_row]
        pairs, inverse = np.unique(key, return_inverse=True)
        file_tfs = np.bincount(inverse, weights=tfs).astype(np.int64)
        file_len = np.bincount(file_of_doc, weights=doc_len, minlength=n_files).astype(np.int64)
        self._files = _Postings(pairs // n_files, pairs % n_files, file_tfs, len(self._vocab), file_len)

    def _query(self, query: str, ignore: frozenset[str]) -> list[tuple[str, int | None, int]]:
        self.build()
        counts = Counter(w for w in words(query) if w not in ignore)
        return [(t, self._vocab.get(t), qtf) for t, qtf in counts.items()]

    def search(self, query: str, limit: int = 200, max_df: float = MAX_DF,
               ignore: frozenset[str] = frozenset()) -> list[tuple[str, float, list[str]]]:
        """(symbol id, BM25 score, matched terms), best first, ``ignore`` not searched for.
        In a small repository a word is searched however common, as long as no more than
        ``ALWAYS_DF`` symbols hold it."""
        query_terms = self._query(query, ignore)
        scores, hits = self._symbols.bm25(query_terms, max_df)
        best = _matched(scores, hits, by_score=True)[:limit]
        matched: dict[int, list[str]] = {int(d): [] for d in best}
        for term, docs in hits:
            for d in best[np.isin(best, docs, assume_unique=True)].tolist():
                matched[d].append(term)
        return [(self.symbol_ids[d], float(scores[d]), matched[d]) for d in best.tolist()]

    def search_files(self, query: str, max_df: float = MAX_DF, ignore: frozenset[str] = frozenset()) -> dict[str, float]:
        """BM25 of every file that shares a telling term with ``query``, a file taken as one
        document (a term in no more than ``ALWAYS_DF`` files always tells)."""
        query_terms = self._query(query, ignore)
        scores, hits = self._files.bm25(query_terms, max_df)
        return {self.paths[f]: float(scores[f]) for f in _matched(scores, hits, by_score=False).tolist()}


class CommitIndex:
    """BM25 over the messages of past commits ([sha, message, files], as history keeps
    them), to find the commits that read like a task."""

    def __init__(self, commits: list[list]) -> None:
        self.commits = {sha: (message, files) for sha, message, files in commits}
        self.postings: dict[str, dict[str, int]] = {}
        self.doc_len: dict[str, int] = {}
        for sha, (message, _) in self.commits.items():
            terms = Counter(words(message))
            self.doc_len[sha] = sum(terms.values()) or 1
            for term, tf in terms.items():
                self.postings.setdefault(term, {})[sha] = tf
        self._total_len = sum(self.doc_len.values())

    def search(self, query: str, limit: int, max_df: float = MAX_DF,
               ignore: frozenset[str] = frozenset()) -> list[tuple[str, float]]:
        """(sha, BM25 score), best first. In a short history a word is searched however
        common it is among the messages, as long as no more than ``ALWAYS_DF`` hold it."""
        scores = _bm25(_query(query, ignore), self.postings, self.doc_len, self._total_len, max_df)[0]
        return sorted(scores.items(), key=lambda kv: -kv[1])[:limit]


def _query(query: str, ignore: frozenset[str]) -> list[str]:
    return [w for w in words(query) if w not in ignore] if ignore else words(query)


def _bm25(query_terms: list[str], postings: dict[str, dict[str, int]], doc_len: dict[str, int],
          total_len: int, max_df: float) -> tuple[dict[str, float], dict[str, list[str]]]:
    """BM25 scores of the documents that hold a query term, and the terms each matched;
    a term in more than ``max_df`` of the documents (and in more than ``ALWAYS_DF``) is
    too common to say anything."""
    n = len(doc_len)
    scores: dict[str, float] = {}
    matched: dict[str, list[str]] = {}
    if not n:
        return scores, matched
    avg = total_len / n
    for term, qtf in Counter(query_terms).items():
        bucket = postings.get(term)
        if not bucket:
            continue
        df = len(bucket)
        if df > max(n * max_df, ALWAYS_DF):
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        weight = idf * (1 + math.log(qtf))
        for doc, tf in bucket.items():
            denom = tf + K1 * (1 - B + B * doc_len[doc] / avg)
            scores[doc] = scores.get(doc, 0.0) + weight * tf * (K1 + 1) / denom
            matched.setdefault(doc, []).append(term)
    return scores, matched
