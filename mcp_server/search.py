"""search_symbols: exact name, qualified name, label, prefix, full-text, then fuzzy.

Paging: every call gathers the same hit list for a query (tiers in a fixed order, each
tier in a stable order, full-text reads at most FULLTEXT_CAP rows whatever the page) and
returns the slice [offset:offset+limit], so pages never overlap, together cover every
hit once, and report the same total.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from indexers.store import split_identifier_words
from indexers.types import SYMBOL_KINDS, Symbol

from .errors import CtxfoldError
from .workspace import Views, Workspace

MAX_LIMIT = 200
# Full-text rows read per query, the same for every page, so the hit list (and its
# total) does not depend on offset or limit. Past it, the total is a lower bound.
FULLTEXT_CAP = 1000
FUZZY_BELOW = 20  # fewer hits than this from the other tiers: add near spellings of the name


@dataclass
class Hit:
    symbol: str  # qualified name
    kind: str
    path: str
    start_line: int
    end_line: int
    signature: str
    match: str  # exact, qualified, label, prefix, fulltext, fuzzy

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]  # this page
    total: int  # hits on all pages; a lower bound when total_exact is False
    offset: int
    suggestions: list[str]
    total_exact: bool = True  # False: full-text search matched more than FULLTEXT_CAP rows

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or None on the last one."""
        end = self.offset + len(self.hits)
        return end if self.hits and end < self.total else None

    def _count(self) -> str:
        n = f"{self.total}" if self.total_exact else f"at least {self.total}"
        return f"{n} match{'es' if self.total != 1 else ''}"

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "total_exact": self.total_exact,
            "offset": self.offset,
            "next_offset": self.next_offset,
            "hits": [asdict(h) | {"location": h.location} for h in self.hits],
            "suggestions": self.suggestions,
        }

    def render(self) -> str:
        if not self.hits:
            if self.total:
                if self.total_exact:
                    return f"No more matches for {self.query!r}: {self.total} in all, offset {self.offset} is past the end."
                return (
                    f"No more matches for {self.query!r} that can be paged: {self.total} shown in all, offset "
                    f"{self.offset} is past the end. Full-text search is capped and more match: narrow the "
                    "query, or give kind or path, to page through them."
                )
            tip = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
            return f"No symbol matches {self.query!r}.{tip} Try a shorter prefix or words from the symbol's name."
        lines = [f"{self._count()} for {self.query!r} (showing {self.offset + 1}-{self.offset + len(self.hits)}):"]
        for h in self.hits:
            lines.append(f"{h.symbol}  [{h.kind}]  {h.location}  ({h.match})\n    {h.signature}")
        if self.next_offset is not None:
            lines.append(f"... more: call again with offset={self.next_offset}")
        elif not self.total_exact:
            lines.append(
                "... more matches exist past the full-text search cap: "
                "narrow the query, or give kind or path, to page through them."
            )
        return "\n".join(lines)


def _hit(sym: Symbol, match: str) -> Hit:
    return Hit(sym.qualname, sym.kind, sym.path, sym.start_line, sym.end_line, sym.signature, match)


def _fulltext(v: Views, query: str, cap: int, kind: str | None, prefix_path: str) -> tuple[list[str], bool]:
    """Symbol ids by BM25 over identifier-split names, signatures, labels and docstrings
    (the read model's name index), of the given kind and under the given path: at most
    ``cap`` of them, best first (score, then index order), and whether more matched."""
    words = split_identifier_words(query).split()
    rm = v.read_model
    if not words or rm is None:
        return [], False
    allowed = None
    if kind or prefix_path:
        first = np.asarray(rm.array("file.first_symbol"))
        allowed = np.ones(rm.n_symbols, dtype=bool)
        if prefix_path:
            under = np.array([p == prefix_path or p.startswith(prefix_path + "/") for p in rm.strings("file.path").all()], dtype=bool)
            allowed &= np.repeat(under, np.diff(first))
        if kind:
            allowed &= np.array([k == kind for k in rm.strings("sym.kind").all()], dtype=bool)
    found = v.names.search(words, allowed)
    ids = v.node_ids()
    return [ids[rm.n_files + j] for j in found[:cap]], len(found) > cap


