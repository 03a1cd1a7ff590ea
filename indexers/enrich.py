"""LLM enrichment: semantic edges that no call graph shows, derived offline and cached.

The flow, each step a plain function:

    symbols ─► render snippets ─► clusters (by file and call-graph neighbourhood, capped)
            ─► prompt ─► provider (or the cache) ─► parse ─► validate ─► SemanticEdge

- A cluster is a group of related stable symbols that fits one request: a file's symbols,
  grown with the files it calls or is called from, then with files of its directory, up
  to ``cluster_symbols`` symbols and about ``max_tokens_per_request`` tokens. Clusters
  are built from all symbols every time, so that ``only_ids`` (``ctxfold enrich
  --stale``) picks the same clusters, and so the same cache entries, as a full run.
- The answer cache is the LanceDB table ``enrich_cache`` in the store (see
  ``_AnswerCache``). Its key is the provider, the model, ``PROMPT_VERSION`` and the
  cluster's sorted (symbol id, content hash) pairs: a second run over unchanged code
  sends nothing.
- Provider faults never escape ``enrich``: once the provider is unreachable, rate limited
  throughout or refuses the key, no more requests are sent, what was derived (and
  anything cached) is kept, and ``EnrichReport.degraded`` says what happened.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import math
import posixpath
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from indexers.errors import CtxfoldError
from indexers.providers import (
    AuthError,
    Completion,
    Provider,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    json_in_answer,
)
from indexers.scan import source_lines
from indexers.tokens import count_tokens
from indexers.types import SemanticEdge, Symbol, split_symbol_id

log = logging.getLogger(__name__)

# Bump when the prompt or the answer format changes: cached answers to another prompt
# must not be reused.
PROMPT_VERSION = "1"
CACHE_TABLE = "enrich_cache"
CACHE_VERSION = 1  # layout of the enrich_cache table; a mismatch rebuilds it

Progress = Callable[[int, int], None]  # (clusters done, clusters in all)


@dataclass(frozen=True)
class EnrichSettings:
    """Knobs of one enrichment run (tuned by benchmarks/, not scattered in loops)."""

    max_tokens_per_request: int = 6000  # whole prompt, system included (about)
    code_share: float = 0.85  # of that, what the code may take; the rest lists known calls
    max_output_tokens: int = 2000
    max_requests: int = 200  # answers per run, the malformed-JSON retries included
    cluster_symbols: int = 40  # symbols per cluster at most
    small_cluster: int = 6  # clusters smaller than this are packed together
    body_lines: int = 30  # lines shown of one symbol; the rest is trimmed
    line_chars: int = 160  # characters shown of one line
    known_calls: int = 40  # direct calls listed so that the model does not report them
    expected_output_tokens: int = 400  # per answer, for dry-run estimates
    max_consecutive_failures: int = 3  # refused requests in a row before giving up


@dataclass(frozen=True)
class Cluster:
    ids: tuple[str, ...]  # symbol ids, in file and line order
    paths: tuple[str, ...]
    tokens: int = 0  # the rendered code's token count

    @property
    def label(self) -> str:
        more = f" +{len(self.paths) - 1} files" if len(self.paths) > 1 else ""
        return f"{self.paths[0]}{more} ({len(self.ids)} symbols)"


@dataclass
class EnrichReport:
    edges: list[SemanticEdge] = field(default_factory=list)
    requests: int = 0  # answers received (a malformed answer and its retry count two)
    cached: int = 0  # clusters answered from the cache
    skipped: list[tuple[Cluster, str]] = field(default_factory=list)  # (cluster, why)
    # A dry run's estimates; after a real run, the tokens used (as the provider reported them,
    # or counted here when it reports none).
    est_input_tokens: int = 0
    est_output_tokens: int = 0
    degraded: str | None = None  # why the provider was given up on, if it was
    clusters: int = 0  # clusters considered (after only_ids)
    rejected: int = 0  # proposed edges dropped by validation


class MalformedAnswer(CtxfoldError, ValueError):
    """The model's answer holds no usable JSON ``{"edges": [...]}``."""


# --- rendering ---------------------------------------------------------------------------


