"""Python call-edge precision and recall against jedi.

    python -m benchmarks.call_precision PATH [--sample 400] [--seed 0] [--store DIR]
        [--under PREFIX] [--json FILE]

PATH is indexed with ctxfold (the store goes to a temporary directory unless --store is
given). N call sites are drawn uniformly, with the seed, from the Python references of
kind "call". Each is resolved with jedi (``goto`` with imports followed, ``infer`` when
goto names no function or class), and jedi's definitions are mapped onto ctxfold symbol
ids. ctxfold's answer for a site is its call edges from the site's scope at the site's
line. An edge is correct when jedi's targets hold its destination.

Conventions, stated once: paths are relative to PATH, POSIX style; lines are 1-based;
columns are 0-based and count characters (jedi's convention). A call to a class and a
call to that class's ``__init__`` are the same target. The tables go to stdout, progress
to stderr.

Pipeline: ``index_repo`` → ``call_sites`` → ``sample_sites`` → ``collect`` (ctxfold's
edges and jedi's answer per site: plain ``SiteResult`` data) → ``score`` → ``render``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

from indexers.build import Indexer
from indexers.scan import decode_source
from indexers.types import (
    RESOLUTIONS,
    Edge,
    Import,
    ParsedFile,
    Ref,
    Symbol,
    split_symbol_id,
    symbol_id,
)

Log = Callable[[str], None]

# What jedi said about a site:
#   repo        at least one definition that is a ctxfold symbol (the site counts for recall)
#   repo-other  only in-repo definitions that are no ctxfold symbol (a def nested in a function)
#   external    only definitions outside PATH: stdlib, site-packages, builtins
#   unknown     no function or class at all (a parameter, an untyped receiver)
#   skipped     not asked or no answer in time; left out of every ratio
JEDI_STATUSES = ("repo", "repo-other", "external", "unknown", "skipped")
# Sites where jedi's answer can judge an edge: it named the callee, in the repository or not.
JUDGED = ("repo", "repo-other", "external")
ALL = "all"
NOT_NAME = "all but name"
ROWS = (*RESOLUTIONS, ALL, NOT_NAME)
# jedi definition types a call can land on; "statement" and "param" say where a value came
# from, not what it is, so they send us on to infer().
CALLABLE_TYPES = ("function", "class")


@dataclass(frozen=True)
class Settings:
    """The benchmark's knobs, in one place."""

    site_seconds: float = 10.0  # jedi time per site before the site is skipped
    # A callee split over lines (`(a\n  .b)(x)`): how many lines after the reference's
    # first line to look for its last name.
    lookahead_lines: int = 3
    examples: int = 15  # wrong edges and misses printed, each
    progress_every: int = 25  # sites between progress lines


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class CallSite:
    path: str
    line: int
    column: int  # of the last chain element; 0-based, in characters
    chain: tuple[str, ...]
    scope: str  # qualname of the enclosing symbol, "" at module level

    @property
    def src(self) -> str:
        return symbol_id(self.path, self.scope)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def callee(self) -> str:
        return ".".join(self.chain)


@dataclass(frozen=True)
class SiteEdge:
    dst: str
    resolution: str  # one of RESOLUTIONS


@dataclass(frozen=True)
class JediAnswer:
    status: str  # one of JEDI_STATUSES
    targets: frozenset[str] = frozenset()  # ctxfold symbol ids that count as correct
    shown: tuple[str, ...] = ()  # jedi's definitions as text, for the examples
    note: str = ""  # why a site was skipped


@dataclass(frozen=True)
class SiteResult:
    site: CallSite
    edges: tuple[SiteEdge, ...]  # ctxfold's call edges for this site
    jedi: JediAnswer
    # Destinations of call edges from the same source on any line. ctxfold keeps one edge
    # per (src, dst), at its first line, so a repeated call has no edge at its own line.
    src_dsts: frozenset[str] = frozenset()
    seconds: float = 0.0  # jedi's time


# --------------------------------------------------------------------------- scoring


@dataclass
class MethodStats:
    edges: int = 0
    correct: int = 0
    judged_edges: int = 0  # edges at sites where jedi named the callee
    judged_correct: int = 0
    sites_found: int = 0  # jedi-repo sites where this method gave a correct edge

    @property
    def precision(self) -> float | None:
        return self.correct / self.edges if self.edges else None

    @property
    def judged_precision(self) -> float | None:
        return self.judged_correct / self.judged_edges if self.judged_edges else None


