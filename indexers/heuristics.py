"""Semantic edges that need no LLM: co-change in git history, shared rare strings.

Both heuristics are always on and cheap; they are re-derived in full at every run and
stored with ``semantic_store.replace_edges(db, HEURISTIC_PREFIX, edges)``.

Anchors (the ends of an edge) follow ctxfold's ids: a symbol is ``path:qualname``, a
file's own node is ``path:`` (empty qualname). Each end is stamped with its content hash
at derivation time: ``Symbol.hash`` for a symbol, ``file_hash(path)`` for a file node, so
the edge goes stale when either end changes. Both relations are symmetric: every edge is
emitted once, with ``src < dst``.

Co-change (``heuristic:co-change``)
    Two files changed together in at least ``min_support`` commits, with confidence
    ``support / commits of the rarer file`` at least ``min_confidence``. Commits touching
    more than ``max_commit_files`` files (formatting sweeps, vendoring, the initial
    import) are noise and skipped. When the repository is given, the lines those commits
    added are read with one bounded ``git show -U0`` and matched (by text, so that later
    edits shifting line numbers do not matter) to the symbols that hold them now; a pair
    of symbols that changed together often enough becomes the edge ("symbol level").
    Otherwise, or when no symbol pair qualifies, the edge joins the two file nodes.

Shared rare strings (``heuristic:shared-literal``)
    String literals and long compound identifiers, each assigned to the innermost symbol
    holding it (or to the file node at module level). An item found in 2 to
    ``max_files`` files, in at most ``max_anchors`` anchors, links the anchors of
    different files. Its confidence comes from its rarity across the files read (a
    smoothed IDF, ``log((N+1)/df) / log(N+1)``), scaled by ``max_confidence``; several
    items shared by the same pair combine as ``1 - prod(1 - c)``. Relations:
    "shares config key" (a literal of one token joined by ``_ . - / :``, such as
    ``'db.pool_size'`` or ``'X-Request-Id'``, or an UPPER_SNAKE name), "shares literal"
    (any other string), "shares identifier" (a compound
    identifier that is not the name of an indexed symbol — those are the call graph's).
    Skipped as trivial: short strings, plain short words, format strings (``{}``, ``%s``,
    f-strings), strings without letters, a list of everyday strings (encodings, MIME
    types, HTTP methods...), comment lines and import lines; and a string equal to the
    name of an indexed symbol (mostly ``__all__`` lists, which the import graph covers).
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

from indexers.scan import source_lines
from indexers.types import SemanticEdge, Symbol, split_symbol_id, symbol_id
from indexers.volatility import CommitFiles, CommitHunks, read_commit_hunks

log = logging.getLogger(__name__)

HEURISTIC_PREFIX = "heuristic:"
PROVENANCE_CO_CHANGE = "heuristic:co-change"
PROVENANCE_SHARED = "heuristic:shared-literal"

ReadText = Callable[[str], str]
FileHash = Callable[[str], "str | None"]  # None: the file is not in the index


@dataclass
class CoChangeSettings:
    min_support: int = 3  # commits in which both ends changed
    min_confidence: float = 0.5  # support / commits of the rarer end
    max_commit_files: int = 30  # larger commits are noise (sweeps, imports, vendoring)
    max_edges: int = 500
    symbol_level: bool = True  # refine file pairs to symbol pairs from the commits' hunks
    max_hunk_commits: int = 300  # newest commits whose hunks are read, at most
    max_hunk_paths: int = 200  # files whose hunks are read, at most
    max_hunk_bytes: int = 8_000_000
    min_line_chars: int = 8  # an added line shorter than this says nothing about where it is
    max_symbol_pairs: int = 2  # per file pair
    timeout_s: float = 20.0


@dataclass
class SharedTokenSettings:
    min_literal_chars: int = 5
    min_word_chars: int = 8  # a plain lowercase word must be at least this long to count
    max_literal_chars: int = 120
    min_identifier_chars: int = 10
    max_files: int = 3  # an item in more files than this is not rare
    max_anchors: int = 4  # nor is one used by more symbols than this
    max_confidence: float = 0.9  # a heuristic is never certain
    identifier_weight: float = 0.7  # identifiers are weaker evidence than literals
    min_confidence: float = 0.2
    max_items_in_reason: int = 3
    max_edges: int = 1000
    max_file_chars: int = 1_000_000  # larger files (generated, minified) are skipped


@dataclass
class HeuristicSettings:
    co_change: CoChangeSettings = field(default_factory=CoChangeSettings)
    shared: SharedTokenSettings = field(default_factory=SharedTokenSettings)


def heuristic_edges(
    symbols: list[Symbol],
    read_text: ReadText,
    file_hash: FileHash,
    *,
    commits: Iterable[CommitFiles] = (),
    repo: Path | None = None,
    paths: Iterable[str] | None = None,
    settings: HeuristicSettings | None = None,
    now: datetime | None = None,
) -> list[SemanticEdge]:
    """All heuristic edges: co-change (from ``commits``, see ``compute_volatility``) and
    shared rare strings. Store them with ``replace_edges(db, HEURISTIC_PREFIX, edges)``.

    ``repo`` enables symbol-level co-change (one bounded ``git show``); ``paths`` are the
    indexed files to scan for strings (default: the files holding a symbol; pass every
    indexed file so that a constants-only module is read too).
    """
    settings = settings or HeuristicSettings()
    return co_change_edges(
        list(commits), symbols, read_text, file_hash,
        repo=repo, settings=settings.co_change, now=now,
    ) + shared_token_edges(
        symbols, read_text, file_hash, paths=paths, settings=settings.shared, now=now
    )


# --------------------------------------------------------------------------- helpers


def _timestamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _safe_read(read_text: ReadText, path: str) -> str | None:
    try:
        return read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        log.debug("heuristics: %s not read (%s)", path, exc)
        return None


class _Anchors:
    """Maps lines of a file to the innermost symbol holding them, and anchors to hashes."""

    def __init__(self, symbols: list[Symbol], file_hash: FileHash):
        self.by_id = {s.id: s for s in symbols}
        self.by_path: dict[str, list[Symbol]] = defaultdict(list)
        for s in symbols:
            self.by_path[s.path].append(s)
        self._file_hash = file_hash
        self._file_hashes: dict[str, str | None] = {}
        self._line_maps: dict[str, list[str | None]] = {}

    def hash(self, anchor: str) -> str | None:
        path, qualname = split_symbol_id(anchor)
        if not qualname:
            if path not in self._file_hashes:
                self._file_hashes[path] = self._file_hash(path)
            return self._file_hashes[path]
        sym = self.by_id.get(anchor)
        return sym.hash if sym else None

    def innermost(self, path: str, n_lines: int) -> list[str | None]:
        """``m[line]`` is the id of the innermost symbol holding ``line`` (1-based)."""
        if path not in self._line_maps:
            m: list[str | None] = [None] * (n_lines + 2)
            # Widest first, so that nested symbols overwrite their parents.
            for s in sorted(self.by_path.get(path, []), key=lambda s: s.start_line - s.end_line):
                for line in range(max(1, s.start_line), min(s.end_line, n_lines) + 1):
                    m[line] = s.id
            self._line_maps[path] = m
        return self._line_maps[path]


def _edge(
    a: str, b: str, anchors: _Anchors, *, relation: str, reason: str, confidence: float,
    provenance: str, created_at: str,
) -> SemanticEdge | None:
    src, dst = sorted((a, b))
    src_hash, dst_hash = anchors.hash(src), anchors.hash(dst)
    if src_hash is None or dst_hash is None:
        return None  # an end is not in the index
    return SemanticEdge(
        src=src, dst=dst, relation=relation, reason=reason,
        confidence=round(confidence, 3), provenance=provenance, created_at=created_at,
        src_hash=src_hash, dst_hash=dst_hash,
    )


# --------------------------------------------------------------------------- co-change


def co_change_edges(
    commits: list[CommitFiles],
    symbols: list[Symbol],
    read_text: ReadText,
    file_hash: FileHash,
    *,
    repo: Path | None = None,
    settings: CoChangeSettings | None = None,
    now: datetime | None = None,
) -> list[SemanticEdge]:
    """Edges between files (or their symbols) that changed together in several commits."""
    cfg = settings or CoChangeSettings()
    anchors = _Anchors(symbols, file_hash)
    created_at = _timestamp(now)

    def indexed(path: str) -> bool:
        return anchors.hash(symbol_id(path, "")) is not None

    kept: list[tuple[str, list[str]]] = []  # (sha, indexed files), noise commits dropped
    for c in commits:
        if len(c.files) > cfg.max_commit_files:
            continue
        files = sorted({f for f in c.files if indexed(f)})
        if files:
            kept.append((c.sha, files))

    file_count: Counter[str] = Counter()
    pair_commits: dict[tuple[str, str], list[str]] = defaultdict(list)
    for sha, files in kept:
        file_count.update(files)
        for pair in combinations(files, 2):
            pair_commits[pair].append(sha)

    pairs = []
    for (a, b), shas in pair_commits.items():
        support = len(shas)
        rarer = min(file_count[a], file_count[b])
        if support >= cfg.min_support and support / rarer >= cfg.min_confidence:
            pairs.append((a, b, shas, rarer))
    pairs.sort(key=lambda p: (-len(p[2]) / p[3], -len(p[2]), p[0], p[1]))

    changed = (
        _changed_symbols(repo, kept, pairs, read_text, anchors, cfg)
        if repo is not None and cfg.symbol_level and pairs
        else {}
    )

    edges: list[SemanticEdge] = []
    for a, b, shas, rarer in pairs:
        found = _symbol_pairs(a, b, shas, changed, cfg) if changed else []
        if not found:
            found = [(symbol_id(a, ""), symbol_id(b, ""), len(shas), rarer)]
        for sa, sb, support, of in found:
            edge = _edge(
                sa, sb, anchors, relation="co-change",
                reason=f"changed together in {support} of {of} commits",
                confidence=support / of, provenance=PROVENANCE_CO_CHANGE, created_at=created_at,
            )
            if edge:
                edges.append(edge)
        if len(edges) >= cfg.max_edges:
            break
    return edges[: cfg.max_edges]


def _changed_symbols(
    repo: Path,
    kept: list[tuple[str, list[str]]],
    pairs: list[tuple[str, str, list[str], int]],
    read_text: ReadText,
    anchors: _Anchors,
    cfg: CoChangeSettings,
) -> dict[str, dict[str, set[str]]]:
    """``changed[sha][path]``: the current symbols holding the lines ``sha`` added."""
    paths: list[str] = []
    for a, b, _, _ in pairs:
        for p in (a, b):
            if p not in paths and len(paths) < cfg.max_hunk_paths:
                paths.append(p)
    wanted = set(paths)
    shas = [sha for sha, files in kept if wanted.intersection(files)][: cfg.max_hunk_commits]
    hunks: list[CommitHunks] = read_commit_hunks(
        repo, shas, paths, timeout_s=cfg.timeout_s, max_bytes=cfg.max_hunk_bytes
    )

    # Where each distinctive line of the current files is, and who holds it.
    locate: dict[str, dict[str, str | None]] = {}
    for path in paths:
        text = _safe_read(read_text, path)
        if text is None:
            continue
        lines = source_lines(text)
        holder = anchors.innermost(path, len(lines))
        seen: Counter[str] = Counter(line.strip() for line in lines)
        locate[path] = {
            line.strip(): holder[i]
            for i, line in enumerate(lines, start=1)
            if len(line.strip()) >= cfg.min_line_chars and seen[line.strip()] == 1
        }

    changed: dict[str, dict[str, set[str]]] = {}
    for h in hunks:
        per_file = {}
        for path, added in h.added.items():
            where = locate.get(path)
            if where is None:
                continue
            held = {where.get(line.strip()) for line in added} - {None}
            if held:
                per_file[path] = held
        changed[h.sha] = per_file
    return changed


def _symbol_pairs(
    a: str, b: str, shas: list[str], changed: dict[str, dict[str, set[str]]],
    cfg: CoChangeSettings,
) -> list[tuple[str, str, int, int]]:
    """Symbol pairs of files ``a`` and ``b`` that changed together often enough."""
    sym_count: Counter[str] = Counter()
    for per_file in changed.values():
        for path in (a, b):
            sym_count.update(per_file.get(path, ()))
    together: Counter[tuple[str, str]] = Counter()
    for sha in shas:
        per_file = changed.get(sha, {})
        for sa in per_file.get(a, ()):
            for sb in per_file.get(b, ()):
                together[(sa, sb)] += 1
    found = []
    for (sa, sb), support in together.items():
        rarer = min(sym_count[sa], sym_count[sb])
        if support >= cfg.min_support and support / rarer >= cfg.min_confidence:
            found.append((sa, sb, support, rarer))
    found.sort(key=lambda f: (-f[2] / f[3], -f[2], f[0], f[1]))
    return found[: cfg.max_symbol_pairs]


# --------------------------------------------------------------------------- shared strings

# A string literal on one line, with an optional Python/JS prefix (r, b, f, u...). A
# backslash can only start an escape, so the body matches one way (no backtracking blow-up
# on an unclosed quote followed by backslashes).
_STRING = re.compile(
    r"""(?<![A-Za-z0-9_])(?P<prefix>[rRbBuUfF]{0,2})(?P<q>["'`])"""
    r"""(?P<body>(?:\\.|(?!(?P=q))[^\\])*?)(?P=q)"""
)
MAX_LINE = 1000  # longer lines (minified code, data) are not scanned for shared strings
_IDENTIFIER = re.compile(r"(?<![A-Za-z0-9_$])[A-Za-z_][A-Za-z0-9_]*")
_COMMENT_LINE = re.compile(r"^\s*(#|//|/\*|\*|--|;)")
_IMPORT_LINE = re.compile(
    r"^\s*(import\s|from\s+\S+\s+import\s|use\s|using\s|package\s|#\s*include|require\b"
    r"|(const|let|var)\s+\S+\s*=\s*require\()"
)
_FORMAT = re.compile(r"\{[^{}]*\}|%[-+ #0-9.]*[sdifrxXeEgGcoa%]|%\(|\$\{|\$[0-9]")
_KEY_LIKE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:[.\-/:][A-Za-z0-9_]+)*$")
_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_COMPOUND = re.compile(r"[a-z0-9]_[A-Za-z0-9]|[a-z][A-Z]")