def _nested(inner: Symbol, outer: Symbol) -> bool:
    return (
        inner.path == outer.path
        and inner.qualname.startswith(outer.qualname + ".")
        and outer.start_line <= inner.start_line
        and inner.end_line <= outer.end_line
    )


def _holes(symbol: Symbol, candidates: Iterable[Symbol]) -> list[Symbol]:
    """The outermost of ``candidates`` nested in ``symbol``: the spans it leaves to them."""
    inner = [c for c in candidates if c is not symbol and _nested(c, symbol)]
    return [s for s in inner if not any(t is not s and _nested(s, t) for t in inner)]


def render_symbol(symbol: Symbol, lines: Sequence[str], shown_elsewhere: Iterable[Symbol], settings: EnrichSettings) -> str:
    """``symbol`` headed by its id: its source with the spans of ``shown_elsewhere`` (nested
    symbols rendered on their own) replaced by a marker, dedented and trimmed."""
    holes = sorted((s.start_line, s.end_line, s.qualname) for s in shown_elsewhere)
    body: list[str | None] = []  # None: a line to mark, not dedent
    marks: dict[int, str] = {}
    line_no, next_hole = symbol.start_line, 0
    while line_no <= symbol.end_line:
        while next_hole < len(holes) and holes[next_hole][1] < line_no:
            next_hole += 1
        if next_hole < len(holes) and holes[next_hole][0] <= line_no:
            marks[len(body)] = f"… {holes[next_hole][2]} (below)"
            body.append(None)
            line_no = holes[next_hole][1] + 1
            continue
        body.append(lines[line_no - 1].rstrip() if line_no - 1 < len(lines) else "")
        line_no += 1
    text_lines = [b for b in body if b and b.strip()]
    indent = min((len(b) - len(b.lstrip()) for b in text_lines), default=0)
    out: list[str] = []
    for i, b in enumerate(body):
        if b is None:
            nxt = next((x for x in body[i + 1 :] if x and x.strip()), "")
            pad = " " * max(0, len(nxt) - len(nxt.lstrip()) - indent)
            out.append(pad + marks[i])
        else:
            b = b[indent:]
            out.append(b if len(b) <= settings.line_chars else b[: settings.line_chars - 1] + "…")
    if len(out) > settings.body_lines:
        hidden = len(out) - settings.body_lines
        out = out[: settings.body_lines] + [f"… {hidden} more lines"]
    header = f"[{symbol.id}] {symbol.kind}, lines {symbol.start_line}-{symbol.end_line}"
    doc_line = symbol.doc.strip().splitlines()[0] if symbol.doc.strip() else ""
    if doc_line and doc_line not in "\n".join(out):
        header += f"\n(doc: {doc_line[: settings.line_chars]})"
    return header + "\n" + "\n".join(out)


SYSTEM_PROMPT = (
    "You review source code to find couplings between symbols that a call graph cannot show. "
    "You answer with one JSON object and nothing else."
)

_INSTRUCTIONS = """\
Above are related symbols from one repository, each headed by its id in square brackets \
(path:qualified.name). Bodies are trimmed; "…" marks omitted lines.

Find pairs of these symbols that are coupled WITHOUT one calling the other, for example:
- an encode/decode, serialize/parse or save/load pair that must agree on a format;
- a config key, environment variable, file name, message type or table written in one \
place and read in another;
- a cache and the code that must invalidate it;
- an invariant, constant, ordering or protocol that two symbols must both respect.
Report only couplings the code shown supports. Do not report direct calls (listed above \
when known), inheritance, or a symbol merely containing another. Prefer few, well-founded \
edges to many guesses.

Answer with one JSON object and nothing else:
{"edges": [{"src": "<id>", "dst": "<id>", "relation": "<short label, e.g. encode/decode pair>", \
"reason": "<one sentence>", "confidence": <0.0 to 1.0>}]}
Copy ids exactly as written between the brackets. If there are none, answer {"edges": []}."""

_FOLLOW_UP = """

Your previous answer could not be read as JSON ({error}). Answer again with only the JSON \
object described above: no prose, at most 20 edges, reasons of one short sentence."""


