"""recall: the code (and facts) a task needs, inside an exact token budget.

seeds (seeds.py) → diffusion over the graph → packing (full / signature / left out)
→ rendering, counted with tiktoken and trimmed until it fits.
"""

from __future__ import annotations

import heapq
import json
import logging
import math
import re
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from indexers.history import referenced_numbers
from indexers.languages import LANGUAGES
from indexers.languages import fence as code_fence
from indexers.scan import read_source, source_lines
from indexers.tokens import count_tokens
from indexers.types import Symbol

from .errors import CtxfoldError
from .facts import FactLine
from .seeds import SeedSet, collect_seeds, drop_links, name_runs, search_text, strip_boilerplate, unknown_focus
from .settings import SETTINGS, RecallSettings
from .textindex import CommitIndex, ignored_words
from .workspace import Views, Workspace

log = logging.getLogger("ctxfold")
TYPE_KINDS = {"class", "struct", "interface", "trait", "enum", "type"}


@dataclass
class Candidate:
    sym: Symbol
    score: float
    why: list[str] = field(default_factory=list)


@dataclass
class Item:
    path: str
    symbol: str
    kind: str
    start_line: int
    end_line: int
    level: str  # "full" | "signature"
    tokens: int
    score: float
    why: str


@dataclass
class RecallResult:
    budget: int
    tokens: int
    encoding: str
    text: str
    items: list[Item]  # code, in rank order
    omitted: list[dict]
    seconds: float = 0.0
    facts: list[FactLine] = field(default_factory=list)  # served above the code, best first
    timings: dict[str, float] = field(default_factory=dict)  # ms per phase (Stopwatch)

    def to_json(self) -> dict:
        return {
            "budget": self.budget,
            "tokens": self.tokens,
            "encoding": self.encoding,
            "text": self.text,
            "items": [asdict(i) for i in self.items],
            "facts": [asdict(f) | {"score": round(f.score, 4)} for f in self.facts],
            "omitted": self.omitted,
        }


FactsProvider = Callable[[str, set[str], set[str]], list[FactLine]]