# Strings too common in code to mean a coupling, whatever their rarity in one repo.
_COMMON_STRINGS = frozenset(
    """utf-8 utf8 utf-16 ascii latin-1 iso-8859-1 __main__ __init__ __name__ strict replace
    ignore surrogateescape backslashreplace application/json application/octet-stream
    text/plain text/html text/css content-type content-length user-agent authorization
    accept localhost 127.0.0.1 0.0.0.0 http:// https:// delete patch options
    true false null none undefined default object string number boolean function
    %y-%m-%d %h:%m:%s""".split()
)
# Long identifiers that any program uses.
_COMMON_IDENTIFIERS = frozenset(
    """isinstance issubclass staticmethod classmethod NotImplementedError NotImplemented
    StopIteration KeyboardInterrupt RuntimeError ValueError TypeError AttributeError
    FileNotFoundError ImportError ModuleNotFoundError IndexError KeyError OSError
    PermissionError TimeoutError AssertionError UnicodeDecodeError UnicodeEncodeError
    DeprecationWarning setdefault startswith endswith to_string toString hasOwnProperty
    prototype console_log addEventListener removeEventListener querySelector
    querySelectorAll getElementById JSON_stringify preventDefault stopPropagation
    self_assert assertEqual assertTrue assertFalse assertRaises assertIn setUp tearDown
    fmt_Println fmt_Sprintf fmt_Errorf println_macro unwrap_or_else unwrap_or_default
    System_out_println StringBuilder IllegalArgumentException IllegalStateException
    NullPointerException RuntimeException""".split()
)


