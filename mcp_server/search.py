"""search_symbols: exact name, qualified name, prefix, full-text, then fuzzy."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass

from indexers.store import split_identifier_words
from indexers.types import SYMBOL_KINDS, Symbol

from .errors import CtxfoldError
from .workspace import Views, Workspace

MAX_LIMIT = 200


@dataclass
class Hit:
    symbol: str  # qualified name
    kind: str
    path: str
    start_line: int
    end_line: int
    signature: str
    match: str  # exact, qualified, prefix, fulltext, fuzzy

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    offset: int
    suggestions: list[str]

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "total": self.total,
            "offset": self.offset,
            "hits": [asdict(h) | {"location": h.location} for h in self.hits],
            "suggestions": self.suggestions,
        }

    def render(self) -> str:
        if not self.hits:
            if self.total:
                return f"No more matches for {self.query!r}: {self.total} in all, offset {self.offset} is past the end."
            tip = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
            return f"No symbol matches {self.query!r}.{tip} Try a shorter prefix or words from the symbol's name."
        lines = [f"{self.total} matches for {self.query!r} (showing {self.offset + 1}-{self.offset + len(self.hits)}):"]
        for h in self.hits:
            lines.append(f"{h.symbol}  [{h.kind}]  {h.location}  ({h.match})\n    {h.signature}")
        if self.offset + len(self.hits) < self.total:
            lines.append(f"... more: call again with offset={self.offset + len(self.hits)}")
        return "\n".join(lines)


def _hit(sym: Symbol, match: str) -> Hit:
    return Hit(sym.qualname, sym.kind, sym.path, sym.start_line, sym.end_line, sym.signature, match)


def _fulltext(ws: Workspace, query: str, limit: int) -> list[str]:
    """Symbol ids from the LanceDB full-text index over identifier-split names,
    signatures and docstrings, at the committed version."""
    words = split_identifier_words(query)
    if not words:
        return []
    store = ws.indexer.store
    manifest = store.manifest()
    if not manifest:
        return []
    tbl = store.db.open_table("symbols")
    tbl.checkout(manifest["versions"]["symbols"])
    try:
        rows = tbl.search(words, query_type="fts").select(["id", "_score"]).limit(limit).to_list()
    except Exception:  # no full-text index yet (an empty repository)
        return []
    return [r["id"] for r in rows]


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
    prefix_path = path.strip().strip("/") if path else ""
    v: Views = ws.fresh_views()

    def keep(sym: Symbol) -> bool:
        return (not kind or sym.kind == kind) and (not prefix_path or sym.path == prefix_path or sym.path.startswith(prefix_path + "/"))

    seen: set[str] = set()
    hits: list[Hit] = []

    def add(syms, match: str) -> None:
        for sym in sorted(syms, key=lambda s: (s.path, s.start_line)):
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
    add([s for name, syms in v.by_name.items() if name.startswith(q) and name != q for s in syms], "prefix")
    needed = offset + limit
    if len(hits) < needed:
        ids = _fulltext(ws, query, needed * 3)
        add([v.symbols[i] for i in ids if i in v.symbols], "fulltext")
    suggestions: list[str] = []
    if len(hits) < needed:
        close = difflib.get_close_matches(q, list(v.by_name), n=8, cutoff=0.75)
        add([s for name in close for s in v.by_name[name]], "fuzzy")
    if not hits:
        close = difflib.get_close_matches(leaf, list(v.by_name), n=5, cutoff=0.5)
        suggestions = sorted({v.by_name[n][0].qualname for n in close})
    return SearchResult(query, hits[offset : offset + limit], len(hits), offset, suggestions)