class Stopwatch:
    """Milliseconds spent in each phase of one recall, for the log and the benchmark."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        """Charge the time since the last lap to ``phase``."""
        now = time.perf_counter()
        self.laps[phase] = self.laps.get(phase, 0.0) + (now - self._mark) * 1000
        self._mark = now

    def __str__(self) -> str:
        return ", ".join(f"{phase} {ms:.0f}" for phase, ms in self.laps.items())


# --- ranking -------------------------------------------------------------------------


def _neighbours(v: Views, u: str, s: RecallSettings) -> list[tuple[str, float, dict, str]]:
    """Where u's activation goes, as (node, share, edge data, direction). What u calls,
    extends, uses, imports or contains (edges out) takes ``callee_share``; what points at
    u (callers, subclasses, users, importers, its container) takes the rest. A side with no
    edges leaves all to the other; inside a side, its ``max_fanout`` strongest edges share
    by weight. So a function with fifty callers still hands most of its activation to its
    two callees. Cached per views."""
    cached = v.neighbours.get(u)
    if cached is None:
        g = v.graph
        sides = [[(vv, w, d, "out") for vv, w, d in g.strongest(u, True, s.max_fanout)],
                 [(vv, w, d, "in") for vv, w, d in g.strongest(u, False, s.max_fanout)]]
        shares = (s.callee_share, 1 - s.callee_share) if all(sides) else (1.0, 1.0)
        cached = []
        for side, share in zip(sides, shares):
            total = sum(t[1] for t in side) or 1.0
            cached += [(vv, share * w / total, d, direction) for vv, w, d, direction in side]
        v.neighbours[u] = cached
    return cached


def _neighbour_cache_for(v: Views, s: RecallSettings) -> None:
    """Neighbour lists are cached for one set of the settings that shape them."""
    key = (s.callee_share, s.max_fanout)
    if v.neighbours_key != key:
        v.neighbours, v.neighbours_key = {}, key


def prepare_views(v: Views) -> None:
    """Build now what a first recall would build, for a process that will serve many calls:
    the graph, the full-text index and the names that seeds search inside. (Neighbour
    lists are made as diffusion reaches their nodes, from the graph's arrays.)"""
    v.graph
    v.text.build()
    name_runs(v)


def _diffuse(v: Views, seeds: SeedSet, s: RecallSettings) -> tuple[dict[str, float], dict[str, tuple]]:
    """Personalized PageRank by a few power-iteration steps from the seeds: activation
    flows along calls (both ways), inheritance, containment and semantic edges, so a
    symbol reached from two seeds outscores one reached from one."""
    g = v.graph
    base = {sid: seed.weight for sid, seed in seeds.seeds.items() if sid in g}
    x = dict(base)
    via: dict[str, tuple] = {}  # node -> (gain, from, edge data, direction) of its best inflow
    for _ in range(s.iterations):
        nxt = {sid: s.restart * w for sid, w in base.items()}
        floor = max(x.values(), default=0.0) * s.spread_floor
        for u, val in x.items():
            if val < floor:
                continue
            spread = (1 - s.restart) * val
            for vv, w, data, direction in _neighbours(v, u, s):
                gain = spread * w
                nxt[vv] = nxt.get(vv, 0.0) + gain
                best = via.get(vv)
                if best is None or gain > best[0]:
                    via[vv] = (gain, u, data, direction)
        x = nxt
    return x, via


def _relation(data: dict, direction: str, other: str) -> str:
    """How a node relates to ``other``, the node its activation came from. Edges run
    caller → callee, subclass → base, user → type, container → member, importer →
    imported; "out" means the activation followed one from ``other`` to this node."""
    kind = data["kind"]
    name = other.rpartition(":")[2] or other.rstrip(":")
    forward = direction == "out"
    if kind == "call":
        return f"called by {name}" if forward else f"calls {name}"
    if kind == "inherit":
        return f"base of {name}" if forward else f"subclass of {name}"
    if kind == "contain":
        return f"member of {name}" if forward else f"contains {name}"
    if kind == "import":
        return f"imported by {name}" if forward else f"imports {name}"
    if kind == "type":
        return f"used as a type by {name}" if forward else f"uses type {name}"
    reason = data.get("reason") or ""
    together = _CO_CHANGE.fullmatch(reason)
    if together:  # co-change in git history: "changed together in 5 of 5 commits"
        n, of = together.groups()
        return f"changed together with {name} in {n} commits" if n == of else f"changed together with {name} in {n} of {of} commits"
    return f"coupled to {name}: {reason or data.get('relation', '')}".rstrip(": ")


_CO_CHANGE = re.compile(r"changed together in (\d+) of (\d+) commits")
# A semantic edge is named in an item's why when what it carried is at least this share
# of the item's score (the best inflow of any kind is named anyway).
SEMANTIC_WHY_SHARE = 0.05


def _semantic_inflow(v: Views, sid: str, scores: dict[str, float], s: RecallSettings,
                     partners: dict[str, list[tuple[str, dict]]]) -> tuple[float, str, dict, str] | None:
    """The semantic edge that carried the most activation to ``sid`` in the last step of
    diffusion, as (gain, from, edge data, direction), or None when none carried any.
    ``partners``: ``CodeGraph.semantic_partners``."""
    best = None
    for frm, _ in partners.get(sid, ()):
        if not scores.get(frm):
            continue
        for to, share, data, direction in _neighbours(v, frm, s):
            if to == sid and data.get("kind") == "semantic":
                gain = (1 - s.restart) * scores[frm] * share
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, frm, data, direction)
    return best


def vector_hits(ws: Workspace, task: str, s: RecallSettings) -> list[tuple[str, float]]:
    """Nearest embedded symbols, when ``ctxfold enrich`` has embedded some; otherwise []
    (and, if the embedder cannot load, vectors stay off for this workspace, said once)."""
    table = ws.store_dir / "lance" / "vectors.lance"
    if not s.vector_hits or ws.vectors_note or not table.exists():
        return []
    from indexers.paths import connect
    from indexers.vectors import EmbedderUnavailable, load_embedder, search_vectors

    if ws.vectors is None:
        try:
            ws.vectors = (load_embedder(), connect(ws.store_dir))
        except EmbedderUnavailable as exc:
            ws.vectors_note = f"vectors off: {exc}"
            log.warning("%s; recall goes on without them", ws.vectors_note)
            return []
    embedder, db = ws.vectors
    # The head of the task: the model windows long text, and a pasted log would cost seconds.
    query = task[: s.vector_query_chars]
    return [(h.symbol_id, h.score) for h in search_vectors(db, embedder, query, limit=s.vector_hits)]