@dataclass(frozen=True)
class WrongEdge:
    where: str
    callee: str
    dst: str
    resolution: str
    jedi: str  # jedi's targets, or its status when it named nothing in the repository


MISS_KINDS = ("wrong", "silent", "other line", "recursive")


@dataclass(frozen=True)
class Miss:
    where: str
    callee: str
    ctxfold: str  # ctxfold's (wrong) destinations, "-" when it had none
    jedi: str
    # One of MISS_KINDS: only wrong edges; no edge; the edge sits at another line of the same
    # caller (SiteResult.src_dsts); a call of the caller itself (ctxfold keeps no self-loops).
    kind: str


@dataclass
class Report:
    sites: int = 0
    statuses: Counter = field(default_factory=Counter)
    skip_notes: Counter = field(default_factory=Counter)
    methods: dict[str, MethodStats] = field(default_factory=lambda: {row: MethodStats() for row in ROWS})
    miss_kinds: Counter = field(default_factory=Counter)
    wrong: list[WrongEdge] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)

    @property
    def repo_sites(self) -> int:
        return self.statuses["repo"]

    def recall(self, row: str = ALL) -> float | None:
        return self.methods[row].sites_found / self.repo_sites if self.repo_sites else None


def _jedi_text(answer: JediAnswer) -> str:
    return ", ".join(answer.shown) if answer.shown else f"({answer.status})"


def score(results: Iterable[SiteResult]) -> Report:
    """Precision and recall of ctxfold's edges against jedi's answers; every wrong edge
    and every miss is listed, in the order of ``results``."""
    report = Report()
    for r in results:
        report.sites += 1
        report.statuses[r.jedi.status] += 1
        if r.jedi.status == "skipped":
            report.skip_notes[r.jedi.note] += 1
            continue
        judged = r.jedi.status in JUDGED
        found: set[str] = set()
        for e in r.edges:
            ok = e.dst in r.jedi.targets
            rows = (e.resolution, ALL) if e.resolution == "name" else (e.resolution, ALL, NOT_NAME)
            for row in rows:
                stats = report.methods[row]
                stats.edges += 1
                stats.correct += ok
                if judged:
                    stats.judged_edges += 1
                    stats.judged_correct += ok
            if ok:
                found.add(e.resolution)
            elif judged:
                report.wrong.append(WrongEdge(r.site.where, r.site.callee, e.dst, e.resolution, _jedi_text(r.jedi)))
        if r.jedi.status != "repo":
            continue
        for method in found:
            report.methods[method].sites_found += 1
        if found:
            report.methods[ALL].sites_found += 1
        if found - {"name"}:
            report.methods[NOT_NAME].sites_found += 1
        if not found:
            if r.edges:
                kind = "wrong"
            else:
                kind = "other line" if r.jedi.targets & r.src_dsts else "recursive" if r.site.src in r.jedi.targets else "silent"
            report.miss_kinds[kind] += 1
            shown = ", ".join(f"{e.dst} [{e.resolution}]" for e in r.edges) or "-"
            report.misses.append(Miss(r.site.where, r.site.callee, shown, _jedi_text(r.jedi), kind))
    return report


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:5.1f}%"


def _count_shown(n: int, limit: int) -> str:
    return f"first {limit} of {n}" if n > limit else str(n)