def render_prompt(
    cluster: Cluster,
    by_id: dict[str, Symbol],
    lines_of: dict[str, list[str]],
    calls: Sequence[tuple[str, str]],
    settings: EnrichSettings,
) -> str:
    members = set(cluster.ids)
    parts: list[str] = []
    current_path = None
    for sid in cluster.ids:
        symbol = by_id[sid]
        if symbol.path != current_path:
            current_path = symbol.path
            parts.append(f"### {symbol.path}")
        holes = _holes(symbol, (by_id[o] for o in cluster.ids))
        parts.append(render_symbol(symbol, lines_of[symbol.path], holes, settings))
    code = "\n\n".join(parts)
    prompt = f"{code}\n\n{_INSTRUCTIONS}"
    room = settings.max_tokens_per_request - count_tokens(SYSTEM_PROMPT) - count_tokens(prompt)
    call_lines = [f"{src} -> {dst}" for src, dst in calls if src in members and dst in members]
    call_lines = list(dict.fromkeys(call_lines))[: settings.known_calls]
    while call_lines:
        known = "Known direct calls (already in the graph):\n" + "\n".join(call_lines)
        if count_tokens(known) <= room:
            return f"{code}\n\n{known}\n\n{_INSTRUCTIONS}"
        call_lines = call_lines[: len(call_lines) * 3 // 4]
    return prompt


# --- clustering --------------------------------------------------------------------------


@dataclass
class _Part:
    """A file, or a slice of a file too big for one cluster."""

    index: int
    path: str
    ids: list[str]
    tokens: int


def _split_file(symbols: list[Symbol], cost: dict[str, int], limit_symbols: int, limit_tokens: int) -> list[list[str]]:
    """Slices of one file's symbols (in line order) within the limits, keeping a top-level
    name with its members (``Class`` with ``Class.method``) where they fit together."""
    groups: dict[str, list[Symbol]] = {}
    for symbol in symbols:
        groups.setdefault(symbol.qualname.split(".")[0], []).append(symbol)
    chunks: list[list[str]] = []
    chunk: list[str] = []
    chunk_tokens = 0
    for group in groups.values():
        group_tokens = sum(cost[s.id] for s in group)
        pieces = [group] if len(group) <= limit_symbols and group_tokens <= limit_tokens else [[s] for s in group]
        for piece in pieces:
            piece_tokens = sum(cost[s.id] for s in piece)
            if chunk and (len(chunk) + len(piece) > limit_symbols or chunk_tokens + piece_tokens > limit_tokens):
                chunks.append(chunk)
                chunk, chunk_tokens = [], 0
            chunk.extend(s.id for s in piece)
            chunk_tokens += piece_tokens
    if chunk:
        chunks.append(chunk)
    return chunks


def build_clusters(
    by_id: dict[str, Symbol],
    cost: dict[str, int],
    calls: Iterable[tuple[str, str]],
    settings: EnrichSettings,
) -> list[Cluster]:
    """Partition the symbols into clusters of related code; see the module docstring.

    Deterministic for the same input, so that cache keys repeat from run to run.
    """
    limit_symbols = settings.cluster_symbols
    limit_tokens = max(1, int(settings.max_tokens_per_request * settings.code_share) - count_tokens(SYSTEM_PROMPT + _INSTRUCTIONS))
    by_file: dict[str, list[Symbol]] = defaultdict(list)
    for symbol in by_id.values():
        by_file[symbol.path].append(symbol)

    parts: list[_Part] = []
    part_of: dict[str, int] = {}
    first_part_of_file: dict[str, int] = {}
    for path in sorted(by_file):
        symbols = sorted(by_file[path], key=lambda s: (s.start_line, -s.end_line, s.qualname))
        for ids in _split_file(symbols, cost, limit_symbols, limit_tokens):
            part = _Part(len(parts), path, ids, sum(cost[i] for i in ids))
            first_part_of_file.setdefault(path, part.index)
            for sid in ids:
                part_of[sid] = part.index
            parts.append(part)

    def part_index(sid: str) -> int | None:
        if sid in part_of:
            return part_of[sid]
        path, qualname = split_symbol_id(sid)
        # A call from module scope ("path:") ties its file to the callee's.
        return first_part_of_file.get(path) if not qualname else None

    weight: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for src, dst in calls:
        a, b = part_index(src), part_index(dst)
        if a is None or b is None or a == b:
            continue
        weight[a][b] += 1
        weight[b][a] += 1
    by_dir: dict[str, list[int]] = defaultdict(list)
    for part in parts:
        by_dir[posixpath.dirname(part.path)].append(part.index)

    assigned: set[int] = set()
    groups: list[list[int]] = []
    for seed in parts:
        if seed.index in assigned:
            continue
        group = [seed.index]
        assigned.add(seed.index)
        n_symbols, n_tokens = len(seed.ids), seed.tokens
        pull: dict[int, int] = defaultdict(int)  # call edges from the group to each part
        dirs = {posixpath.dirname(seed.path)}

        def fits(i: int) -> bool:
            return n_symbols + len(parts[i].ids) <= limit_symbols and n_tokens + parts[i].tokens <= limit_tokens

        def take(i: int) -> None:
            nonlocal n_symbols, n_tokens
            group.append(i)
            assigned.add(i)
            pull.pop(i, None)
            n_symbols += len(parts[i].ids)
            n_tokens += parts[i].tokens
            dirs.add(posixpath.dirname(parts[i].path))
            for j, w in weight[i].items():
                if j not in assigned:
                    pull[j] += w

        for j, w in weight[seed.index].items():
            if j not in assigned:
                pull[j] += w
        while True:
            linked = sorted((-w, j) for j, w in pull.items() if fits(j))
            if linked:
                take(linked[0][1])
                continue
            nearby = [j for d in sorted(dirs) for j in by_dir[d] if j not in assigned and fits(j)]
            if nearby:
                take(min(nearby))
                continue
            break
        groups.append(sorted(group))

    # A small group (a lone file with no calls and no room left in its directory's cluster)
    # joins the cluster nearest to it in the tree that has room, rather than costing a
    # request of its own: the couplings sought often cross directories without a call.
    def size(group: list[int]) -> tuple[int, int]:
        return sum(len(parts[i].ids) for i in group), sum(parts[i].tokens for i in group)

    def dir_prefixes(group: list[int]) -> set[str]:
        found = {""}
        for i in group:
            pieces = parts[i].path.split("/")[:-1]
            found.update("/".join(pieces[:k]) for k in range(1, len(pieces) + 1))
        return found

    packed = [g for g in groups if size(g)[0] >= settings.small_cluster]
    prefixes = [dir_prefixes(g) for g in packed]
    for group in (g for g in groups if size(g)[0] < settings.small_cluster):
        n, t = size(group)
        mine = dir_prefixes(group)
        best, best_depth = None, -1
        for k, other in enumerate(packed):
            m, u = size(other)
            if m + n > limit_symbols or u + t > limit_tokens:
                continue
            depth = max(p.count("/") + 1 if p else 0 for p in mine & prefixes[k])
            if depth > best_depth:
                best, best_depth = k, depth
        if best is None:
            packed.append(list(group))
            prefixes.append(mine)
        else:
            packed[best].extend(group)
            prefixes[best] |= mine

    clusters = []
    for group in packed:
        ids = [sid for i in sorted(group) for sid in parts[i].ids]
        if len(ids) < 2:
            continue  # nothing to pair a lone symbol with
        paths = tuple(dict.fromkeys(parts[i].path for i in sorted(group)))
        clusters.append(Cluster(tuple(ids), paths, sum(parts[i].tokens for i in group)))
    return clusters


# --- answers -----------------------------------------------------------------------------

def parse_answer(text: str) -> list[Any]:
    """The ``edges`` list from a model's answer: bare JSON, JSON inside a ```json fence, or
    a JSON object somewhere in prose. Raises ``MalformedAnswer``."""
    stripped = text.strip()
    candidates = json_in_answer(stripped, "edges")
    for value in candidates:
        if isinstance(value, dict) and isinstance(value.get("edges"), list):
            return value["edges"]
    for value in candidates:
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return value
    if not stripped:
        raise MalformedAnswer("the answer was empty")
    if candidates:
        raise MalformedAnswer('no {"edges": [...]} object in the answer')
    raise MalformedAnswer(f"no JSON in the answer: {stripped[:80]!r}")


def _clean(value: Any, limit: int) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate_edges(
    raw: list[Any], ids: Sequence[str], known_calls: set[frozenset[str]]
) -> tuple[list[dict[str, Any]], int]:
    """Keep proposed edges whose ends are both cluster ids (a unique qualified name is
    accepted for an id), not self-edges, not known calls, one per pair (the most
    confident); clamp confidence to [0, 1]. Returns the edges and how many were dropped."""
    members = set(ids)
    by_qualname: dict[str, list[str]] = defaultdict(list)
    for sid in ids:
        by_qualname[split_symbol_id(sid)[1]].append(sid)

    def resolve(value: Any) -> str | None:
        name = str(value or "").strip().strip("[]`")
        if name in members:
            return name
        matches = by_qualname.get(split_symbol_id(name)[1] if ":" in name else name, [])
        return matches[0] if len(matches) == 1 else None

    best: dict[frozenset[str], dict[str, Any]] = {}
    rejected = 0
    for item in raw:
        if not isinstance(item, dict):
            rejected += 1
            continue
        src, dst = resolve(item.get("src")), resolve(item.get("dst"))
        if src is None or dst is None or src == dst or frozenset((src, dst)) in known_calls:
            rejected += 1
            continue
        try:
            confidence = float(item.get("confidence", 0.5))
        except (TypeError, ValueError):
            confidence = 0.5
        if math.isnan(confidence):
            confidence = 0.5
        edge = {
            "src": src,
            "dst": dst,
            "relation": _clean(item.get("relation"), 60) or "coupled",
            "reason": _clean(item.get("reason"), 300),
            "confidence": min(1.0, max(0.0, confidence)),
        }
        pair = frozenset((src, dst))
        if pair in best:
            rejected += 1
            if edge["confidence"] <= best[pair]["confidence"]:
                continue
        best[pair] = edge
    return list(best.values()), rejected


def cache_key(provider_name: str, model: str, stamps: Iterable[tuple[str, str]]) -> str:
    """Content hash naming one cluster's answer: same provider, model, prompt version and
    symbols (ids and content hashes) give the same key."""
    payload = json.dumps([provider_name, model, PROMPT_VERSION, sorted(stamps)], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- the cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _CachedAnswer:
    answer: str
    model: str
    created_at: str


class _AnswerCache:
    """Validated-to-parse answers in the LanceDB table ``enrich_cache``, keyed by
    ``cache_key``. The raw answer is kept (not the edges) so that better validation
    applies to old answers too. Written after every answer, so an interrupted run keeps
    what it paid for."""

    def __init__(self, store_dir: Path | None, create: bool) -> None:
        self._rows: dict[str, _CachedAnswer] = {}
        self._table = None
        if store_dir is None:
            return
        import pyarrow as pa

        from indexers.paths import connect

        self._schema = pa.schema(
            [
                ("key", pa.string()),
                ("version", pa.int32()),
                ("provider", pa.string()),
                ("model", pa.string()),
                ("prompt_version", pa.string()),
                ("answer", pa.string()),
                ("created_at", pa.string()),
                ("input_tokens", pa.int64()),
                ("output_tokens", pa.int64()),
            ]
        )
        db = connect(store_dir)
        try:
            table = db.open_table(CACHE_TABLE)
        except ValueError:  # lancedb's "table not found"
            table = None
        if table is not None and table.schema.names != self._schema.names:
            log.warning("enrich cache: table %s has an old layout; rebuilding it (answers will be asked again)", CACHE_TABLE)
            db.drop_table(CACHE_TABLE)
            table = None
        if table is None and create:
            table = db.create_table(CACHE_TABLE, schema=self._schema)
        self._table = table
        if table is not None:
            for row in table.to_arrow().select(["key", "version", "model", "answer", "created_at"]).to_pylist():
                if row["version"] == CACHE_VERSION:
                    self._rows[row["key"]] = _CachedAnswer(row["answer"], row["model"], row["created_at"])

    def get(self, key: str) -> _CachedAnswer | None:
        return self._rows.get(key)

    def put(self, key: str, provider: str, model: str, completion: Completion, created_at: str) -> None:
        self._rows[key] = _CachedAnswer(completion.text, model, created_at)
        if self._table is None:
            return
        self._table.add(
            [
                {
                    "key": key,
                    "version": CACHE_VERSION,
                    "provider": provider,
                    "model": model,
                    "prompt_version": PROMPT_VERSION,
                    "answer": completion.text,
                    "created_at": created_at,
                    "input_tokens": completion.input_tokens,
                    "output_tokens": completion.output_tokens,
                }
            ]
        )


# --- enrich ------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _ask(provider: Provider, prompt: str, settings: EnrichSettings, report: EnrichReport) -> Completion:
    """An answer that parses: the first, or the one to a short follow-up asking again for
    JSON only. Raises ``MalformedAnswer`` when neither parses."""
    completion = _complete(provider, prompt, settings, report)
    try:
        parse_answer(completion.text)
    except MalformedAnswer as first:
        if report.requests >= settings.max_requests:
            raise
        log.info("enrich: malformed answer (%s); asking once more", first)
        completion = _complete(provider, prompt + _FOLLOW_UP.format(error=first), settings, report)
        parse_answer(completion.text)
    return completion


def _complete(provider: Provider, prompt: str, settings: EnrichSettings, report: EnrichReport) -> Completion:
    completion = provider.complete(SYSTEM_PROMPT, prompt, settings.max_output_tokens)
    report.requests += 1
    report.est_input_tokens += completion.input_tokens or count_tokens(SYSTEM_PROMPT + prompt)
    report.est_output_tokens += completion.output_tokens or count_tokens(completion.text)
    return completion


def enrich(
    symbols: Sequence[Symbol],
    read_text: Callable[[str], str],
    call_edges: Iterable[tuple[str, str]],
    provider: Provider,
    store_dir: Path | None,
    settings: EnrichSettings | None = None,
    only_ids: Iterable[str] | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> EnrichReport:
    """Derive semantic edges among ``symbols`` (stable code only; the caller filters by
    volatility) with ``provider``, answering from the cache where the code is unchanged.

    ``read_text(path)`` gives a file's current text; ``call_edges`` are the graph's call
    edges as (src id, dst id). ``only_ids`` limits the run to clusters holding any of those
    symbols. ``dry_run`` sends nothing and estimates requests and tokens. Provider faults
    do not raise: see ``EnrichReport.degraded``. ``store_dir=None`` runs without a cache.
    """
    settings = settings or EnrichSettings()
    calls = [(str(src), str(dst)) for src, dst in call_edges]
    report = EnrichReport()

    by_id: dict[str, Symbol] = {}
    for symbol in symbols:
        by_id.setdefault(symbol.id, symbol)  # overloads share an id; the first stands for all
    lines_of: dict[str, list[str]] = {}
    unreadable: dict[str, str] = {}
    for path in sorted({s.path for s in by_id.values()}):
        try:
            lines_of[path] = source_lines(read_text(path))
        except (OSError, UnicodeDecodeError) as exc:
            unreadable[path] = f"{type(exc).__name__}: {exc}"
    for path, why in unreadable.items():
        ids = tuple(sid for sid, s in by_id.items() if s.path == path)
        report.skipped.append((Cluster(ids, (path,)), f"file could not be read ({why})"))
        for sid in ids:
            del by_id[sid]

    in_file: dict[str, list[Symbol]] = defaultdict(list)
    for symbol in by_id.values():
        in_file[symbol.path].append(symbol)
    cost: dict[str, int] = {}
    for path, file_symbols in in_file.items():
        file_symbols.sort(key=lambda s: s.start_line)
        starts = [s.start_line for s in file_symbols]
        for symbol in file_symbols:
            # Sized as if its nested symbols were in the same cluster, as they usually are.
            within = file_symbols[bisect.bisect_left(starts, symbol.start_line) : bisect.bisect_right(starts, symbol.end_line)]
            holes = _holes(symbol, within)
            cost[symbol.id] = count_tokens(render_symbol(symbol, lines_of[path], holes, settings))
    clusters = build_clusters(by_id, cost, calls, settings)
    if only_ids is not None:
        wanted = set(only_ids)
        clusters = [c for c in clusters if wanted.intersection(c.ids)]
    report.clusters = len(clusters)

    known = {frozenset(pair) for pair in calls}
    calls_from: dict[str, list[str]] = defaultdict(list)
    for src, dst in calls:
        calls_from[src].append(dst)

    def prompt_for(cluster: Cluster) -> str:
        inside = set(cluster.ids)
        among = [(src, dst) for src in cluster.ids for dst in calls_from.get(src, ()) if dst in inside]
        return render_prompt(cluster, by_id, lines_of, among, settings)

    cache = _AnswerCache(store_dir, create=not dry_run)
    found: dict[frozenset[str], SemanticEdge] = {}
    stopped: str | None = None  # why no more requests are sent
    failures = 0
    answered = 0

    def keep(cluster: Cluster, answer: str, model: str, created_at: str) -> bool:
        try:
            raw = parse_answer(answer)
        except MalformedAnswer:
            return False
        edges, rejected = validate_edges(raw, cluster.ids, known)
        report.rejected += rejected
        for e in edges:
            pair = frozenset((e["src"], e["dst"]))
            if pair in found and found[pair].confidence >= e["confidence"]:
                continue
            found[pair] = SemanticEdge(
                src=e["src"],
                dst=e["dst"],
                relation=e["relation"],
                reason=e["reason"],
                confidence=e["confidence"],
                provenance=f"llm:{provider.name}/{model}",
                created_at=created_at,
                src_hash=by_id[e["src"]].hash,
                dst_hash=by_id[e["dst"]].hash,
            )
        return True

    for done, cluster in enumerate(clusters, start=1):
        key = cache_key(provider.name, provider.model, ((sid, by_id[sid].hash) for sid in cluster.ids))
        hit = cache.get(key)
        if hit is not None and keep(cluster, hit.answer, hit.model, hit.created_at):
            report.cached += 1
        elif stopped is not None:
            report.skipped.append((cluster, f"not sent: {stopped}"))
        elif report.requests >= settings.max_requests:
            report.skipped.append((cluster, f"not sent: max requests reached ({settings.max_requests})"))
        elif dry_run:
            prompt = prompt_for(cluster)
            report.requests += 1
            report.est_input_tokens += count_tokens(SYSTEM_PROMPT) + count_tokens(prompt)
            report.est_output_tokens += settings.expected_output_tokens
        else:
            prompt = prompt_for(cluster)
            try:
                completion = _ask(provider, prompt, settings, report)
            except (AuthError, RateLimited, ProviderUnavailable) as exc:
                stopped = f"{provider.name} gave up"
                report.degraded = str(exc)
                report.skipped.append((cluster, str(exc)))
                log.warning("enrich: %s; no more requests this run", exc)
            except ProviderError as exc:
                failures += 1
                report.skipped.append((cluster, f"request refused: {exc}"))
                if failures >= settings.max_consecutive_failures:
                    stopped = f"{failures} requests in a row refused"
                    report.degraded = f"{failures} requests in a row were refused; the last: {exc}"
                    log.warning("enrich: %s", report.degraded)
            except MalformedAnswer as exc:
                report.skipped.append((cluster, f"no valid JSON after one retry: {exc}"))
            else:
                failures = 0
                answered += 1
                created_at = _now()
                model = completion.model or provider.model
                cache.put(key, provider.name, model, completion, created_at)
                keep(cluster, completion.text, model, created_at)
        if progress is not None:
            progress(done, len(clusters))

    report.edges = sorted(found.values(), key=lambda e: (e.src, e.dst))
    if report.degraded is not None:
        missing = report.clusters - report.cached - answered
        report.degraded = (
            f"{report.degraded}. Stopped calling {provider.name} after {report.requests} answers; kept "
            f"{len(report.edges)} edges from {answered + report.cached} clusters ({report.cached} from "
            f"the cache); {missing} of {report.clusters} clusters not enriched, run again later."
        )
        if "still run" not in report.degraded:
            report.degraded += " Heuristic semantic edges need no LLM and still run."
    return report