def fuse_vector_hits(text_hits: list[tuple[str, float, list[str]]], vec: list[tuple[str, float]],
                     weight: float) -> list[tuple[str, float, list[str]]]:
    """Full-text hits keep their BM25 scores; the nearest embedded symbols add to them, the
    first up to ``weight`` times the best text score, later ones less. Best first.
    (Reciprocal rank fusion would flatten BM25's spread: with vectors, the text seeds would
    weigh otherwise than in the ranking tuned without them.)"""
    if not vec:
        return text_hits
    top = text_hits[0][1] if text_hits else 1.0
    fused = {sid: [score, list(terms)] for sid, score, terms in text_hits}
    for rank_, (sid, _) in enumerate(vec):
        entry = fused.setdefault(sid, [0.0, []])
        entry[0] += weight * top * 10 / (10 + rank_)
        entry[1].append("(vector)")
    out = [(sid, score, terms) for sid, (score, terms) in fused.items()]
    out.sort(key=lambda t: -t[1])
    return out


_TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_tests?\.[a-z]+$|(^|/)conftest\.py$|\.(test|spec)\.[jt]sx?$")


# Documentation, examples and release scripts: code, but rarely where a task is solved.
_AUX_PATH = re.compile(r"(^|/)(docs?|examples?|scripts?|release|benchmarks?)/")


def similar_commit_files(index: CommitIndex, query: str, limit: int, known: Collection[str],
                         ignore: frozenset[str] = frozenset()) -> tuple[dict[str, float], dict[str, str]]:
    """The files of ``known`` that the ``limit`` past commits most like the task changed:
    path -> vote (a commit's BM25 score, shared by its files at 1/sqrt(n) each, summed),
    and path -> why (the best commit that changed it)."""
    votes: dict[str, float] = {}
    why: dict[str, str] = {}
    for sha, score in index.search(query, limit, ignore=ignore):
        message, files = index.commits[sha]
        share = score / math.sqrt(len(files))
        subject = message.partition("\n")[0]
        subject = subject if len(subject) <= 60 else subject[:57] + "..."
        for path in files:
            if path in known:
                votes[path] = votes.get(path, 0.0) + share
                why.setdefault(path, f"changed by a past commit like the task ({sha[:8]} {subject})")
    return votes, why


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def _side_factor(path: str, s: RecallSettings) -> float:
    if is_test_path(path):
        return s.test_factor  # tests echo the words of a task more than they answer it
    return s.aux_factor if _AUX_PATH.search(path) else 1.0


def _pointed_at(seeds: SeedSet, sid: str) -> bool:
    """Seeded by a traceback, a focus or a file the task names (not only by its words)."""
    seed = seeds.seeds.get(sid)
    return bool(seed) and any(r.startswith(("in the traceback", "in focus", "in a focus", "file named", "anchor of")) for r in seed.reasons)