def render(report: Report, settings: Settings = Settings()) -> str:
    s = report.statuses
    lines = [
        f"sites sampled       {report.sites}",
        (
            f"  jedi: in-repo symbol {s['repo']}, in-repo non-symbol {s['repo-other']}, "
            f"outside the repo {s['external']}, no callable {s['unknown']}, skipped {s['skipped']}"
        ),
    ]
    for note, n in report.skip_notes.most_common():
        lines.append(f"  skipped: {n} × {note}")
    lines += [
        "",
        "precision: correct edges / edges at the sampled sites (judged: only sites where jedi named",
        "the callee, in the repo or outside it); recall: sites with a correct edge / in-repo sites",
        "",
        f"{'method':<13}{'edges':>6}{'correct':>8}{'precision':>10}{'judged':>8}{'judged prec':>12}{'found':>7}{'recall':>8}",
    ]
    for row in ROWS:
        m = report.methods[row]
        if row == ALL:
            lines.append("-" * 72)
        lines.append(
            f"{row:<13}{m.edges:>6}{m.correct:>8}{_pct(m.precision):>10}{m.judged_edges:>8}"
            f"{_pct(m.judged_precision):>12}{m.sites_found:>7}{_pct(report.recall(row)):>8}"
        )
    if report.miss_kinds:
        k = report.miss_kinds
        with_other_line = (report.methods[ALL].sites_found + k["other line"]) / report.repo_sites
        lines += [
            "",
            f"misses              {sum(k.values())} in-repo sites without a correct edge at their line",
            f"  only wrong edges  {k['wrong']}",
            f"  no edge           {k['silent']}",
            (
                f"  other line        {k['other line']}  the caller's edge sits at another line: ctxfold keeps one"
                f" edge per caller and callee, at its first line (counting these, recall {_pct(with_other_line).strip()})"
            ),
            f"  recursive         {k['recursive']}  a call of the caller itself: ctxfold keeps no self-loops",
        ]
    # The examples most telling about the resolver first: wrong edges it was sure of,
    # misses with a wrong edge or none, before name guesses and the one-edge-per-pair rule.
    wrong = sorted(report.wrong, key=lambda w: w.resolution == "name")
    misses = sorted(report.misses, key=lambda m: MISS_KINDS.index(m.kind))
    lines += ["", f"wrong edges ({_count_shown(len(wrong), settings.examples)}, at sites jedi judged)"]
    for w in wrong[: settings.examples]:
        lines.append(f"  {w.where}  {w.callee}  → {w.dst} [{w.resolution}]   jedi: {w.jedi}")
    lines += ["", f"misses ({_count_shown(len(misses), settings.examples)})"]
    for m in misses[: settings.examples]:
        lines.append(f"  {m.where}  {m.callee}  ctxfold: {m.ctxfold}   jedi: {m.jedi}   ({m.kind})")
    return "\n".join(lines)


# --------------------------------------------------------------------------- ctxfold side


def index_repo(repo: Path, store: Path, log: Log) -> Indexer:
    last = [""]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last[0]:
            last[0] = stage
            log(f"index: {stage}")

    ix = Indexer(repo, store)
    stats = ix.update(progress=progress)
    log(f"index: {stats.files} files, {stats.symbols} symbols, {stats.edges} edges in {stats.seconds:.1f} s")
    return ix


@dataclass(frozen=True)
class RefAt:
    """A reference with the file it is in."""

    path: str
    ref: Ref


def call_sites(files: dict[str, ParsedFile], under: str = "") -> list[RefAt]:
    """Every Python call reference in files whose path starts with ``under``, in a stable
    order (by path, then as parsed)."""
    return [
        RefAt(path, ref)
        for path in sorted(files)
        if files[path].language == "python" and path.startswith(under)
        for ref in files[path].refs
        if ref.kind == "call"
    ]


def sample_sites(sites: Sequence[RefAt], n: int, seed: int) -> list[RefAt]:
    """``n`` sites drawn uniformly without replacement, sorted by file (jedi reuses one
    script per file)."""
    picked = random.Random(seed).sample(list(sites), min(n, len(sites)))
    return sorted(picked, key=lambda s: (s.path, s.ref.line))


_WORD_CHARS = r"[\w$]"


def locate_column(lines: Sequence[str], line: int, chain: Sequence[str], occurrence: int = 0, lookahead: int = 3) -> tuple[int, int] | None:
    """(line, column) of the chain's last name, from ``line`` on (1-based lines, 0-based
    column). An occurrence after a dot (for a dotted chain) and before ``(`` is preferred;
    ``occurrence`` picks the n-th of the best (``f(f(x))`` holds two references to f)."""
    name = chain[-1]
    pattern = re.compile(rf"(?<!{_WORD_CHARS}){re.escape(name)}(?!{_WORD_CHARS})")
    for number in range(line, min(line + lookahead, len(lines)) + 1):
        text = lines[number - 1]
        ranked: list[tuple[int, int]] = []
        for m in pattern.finditer(text):
            dotted = re.search(r"\.\s*$", text[: m.start()]) is not None
            called = re.match(r"\s*\(", text[m.end() :]) is not None
            rank = (dotted == (len(chain) > 1)) + called
            ranked.append((-rank, m.start()))
        if ranked:
            best = min(r for r, _ in ranked)
            columns = [c for r, c in ranked if r == best]
            return number, columns[min(occurrence, len(columns) - 1)]
    return None