@dataclass
class _Item:
    text: str
    relation: str  # "shares config key" | "shares literal" | "shares identifier"
    weight: float


def _literal_item(body: str, prefix: str, cfg: SharedTokenSettings) -> _Item | None:
    text = body.strip()
    if "f" in prefix.lower() or not (cfg.min_literal_chars <= len(text) <= cfg.max_literal_chars):
        return None
    if text.lower() in _COMMON_STRINGS or not any(c.isalpha() for c in text):
        return None
    if _FORMAT.search(text) or "\\" in text:
        return None
    if text.isalpha() and text.islower() and len(text) < cfg.min_word_chars:
        return None  # a plain short word: "users", "status"
    if _KEY_LIKE.match(text) and (_UPPER_SNAKE.match(text) or any(c in text for c in "_.-/:")):
        return _Item(text, "shares config key", 1.0)
    return _Item(text, "shares literal", 1.0)


def _identifier_item(name: str, cfg: SharedTokenSettings) -> _Item | None:
    if name.startswith("__") or name in _COMMON_IDENTIFIERS:
        return None
    if _UPPER_SNAKE.match(name) and len(name) >= cfg.min_literal_chars:
        return _Item(name, "shares config key", 1.0)
    if len(name) >= cfg.min_identifier_chars and _COMPOUND.search(name):
        return _Item(name, "shares identifier", cfg.identifier_weight)
    return None