def rank(ws: Workspace, v: Views, task: str, focus: list[str], s: RecallSettings = SETTINGS,
         fact_lines: list[FactLine] = (), watch: Stopwatch | None = None) -> list[Candidate]:
    watch = watch or Stopwatch()
    # Full-text search reads the task without its template matter; tracebacks and names
    # are taken from all of it (a traceback is often inside <details>).
    words = strip_boilerplate(task, s.strip_environment) if s.strip_boilerplate else task
    words = drop_links(words) if s.drop_links else words
    query = search_text(words, s.title_repeat, s.span_repeat)
    ignore = ignored_words(v.by_name)
    text_hits = fuse_vector_hits(ws.text.search(query, limit=s.text_hits, max_df=s.text_max_df, ignore=ignore),
                                 vector_hits(ws, words, s), s.vector_weight)
    watch.lap("text")
    numbers = referenced_numbers(task, ws.own_names(v))[: s.issue_refs]
    history = ws.history() if numbers or s.similar_commits else None  # one `git rev-parse`
    refs = history.refs if numbers else {}
    changed_for = {n: [p for p in refs[n] if p in v.by_path] for n in numbers if n in refs}
    watch.lap("history")
    seeds = collect_seeds(v, task, focus, text_hits, s.contained_name_seed, changed_for, s.drop_links, s.label_seed)
    for fact in fact_lines:  # facts pull their code in
        for sid in fact.anchors:
            if sid in v.symbols:
                seeds.add(sid, s.fact_seed, f"anchor of fact {fact.id}")
    # Tests match a task's words and call everything: as seeds they would flood the
    # graph's hubs (Symbol, Dataset), so they start with less, as do docs and examples.
    side: dict[str, float] = {}  # path -> _side_factor, once per file

    def factor(path: str, sym: Symbol | None) -> float:
        if sym is not None and sym.test:  # test code in a file that is not all tests (Rust's mod tests)
            return s.test_factor
        if path not in side:
            side[path] = _side_factor(path, s)
        return side[path]

    if s.side_seed_factor != 1.0:
        for sid, seed in seeds.seeds.items():
            if factor(sid.rpartition(":")[0], v.symbols.get(sid)) < 1.0 and not _pointed_at(seeds, sid):
                seed.weight *= s.side_seed_factor
    _neighbour_cache_for(v, s)
    watch.lap("seeds")
    scores, via = _diffuse(v, seeds, s)
    watch.lap("diffuse")
    # File prior: a file holding several strong seeds lifts every symbol in it.
    file_seed: dict[str, list[float]] = {}
    for sid, seed in seeds.seeds.items():
        path = sid.rpartition(":")[0]
        file_seed.setdefault(path, []).append(seed.weight)
    prior = {p: sum(sorted(ws_, reverse=True)[:3]) for p, ws_ in file_seed.items()}
    top_prior = max(prior.values(), default=1.0) or 1.0
    prior = {p: w / top_prior for p, w in prior.items()}
    if s.file_text_prior:
        # A file whose text as a whole matches the task (BM25, the best file = 1).
        file_text = ws.text.search_files(query, max_df=s.text_max_df, ignore=ignore)
        top_text = max(file_text.values(), default=1.0) or 1.0
        for p, w in file_text.items():
            prior[p] = prior.get(p, 0.0) + s.file_text_prior * w / top_text
    commit_why: dict[str, str] = {}
    if s.similar_commits:  # the files changed by past commits that read like the task
        votes, commit_why = similar_commit_files(ws.commit_index(history), query, s.similar_commits, v.by_path, ignore)
        top_vote = max(votes.values(), default=0.0)
        for p, w in votes.items():
            prior[p] = prior.get(p, 0.0) + s.commit_prior * w / top_vote
        commit_why = {p: why for p, why in commit_why.items() if votes[p] >= 0.5 * top_vote}
    watch.lap("priors")
    for paths in changed_for.values():  # the files changed for an issue the task names
        for p in paths:
            prior[p] = prior.get(p, 0.0) + s.issue_ref_prior / math.sqrt(len(paths))
    final: dict[str, float] = {}
    for sid, score in scores.items():
        sym = v.symbols.get(sid)
        if sym is not None:
            score += s.file_prior * prior.get(sym.path, 0.0)
            f = factor(sym.path, sym)
            if f < 1.0 and not _pointed_at(seeds, sid):
                score *= f
            final[sid] = score
    out: list[Candidate] = []
    partners = v.graph.semantic_partners() if v.graph.semantic_pairs() else {}
    for sid in heapq.nlargest(s.max_candidates, final, key=final.__getitem__):
        why = list(seeds.seeds[sid].reasons) if sid in seeds.seeds else []
        semantic = _semantic_inflow(v, sid, scores, s, partners) if partners else None
        if partners and (semantic is None or semantic[0] < SEMANTIC_WHY_SHARE * scores[sid]):
            semantic = None
            if sid in via and via[sid][1].endswith(":"):  # reached from its file: did a file-level edge reach that?
                node = via[sid][1]
                semantic = _semantic_inflow(v, node, scores, s, partners)
                if semantic is not None and semantic[0] < SEMANTIC_WHY_SHARE * scores.get(node, 0.0):
                    semantic = None
        if semantic is not None:
            why.append(_relation(semantic[2], semantic[3], semantic[1]))  # before the best inflow: it is the news
        if sid in via:
            _, frm, data, direction = via[sid]
            relation = _relation(data, direction, frm)
            if relation not in why:
                why.append(relation)
        if v.symbols[sid].path in commit_why:
            why.append(commit_why[v.symbols[sid].path])
        out.append(Candidate(v.symbols[sid], final[sid], why or ["near a seed"]))
    out.sort(key=lambda c: (-c.score, c.sym.path, c.sym.start_line))
    watch.lap("order")
    return out