def _dst_name(dst: str) -> str:
    return split_symbol_id(dst)[1].rpartition(".")[2].split("#")[0]


def _names_for(chain: Sequence[str], imports: Sequence[Import]) -> set[str]:
    """Names a destination of this chain may carry: its last part, or what an import alias stands for."""
    names = {chain[-1]}
    if len(chain) == 1:
        names |= {imp.name for imp in imports if imp.local == chain[0] and imp.name not in ("", "*")}
    return names


def _shape_fits(chain: Sequence[str], resolution: str) -> bool:
    """Could the resolver have tied a chain of this shape with this method?"""
    receiver = len(chain) == 2 and chain[0] in ("self", "cls", "super()")
    if resolution == "self":
        return receiver
    if resolution in ("local", "import"):
        return len(chain) == 1
    if resolution == "qualified":
        return len(chain) > 1 and not receiver
    return True  # "name": any shape falls back to it


def edges_for_ref(ref: Ref, same_line: Sequence[Ref], edges: Sequence[Edge], imports: Sequence[Import]) -> tuple[SiteEdge, ...]:
    """ctxfold's edges for one reference, out of the call edges from its scope at its line.

    Edges carry a line, not a reference: with other calls on that line in the same scope
    (``f(g(x))``), an edge belongs to the reference whose callee name it carries and whose
    shape its resolution method fits. References alike in both (``a.get(b.get())``)
    share their edges."""
    if len(same_line) > 1:
        names = _names_for(ref.chain, imports)
        edges = [e for e in edges if _dst_name(e.dst) in names and _shape_fits(ref.chain, e.resolution)]
        # The resolver gives a reference one resolved edge or name guesses, never both:
        # beside a resolved edge, guesses belong to another call (`self.f() == other.f()`).
        if any(e.resolution != "name" for e in edges):
            edges = [e for e in edges if e.resolution != "name"]
    return tuple(SiteEdge(e.dst, e.resolution) for e in edges)


# --------------------------------------------------------------------------- jedi side


def definition_targets(symbols: Sequence[Symbol], line: int, name: str) -> frozenset[str]:
    """ctxfold ids for a definition named ``name`` at ``line`` of a file with ``symbols``:
    the innermost symbol spanning the line under that name; a class and its ``__init__``
    stand for each other. Empty when no symbol fits (a def nested in a function body)."""
    fits = [s for s in symbols if s.start_line <= line <= s.end_line and s.name == name]
    if not fits:
        return frozenset()
    sym = max(fits, key=lambda s: (s.start_line, -s.end_line))
    ids = {sym.id}
    by_qual = {s.qualname: s for s in symbols}
    if sym.kind == "class" and f"{sym.qualname}.__init__" in by_qual:
        ids.add(symbol_id(sym.path, f"{sym.qualname}.__init__"))
    parent = by_qual.get(sym.parent)
    if sym.name == "__init__" and parent is not None and parent.kind == "class":
        ids.add(parent.id)
    return frozenset(ids)