def _scan_file(
    path: str, text: str, holder: list[str | None], cfg: SharedTokenSettings,
    symbol_names: set[str],
) -> tuple[dict[str, set[str]], dict[str, _Item], set[str]]:
    """Items of one file: ``uses[item] = {anchor ids}``, the items, and import-line names."""
    uses: dict[str, set[str]] = defaultdict(set)
    items: dict[str, _Item] = {}
    imported: set[str] = set()
    file_node = symbol_id(path, "")
    for lineno, line in enumerate(source_lines(text), start=1):
        if len(line) > MAX_LINE or _COMMENT_LINE.match(line):
            continue
        if _IMPORT_LINE.match(line):
            imported.update(_IDENTIFIER.findall(line))
            continue
        anchor = holder[lineno] if lineno < len(holder) and holder[lineno] else file_node
        for m in _STRING.finditer(line):
            item = _literal_item(m.group("body"), m.group("prefix"), cfg)
            # A symbol's name as a string is mostly an export list (``__all__``).
            if item and item.text not in symbol_names:
                uses[item.text].add(anchor)
                items.setdefault(item.text, item)
        code = _STRING.sub(" ", line)
        for name in _IDENTIFIER.findall(code):
            if name in symbol_names:
                continue
            item = _identifier_item(name, cfg)
            if item:
                uses[item.text].add(anchor)
                # A key seen as a literal somewhere stays a key.
                items.setdefault(item.text, item)
    return uses, items, imported


