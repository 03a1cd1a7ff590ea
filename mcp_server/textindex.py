"""In-memory BM25 indexes for recall: over symbol texts (names, signatures, docstrings,
bodies and their file path), updated per file by content hash, for its full-text seeds;
and over the messages of recent commits, for the past commits that read like a task."""

from __future__ import annotations

import builtins
import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from indexers.scan import read_source, source_lines
from indexers.types import ParsedFile

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have if in into is it its not of on or
    such that the their then there these this to was will with self cls none true false
    return def class import none pass elif else try except raise while yield lambda
    i we you he she they me my our your can could should would may might do does did
    when what which who how why where all any some one two get set use used using also
    just like make made new old so than too very only own same other each both few more
    most no nor out up down over under again further once here both after before above
    below between through during off about against within without function method
    code file line lines value values example following issue problem error expected
    actual result results output input test tests work works working bug""".split()
)
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
NAME_WEIGHT = 3  # extra term counts for the words of a symbol's own name


@lru_cache(maxsize=200_000)
def _terms_of(ident: str) -> tuple[str, ...]:
    low = ident.lower()
    parts = [p.lower() for chunk in ident.split("_") for p in _PARTS.findall(chunk)]
    out = []
    if len(parts) > 1 or (parts and parts[0] != low):
        out.extend(p for p in parts if len(p) > 2 and p not in STOPWORDS)
    if len(low) > 2 and low not in STOPWORDS:
        out.append(low)
    return tuple(out)


def ignored_words(own_names) -> frozenset[str]:
    """Query words full-text search skips in a repository whose lowercased symbol names are
    ``own_names``: the built-in exceptions it does not define."""
    return frozenset(w for w in BUILTIN_ERRORS if w not in own_names)


def words(text: str) -> list[str]:
    """Identifier-aware terms: every identifier lowercased, plus its snake/Camel parts."""
    out: list[str] = []
    for ident in _WORD.findall(text):
        out.extend(_terms_of(ident))
    return out


class TextIndex:
    def __init__(self) -> None:
        self.file_hash: dict[str, str] = {}
        self.doc_terms: dict[str, Counter] = {}  # symbol id -> term counts
        self.doc_len: dict[str, int] = {}
        self.postings: dict[str, dict[str, int]] = {}
        self.file_docs: dict[str, list[str]] = {}
        self._total_len = 0
        # The same terms summed per file: a file as one document, for file-level ranking.
        self.file_postings: dict[str, dict[str, int]] = {}
        self.file_terms: dict[str, tuple[str, ...]] = {}
        self.file_len: dict[str, int] = {}
        self._total_file_len = 0

    def _remove_file(self, path: str) -> None:
        for sid in self.file_docs.pop(path, []):
            _unpost(self.postings, sid, self.doc_terms.pop(sid, {}))
            self._total_len -= self.doc_len.pop(sid, 0)
        _unpost(self.file_postings, path, self.file_terms.pop(path, ()))
        self._total_file_len -= self.file_len.pop(path, 0)
        self.file_hash.pop(path, None)

    def _add_file(self, repo: Path, pf: ParsedFile) -> None:
        try:
            lines = source_lines(read_source(repo / pf.path))
        except OSError:
            lines = []
        path_terms = words(pf.path.replace("/", " ").rsplit(".", 1)[0])
        children: dict[str, list[str]] = {}
        for sym in pf.symbols:
            if sym.parent:
                children.setdefault(sym.parent, []).append(sym.name)
        sids = []
        for sym in pf.symbols:
            if sym.kind in ("class", "struct", "interface", "trait", "enum", "impl") and sym.qualname in children:
                # A type's own text: its header, docstring and member names, not member bodies.
                text = " ".join([sym.qualname, sym.signature, sym.doc, " ".join(children[sym.qualname])])
            else:
                body = "\n".join(lines[sym.start_line - 1 : sym.end_line])
                text = " ".join([sym.qualname, body])
            terms = Counter(words(text))
            # The name says what a symbol is about more than any word of its body.
            for t in words(sym.name):
                terms[t] += NAME_WEIGHT
            for t in path_terms:
                terms[t] += 1
            sid = sym.id
            self.doc_terms[sid] = terms
            length = sum(terms.values())
            self.doc_len[sid] = length
            self._total_len += length
            for term, tf in terms.items():
                self.postings.setdefault(term, {})[sid] = tf
            sids.append(sid)
        self.file_docs[pf.path] = sids
        self.file_hash[pf.path] = pf.hash
        file_terms: Counter = Counter()
        for sid in sids:
            file_terms.update(self.doc_terms[sid])
        self.file_terms[pf.path] = tuple(file_terms)
        self.file_len[pf.path] = length = sum(file_terms.values())
        self._total_file_len += length
        for term, tf in file_terms.items():
            self.file_postings.setdefault(term, {})[pf.path] = tf

    def sync(self, repo: Path, files: dict[str, ParsedFile]) -> None:
        """Re-index files whose hash changed; drop files that are gone."""
        for path in [p for p in self.file_hash if p not in files or files[p].hash != self.file_hash[p]]:
            self._remove_file(path)
        for path, pf in files.items():
            if path not in self.file_hash:
                self._add_file(repo, pf)

    def search(self, query: str, limit: int = 200, max_df: float = MAX_DF,
               ignore: frozenset[str] = frozenset()) -> list[tuple[str, float, list[str]]]:
        """(symbol id, BM25 score, matched terms), best first, ``ignore`` not searched for.
        In a small repository a word is searched however common, as long as no more than
        ``ALWAYS_DF`` symbols hold it."""
        scores, matched = _bm25(_query(query, ignore), self.postings, self.doc_len, self._total_len, max_df)
        best = sorted(scores.items(), key=lambda kv: -kv[1])[:limit]
        return [(sid, score, matched[sid]) for sid, score in best]

    def search_files(self, query: str, max_df: float = MAX_DF, ignore: frozenset[str] = frozenset()) -> dict[str, float]:
        """BM25 of every file that shares a telling term with ``query``, a file taken as one
        document (a term in no more than ``ALWAYS_DF`` files always tells)."""
        return _bm25(_query(query, ignore), self.file_postings, self.file_len, self._total_file_len, max_df)[0]


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


def _unpost(postings: dict[str, dict[str, int]], doc: str, terms) -> None:
    """Take ``doc`` out of the posting lists of ``terms``; drop lists left empty."""
    for term in terms:
        bucket = postings.get(term)
        if bucket is not None:
            bucket.pop(doc, None)
            if not bucket:
                del postings[term]


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