def _prefix(ws: Workspace, path: str) -> str:
    """``path`` (a file or directory, relative to the repository or absolute) as the
    repository-relative prefix the hits must be under; a path outside the repository is
    refused as fold_file refuses one."""
    full = ws.resolve_path(path.strip())  # raises, naming the path, when it is outside
    given = Path(path.strip())
    # As written, when that stays inside (a symlinked directory keeps the name it is indexed under).
    lexical = Path(os.path.normpath(given if given.is_absolute() else ws.repo / given))
    rel = lexical.relative_to(ws.repo) if lexical == ws.repo or ws.repo in lexical.parents else full.relative_to(ws.repo)
    return "" if rel == Path(".") else rel.as_posix()


def search_symbols(
    ws: Workspace, query: str, kind: str | None = None, path: str | None = None, limit: int = 20, offset: int = 0
) -> SearchResult:
    query = (query or "").strip()
    if not query:
        raise CtxfoldError("empty query: give a symbol name, a prefix, or words from its name or docstring")
    if kind and kind not in SYMBOL_KINDS:
        raise CtxfoldError(f"unknown kind {kind!r}: use one of {', '.join(SYMBOL_KINDS)}")
    if limit < 1 or limit > MAX_LIMIT:
        raise CtxfoldError(f"limit {limit} out of range: use 1 to {MAX_LIMIT}")
    if offset < 0:
        raise CtxfoldError(f"offset {offset} is negative: use 0 or more")
    prefix_path = _prefix(ws, path) if path and path.strip() else ""
    v: Views = ws.fresh_views()

    def keep(sym: Symbol) -> bool:
        return (not kind or sym.kind == kind) and (not prefix_path or sym.path == prefix_path or sym.path.startswith(prefix_path + "/"))

    # The whole hit list, the same whatever offset and limit are: tiers in a fixed
    # order, each in a stable order, then one slice of it is the page.
    seen: set[str] = set()
    hits: list[Hit] = []

    def add(syms, match: str, ordered: bool = False) -> None:
        """Add a tier: in source order (path, line, id) unless it comes ``ordered``."""
        syms = list(syms) if ordered else sorted(syms, key=lambda s: (s.path, s.start_line, s.id))
        for sym in syms:
            if sym.id not in seen and keep(sym):
                seen.add(sym.id)
                hits.append(_hit(sym, match))

    q = query.lower()
    leaf = q.replace("::", ".").rsplit(".", 1)[-1]
    add([s for s in v.by_name.get(q, []) if s.name == query], "exact")
    add(v.by_name.get(q, []), "exact")
    qual = query.replace("::", ".")
    if ":" in qual:  # path:Qualified.name
        add([v.symbols[qual]] if qual in v.symbols else [], "qualified")
    add([s for s in v.by_name.get(leaf, []) if s.qualname.lower() == q or s.qualname.lower().endswith("." + q)], "qualified")
    label = query.strip("'\"`. :")  # registered under the query: source-read, 'EX', .. include::
    add(v.by_label.get(label, []), "label")
    add([s for name, syms in v.by_name.items() if name.startswith(q) and name != q for s in syms], "prefix")
    ids, capped = _fulltext(v, query, FULLTEXT_CAP, kind, prefix_path)
    add([v.symbols[i] for i in ids if i in v.symbols], "fulltext", ordered=True)  # best score first
    # Near spellings only when the other tiers found few (a fixed number, so the hit list
    # stays the same on every page; difflib over every name costs ~0.1 s in a big repository)
    # and never past a capped full-text list, where they would land at an arbitrary place.
    if not capped and len(hits) < FUZZY_BELOW:
        close = difflib.get_close_matches(q, list(v.by_name), n=8, cutoff=0.75)
        add([s for name in close for s in v.by_name[name]], "fuzzy")
    suggestions: list[str] = []
    if not hits:
        close = difflib.get_close_matches(leaf, list(v.by_name), n=5, cutoff=0.5)
        suggestions = sorted({v.by_name[n][0].qualname for n in close})
    return SearchResult(query, hits[offset : offset + limit], len(hits), offset, suggestions, total_exact=not capped)