# --- packing and rendering ---------------------------------------------------------------


class _Source:
    """Lines of files, read once per recall."""

    def __init__(self, repo: Path):
        self.repo = repo
        self.cache: dict[str, list[str]] = {}

    def lines(self, path: str) -> list[str]:
        if path not in self.cache:
            try:
                self.cache[path] = source_lines(read_source(self.repo / path))
            except OSError:
                self.cache[path] = []
        return self.cache[path]


def _language(path: str) -> str:
    from indexers.languages import language_for_path

    return language_for_path(path) or ""


def _code(src: _Source, sym: Symbol, level: str) -> str:
    lines = src.lines(sym.path)
    if level == "full":
        return "\n".join(lines[sym.start_line - 1 : sym.end_line])
    end = sym.body_line - 1 if sym.body_line > sym.start_line else sym.start_line
    if sym.body_line == sym.start_line or not sym.body_line:
        end = sym.start_line
    head = "\n".join(lines[sym.start_line - 1 : end])
    if sym.doc:
        lang = _language(sym.path)
        marker = LANGUAGES[lang].comment if lang in LANGUAGES else "#"
        indent = len(head.splitlines()[-1]) - len(head.splitlines()[-1].lstrip()) + 4 if head else 4
        head += "\n" + " " * indent + f"{marker} {sym.doc.splitlines()[0][:160]}"
    return head


def _item_block(src: _Source, c: Candidate, level: str) -> str:
    sym = c.sym
    end = sym.end_line if level == "full" else max(sym.start_line, (sym.body_line - 1) if sym.body_line else sym.start_line)
    rng = f"L{sym.start_line}-{end}" if end != sym.start_line else f"L{sym.start_line}"
    why = "; ".join(c.why[:2])
    fence = code_fence(_language(sym.path))
    return f"{rng} {sym.qualname} [{sym.kind}, {level}] — {why}\n```{fence}\n{_code(src, sym, level)}\n```"


def _covered(chosen: dict[str, str], sym: Symbol) -> bool:
    """A symbol is already shown in full when an enclosing type is shown in full."""
    qual = sym.parent
    while qual:
        if chosen.get(f"{sym.path}:{qual}") == "full":
            return True
        qual = qual.rpartition(".")[0]
    return False


def _render(header: str, facts: list[FactLine], blocks: list[tuple[str, int, str]], omitted_lines: list[str]) -> str:
    parts = [header]
    if facts:
        parts.append("## facts\n" + "\n".join(f"- {f.text}" for f in facts))
    by_file: dict[str, list[tuple[int, str]]] = {}
    for path, line, block in blocks:
        by_file.setdefault(path, []).append((line, block))
    for path, entries in by_file.items():
        entries.sort()
        parts.append(f"## {path}\n" + "\n".join(b for _, b in entries))
    if omitted_lines:
        parts.append("## left out (ask fold_file for a file, or recall with a bigger budget)\n" + "\n".join(omitted_lines))
    return "\n\n".join(parts) + "\n"