class SiteTimeout(BaseException):
    """jedi ran out of time on one site. A BaseException, so that jedi's own
    ``except Exception`` handlers cannot swallow it and carry on."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise SiteTimeout after ``seconds`` (SIGALRM: the main thread only; elsewhere, no limit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(signum, frame):
        raise SiteTimeout(f"over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _import_root(repo: Path) -> Path | None:
    """When PATH is itself a package (``django/``), the directory its imports start from."""
    root = repo
    while (root / "__init__.py").is_file():
        root = root.parent
    return root if root != repo else None


def _jedi_sys_path(repo: Path) -> list[str]:
    """Where jedi looks for imports besides PATH (which it puts first itself).

    A package directory as PATH imports itself absolutely (``from django.db import x``):
    the directory above it goes first, before any installed copy. This process's own
    entries for the working directory and the ctxfold checkout are left out, so that the
    repository's imports never land in ctxfold's code."""
    own = {Path.cwd().resolve(), Path(__file__).resolve().parents[1]}
    base = [p for p in sys.path if p and Path(p).resolve() not in own]
    root = _import_root(repo)
    return ([str(root)] if root else []) + base


class JediOracle:
    """jedi's answer for call sites of one repository, one jedi script per file at a time.

    Use it as a context manager: for its lifetime jedi's parse cache lives in a private
    temporary directory. A timeout can cut a cache write short, and a truncated pickle in
    the shared cache (~/.cache/jedi) fails every later run that reads it with EOFError
    (parso's loader catches only FileNotFoundError)."""

    def __init__(self, repo: Path, files: dict[str, ParsedFile], settings: Settings):
        try:
            import jedi
            from jedi.api.environment import InterpreterEnvironment
        except ImportError as exc:
            raise SystemExit("call_precision needs jedi: pip install -e '.[bench]'") from exc
        self._jedi = jedi
        self.repo = repo
        self.files = files
        self.settings = settings
        self.project = jedi.Project(repo, sys_path=_jedi_sys_path(repo))
        # In-process inference: the default environment talks to a subprocess over a pipe,
        # which a timeout signal could leave half-read.
        self.environment = InterpreterEnvironment()
        self._script_path: str | None = None
        self._script = None
        self._cache: tempfile.TemporaryDirectory | None = None
        self._saved_cache_directory = ""

    def __enter__(self) -> Self:
        self._cache = tempfile.TemporaryDirectory(prefix="ctxfold-jedi-cache-")
        self._saved_cache_directory = self._jedi.settings.cache_directory
        self._jedi.settings.cache_directory = self._cache.name
        # jedi's first question loads the builtins stubs, seconds of work that would
        # otherwise count against the first site's time limit.
        self._jedi.Script(code="len\n", project=self.project, environment=self.environment).infer(1, 0)
        return self

    def __exit__(self, *exc_info) -> None:
        self._jedi.settings.cache_directory = self._saved_cache_directory
        self._script_path = self._script = None
        if self._cache is not None:
            self._cache.cleanup()

    def _script_for(self, path: str, source: str):
        if path != self._script_path:
            self._script = self._jedi.Script(code=source, path=self.repo / path, project=self.project, environment=self.environment)
            self._script_path = path
        return self._script

    def answer(self, path: str, source: str, line: int, column: int) -> JediAnswer:
        try:
            with time_limit(self.settings.site_seconds):
                script = self._script_for(path, source)
                defs = [d for d in script.goto(line, column, follow_imports=True) if d.type in CALLABLE_TYPES]
                if not defs:
                    defs = [d for d in script.infer(line, column) if d.type in CALLABLE_TYPES]
                return self._classify([impl for d in defs for impl in self._implementations(d)])
        except SiteTimeout as exc:
            self._script_path = self._script = None  # its inference state may be half-built
            return JediAnswer("skipped", note=f"jedi timeout ({exc})")
        except Exception as exc:  # jedi fails on some code; the site is reported as skipped
            self._script_path = self._script = None
            return JediAnswer("skipped", note=f"jedi error ({type(exc).__name__})")

    def _implementations(self, d) -> list:
        """jedi answers with a stub it ships (django-stubs, typeshed's requests) even when
        the repository holds the implementation; the stub's own goto finds the code."""
        if d.module_path is None or Path(d.module_path).suffix != ".pyi" or self._relative(d) is not None:
            return [d]
        impl = [x for x in d.goto(follow_imports=True, prefer_stubs=False) if x.type in CALLABLE_TYPES]
        return impl or [d]

    def _classify(self, defs) -> JediAnswer:
        if not defs:
            return JediAnswer("unknown")
        targets: set[str] = set()
        shown: list[str] = []
        in_repo = False
        for d in defs:
            rel = self._relative(d)
            if rel is None:
                shown.append(f"{d.full_name or d.name} (outside)")
                continue
            in_repo = True
            pf = self.files.get(rel)
            ids = definition_targets(pf.symbols, d.line, d.name) if pf is not None and d.line else frozenset()
            targets |= ids
            shown.append(min(ids, key=len) if ids else f"{rel}:{d.line} {d.name} (no symbol)")
        status = "repo" if targets else ("repo-other" if in_repo else "external")
        return JediAnswer(status, frozenset(targets), tuple(dict.fromkeys(shown)))

    def _relative(self, d) -> str | None:
        if d.in_builtin_module() or d.module_path is None:
            return None
        p = Path(d.module_path).resolve()
        return p.relative_to(self.repo).as_posix() if p.is_relative_to(self.repo) else None


# --------------------------------------------------------------------------- the run


def _site_result(pf: ParsedFile, ref: Ref, text: str, lines: list[str], calls_at: dict, calls_from: dict, oracle: JediOracle, settings: Settings) -> SiteResult:
    same_line = [r for r in pf.refs if r.kind == "call" and r.line == ref.line and r.scope == ref.scope]
    twins = [r for r in same_line if r.chain[-1] == ref.chain[-1]]
    src = symbol_id(pf.path, ref.scope)
    edges = edges_for_ref(ref, same_line, calls_at.get((src, ref.line), []), pf.imports)
    spot = locate_column(lines, ref.line, ref.chain, next(k for k, r in enumerate(twins) if r is ref), settings.lookahead_lines)
    started = time.perf_counter()
    if spot is None:
        answer = JediAnswer("skipped", note="callee name not found in the source line")
    else:
        answer = oracle.answer(pf.path, text, *spot)
    site = CallSite(pf.path, ref.line, spot[1] if spot else 0, tuple(ref.chain), ref.scope)
    return SiteResult(site, edges, answer, frozenset(calls_from.get(src, ())), time.perf_counter() - started)


def collect(ix: Indexer, picked: Sequence[RefAt], settings: Settings, log: Log) -> list[SiteResult]:
    """ctxfold's edges and jedi's answer for each picked site."""
    calls_at: dict[tuple[str, int], list[Edge]] = {}  # (src, line) -> call edges
    calls_from: dict[str, set[str]] = {}  # src -> destinations of its call edges
    for e in ix.all_edges():
        if e.kind == "call":
            calls_at.setdefault((e.src, e.line), []).append(e)
            calls_from.setdefault(e.src, set()).add(e.dst)
    results: list[SiteResult] = []
    path, text, lines = "", "", []
    started = time.perf_counter()
    with JediOracle(ix.repo, ix.files, settings) as oracle:
        for i, at in enumerate(picked, 1):
            if at.path != path:  # sites come sorted by file
                path = at.path
                text = decode_source((ix.repo / path).read_bytes())[0] or ""
                lines = text.splitlines()
            result = _site_result(ix.files[path], at.ref, text, lines, calls_at, calls_from, oracle, settings)
            results.append(result)
            if result.jedi.status == "skipped":
                log(f"[{i}/{len(picked)}] skipped {result.site.where} {result.site.callee}: {result.jedi.note}")
            if i % settings.progress_every == 0 or i == len(picked):
                log(f"[{i}/{len(picked)}] sites resolved with jedi, {time.perf_counter() - started:.0f} s")
    return results


def run(repo: Path, sample: int, seed: int, store: Path | None, settings: Settings, log: Log, under: str = "") -> list[SiteResult]:
    """Index ``repo``, sample call sites (in files under ``under`` only, when given) and
    collect both answers for each."""
    repo = repo.resolve()
    with tempfile.TemporaryDirectory(prefix="ctxfold-calls-") as tmp:
        ix = index_repo(repo, store or Path(tmp), log)
        sites = call_sites(ix.files, under)
        if not sites:
            raise SystemExit(f"no Python call sites in {repo}" + (f" under {under!r}" if under else "") + ": nothing to measure")
        picked = sample_sites(sites, sample, seed)
        log(f"{len(sites)} Python call sites; {len(picked)} sampled (seed {seed})")
        return collect(ix, picked, settings, log)


def _stderr(message: str) -> None:
    print(f"call_precision: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", type=Path, help="repository (or package directory) to measure")
    ap.add_argument("--sample", type=int, default=400, help="call sites to sample (default 400)")
    ap.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ap.add_argument("--store", type=Path, default=None, help="ctxfold store directory (default: a temporary one)")
    ap.add_argument("--under", default="", help="sample only files whose repository path starts with this (e.g. django/)")
    ap.add_argument("--json", type=Path, default=None, help="write every site's result to this file")
    args = ap.parse_args(argv)
    if not args.path.is_dir():
        ap.error(f"no such directory: {args.path}")
    settings = Settings()
    results = run(args.path, args.sample, args.seed, args.store, settings, _stderr, args.under)
    print(f"repository          {args.path.resolve()}")
    print(render(score(results), settings))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1, default=sorted))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