def _quote(text: str, limit: int = 60) -> str:
    return "'" + (text if len(text) <= limit else text[: limit - 1] + "…") + "'"


_RELATION_ORDER = ["shares config key", "shares literal", "shares identifier"]
_NOUN = {"shares config key": "key", "shares literal": "literal", "shares identifier": "identifier"}


def _reason(items: list[_Item], limit: int) -> str:
    named = [f"the {_NOUN[i.relation]} {_quote(i.text)}" for i in items[:limit]]
    more = len(items) - len(named)
    if more:
        named.append(f"{more} more")
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return "both use " + listed


def shared_token_edges(
    symbols: list[Symbol],
    read_text: ReadText,
    file_hash: FileHash,
    *,
    paths: Iterable[str] | None = None,
    settings: SharedTokenSettings | None = None,
    now: datetime | None = None,
) -> list[SemanticEdge]:
    """Edges between symbols of different files that share a rare literal or identifier.

    ``paths``: the files to read (default: every file holding a symbol); a file whose
    ``file_hash`` is None is skipped.
    """
    cfg = settings or SharedTokenSettings()
    anchors = _Anchors(symbols, file_hash)
    created_at = _timestamp(now)
    files = sorted(set(paths) if paths is not None else {s.path for s in symbols})
    # Names of indexed symbols: their links are the call graph's job.
    symbol_names = {s.name for s in symbols} | {s.qualname.rpartition(".")[2] for s in symbols}

    uses: dict[str, dict[str, set[str]]] = defaultdict(dict)  # item -> path -> anchors
    items: dict[str, _Item] = {}
    imported: set[str] = set()
    n_files = 0
    for path in files:
        if anchors.hash(symbol_id(path, "")) is None:
            continue
        text = _safe_read(read_text, path)
        if text is None or len(text) > cfg.max_file_chars:
            continue
        n_files += 1
        holder = anchors.innermost(path, text.count("\n") + 1)
        file_uses, file_items, file_imported = _scan_file(path, text, holder, cfg, symbol_names)
        imported |= file_imported
        for key, where in file_uses.items():
            uses[key][path] = where
        for key, item in file_items.items():
            if key not in items or item.relation == "shares config key":
                items[key] = item

    pair_items: dict[tuple[str, str], list[tuple[float, _Item]]] = defaultdict(list)
    for key, per_file in uses.items():
        item = items[key]
        if item.relation == "shares identifier" and key in imported:
            continue  # a module or imported name: shared by importing, not by meaning
        df = len(per_file)
        if df < 2 or df > cfg.max_files or sum(map(len, per_file.values())) > cfg.max_anchors:
            continue
        rarity = math.log((n_files + 1) / df) / math.log(n_files + 1)
        confidence = cfg.max_confidence * rarity * item.weight
        if confidence < cfg.min_confidence:
            continue
        for pa, pb in combinations(sorted(per_file), 2):
            for a in per_file[pa]:
                for b in per_file[pb]:
                    pair_items[tuple(sorted((a, b)))].append((confidence, item))

    ranked = []  # (edge, number of shared items): more items break confidence ties
    for (a, b), found in pair_items.items():
        found.sort(key=lambda f: (-f[0], _RELATION_ORDER.index(f[1].relation), f[1].text))
        combined = 1.0 - math.prod(1.0 - c for c, _ in found)
        edge = _edge(
            a, b, anchors, relation=found[0][1].relation,
            reason=_reason([i for _, i in found], cfg.max_items_in_reason),
            confidence=min(cfg.max_confidence, combined),
            provenance=PROVENANCE_SHARED, created_at=created_at,
        )
        if edge:
            ranked.append((edge, len(found)))
    ranked.sort(key=lambda r: (-r[0].confidence, -r[1], r[0].src, r[0].dst))
    return [edge for edge, _ in ranked[: cfg.max_edges]]