def recall(
    ws: Workspace | Path | str,
    task: str,
    budget: int | None = None,
    focus: list[str] | None = None,
    fmt: str = "markdown",
    settings: RecallSettings = SETTINGS,
    facts: FactsProvider | None = None,
):
    """Pack what ``task`` needs into ``budget`` tokens. Returns a RecallResult, or its
    JSON dict when ``fmt == "json"``."""
    started = time.perf_counter()
    if not isinstance(ws, Workspace):
        ws = Workspace(ws)
    task = (task or "").strip()
    if not task:
        raise CtxfoldError("empty task: describe what you are working on (an issue, an error with its traceback, a goal)")
    if len(task) > settings.max_task_chars:
        raise CtxfoldError(
            f"task too long: {len(task):,} characters, the limit is {settings.max_task_chars:,}; "
            "keep the issue text, the error and its traceback, and leave out long logs"
        )
    budget = settings.default_budget if budget is None else int(budget)
    if budget < settings.min_budget:
        raise CtxfoldError(f"budget {budget} is too small: the smallest useful recall needs {settings.min_budget} tokens")
    if budget > settings.max_budget:
        raise CtxfoldError(
            f"budget {budget} is over the cap of {settings.max_budget} tokens (large tool results crowd out the "
            "conversation); ask for less, or raise the cap with CTXFOLD_MAX_BUDGET"
        )
    if fmt not in ("markdown", "json"):
        raise CtxfoldError(f"unknown format {fmt!r}: use markdown or json")
    focus = [f for f in (focus or []) if f and f.strip()]

    watch = Stopwatch()
    v = ws.fresh_views()
    watch.lap("fresh")
    # Facts twice: those the task's words match seed the ranking; then those anchored in
    # (or near) the code that ranked high are served with it.
    text_facts = facts(task, set(), set(), mark=False) if facts is not None else []
    watch.lap("facts")
    candidates = rank(ws, v, task, focus, settings, text_facts, watch)
    src = _Source(ws.repo)
    enc = settings.encoding

    fact_lines: list[FactLine] = []
    if facts is not None:
        top_ids = {c.sym.id for c in candidates[:50]}
        fact_lines = facts(task, top_ids, {c.sym.path for c in candidates[:50]})
        watch.lap("facts")

    # Plan with per-item token counts, then render and count exactly.
    reserve = int(budget * settings.manifest_share) + 60
    remaining = budget - reserve - sum(count_tokens(f.text, enc) + 3 for f in fact_lines)
    while fact_lines and remaining < budget * settings.min_code_share:
        fact_lines.pop()  # facts never crowd out the code entirely
        remaining = budget - reserve - sum(count_tokens(f.text, enc) + 3 for f in fact_lines)
    chosen: dict[str, str] = {}
    planned: list[tuple[Candidate, str, str, int]] = []  # candidate, level, block, tokens
    pool = candidates[: settings.pack_pool]
    sig_reserve = int(budget * settings.signature_share)
    for c in pool:  # pass 1: bodies in score order
        if remaining - sig_reserve <= 40:
            break
        if _covered(chosen, c.sym):
            continue
        if c.sym.kind in TYPE_KINDS and (
            c.sym.tokens_full > settings.max_full_type_tokens or any(k.startswith(c.sym.id + ".") for k in chosen)
        ):
            continue  # a big type, or one whose members are in: shown as its signature
        block = _item_block(src, c, "full")
        cost = count_tokens(block, enc) + 2
        if cost <= remaining - sig_reserve and (not planned or cost <= budget * settings.max_item_share):
            chosen[c.sym.id] = "full"
            planned.append((c, "full", block, cost))
            remaining -= cost
    # Pass 2: signatures of the best of the rest, first of files not shown yet, so that
    # the pack points at every file that ranked high even when a few files fill it.
    shown = {c.sym.path for c, *_ in planned}
    firsts: dict[str, Candidate] = {}
    for c in candidates:
        if len(firsts) >= settings.signature_new_files:
            break
        if c.sym.path not in shown:
            firsts.setdefault(c.sym.path, c)
    for c in [*firsts.values(), *pool[: settings.signature_pool]]:
        if remaining <= 30:
            break
        if c.sym.id in chosen or _covered(chosen, c.sym):
            continue
        block = _item_block(src, c, "signature")
        cost = count_tokens(block, enc) + 2
        if cost <= remaining:
            chosen[c.sym.id] = "signature"
            planned.append((c, "signature", block, cost))
            remaining -= cost

    left_out = [c for c in pool if c.sym.id not in chosen and not _covered(chosen, c.sym)]
    watch.lap("pack")
    freshness = ws.freshness_note or f"index fresh (generation {ws.indexer.generation})"
    notes = []
    unknown = unknown_focus(v, focus)
    if unknown:
        notes.append(f"focus not found, left out: {', '.join(unknown)} (search_symbols finds names; paths are relative to the repository)")
    if not candidates and not fact_lines:
        notes.append("nothing in the index matches this task: name a function, class, file or error message, or check `ctxfold status`")

    def build(planned_items, n_omitted) -> str:
        omitted_lines = [
            f"- {c.sym.path}:{c.sym.start_line}-{c.sym.end_line} {c.sym.qualname} ({c.sym.tokens_full} tokens)"
            for c in left_out[:n_omitted]
        ]
        header = f"# ctxfold recall — {{tokens}} of {budget} tokens ({enc}); {freshness}"
        header += "".join(f"\n# note: {note}" for note in notes)
        if 0 < n_omitted < len(left_out):
            omitted_lines.append(f"- … and {len(left_out) - n_omitted} more, ranked lower")
        blocks = [(c.sym.path, c.sym.start_line, block) for c, _, block, _ in planned_items]
        return _render(header, fact_lines, blocks, omitted_lines)

    def outcome(text: str, tokens: int, seconds: float = 0.0) -> RecallResult:
        items = [
            Item(c.sym.path, c.sym.qualname, c.sym.kind, c.sym.start_line,
                 c.sym.end_line if level == "full" else max(c.sym.start_line, (c.sym.body_line or c.sym.start_line + 1) - 1),
                 level, cost, round(c.score, 4), "; ".join(c.why[:3]))
            for c, level, _, cost in sorted(planned, key=lambda p: -p[0].score)
        ]
        omitted = [
            {"path": c.sym.path, "symbol": c.sym.qualname, "kind": c.sym.kind, "start_line": c.sym.start_line,
             "end_line": c.sym.end_line, "tokens": c.sym.tokens_full, "score": round(c.score, 4)}
            for c in left_out[:n_omitted]
        ]
        return RecallResult(budget, tokens, enc, text, items, omitted, seconds, fact_lines, watch.laps)

    n_omitted = min(settings.manifest_items, len(left_out))
    while True:
        draft = build(planned, n_omitted)
        # The header states the final count, and the count's own digits can change it:
        # settle on a number that is true of the text that carries it.
        claimed = count_tokens(draft.replace("{tokens}", str(budget)), enc)
        for _ in range(4):
            text = draft.replace("{tokens}", f"{claimed:,}")
            tokens = count_tokens(text, enc)
            if tokens == claimed:
                break
            claimed = tokens
        if tokens == claimed and (tokens if fmt != "json" else count_tokens(json_text(outcome(text, tokens)), enc)) <= budget:
            break  # (the JSON form, text and lists, within the budget too)
        # Trim: the manifest first, then the lowest-ranked item.
        if n_omitted > 3:
            n_omitted -= max(1, (tokens - budget) // 20)
            n_omitted = max(n_omitted, 3)
        elif planned:
            planned.pop()
        elif fact_lines:
            fact_lines.pop()
        elif n_omitted:
            n_omitted -= 1
        else:
            raise CtxfoldError(f"budget {budget} cannot hold even the header; use at least {settings.min_budget}")

    watch.lap("render")
    seconds = time.perf_counter() - started
    (log.info if seconds > 1.0 else log.debug)("recall in %.0f ms (%s)", seconds * 1000, watch)
    result = outcome(text, tokens, seconds)
    return result.to_json() if fmt == "json" else result


def render_json(result: RecallResult) -> str:
    return json.dumps(result.to_json(), indent=1)


def json_text(result: RecallResult | dict) -> str:
    """The ``format="json"`` answer as sent: with that format, recall packs so that this
    whole text is within the budget."""
    return json.dumps(result.to_json() if isinstance(result, RecallResult) else result)
