"""Ablation of recall's offline layers: what do semantic edges and vectors add?

For each SWE-bench instance the repository is checked out with git at its base commit (a
real checkout, so that the history up to that commit exists: volatility and co-change
need it), indexed, and asked ``recall(problem_statement, budget)`` after each stage, every
stage adding to the one before:

    graph                 the call graph alone (no semantic edges table, vector_hits=0)
    heuristic             + heuristic semantic edges (co-change, shared rare literals), as
                          ``ctxfold enrich`` derives them (``derive(vectors_mode="off")``)
    vectors-volatile      + embeddings of the symbols of volatile files, recall with its
                          default settings (vector hits fused with the full-text seeds)
    vectors-all           + embeddings of every symbol (slow: only for trees with at most
                          ``--all-max-symbols`` symbols)

    python -m benchmarks.ablation --instances FILE --repos MIRRORS --workdir DIR
        [--budget 8000] [--per-repo N] [--limit N] [--repo-filter sympy]
        [--volatile-max-symbols N] [--all-max-symbols 6000 | --no-all] [--no-cache]
        [--enrich-estimate sympy] [--out results.json] [--resume EARLIER.json] [--skip ID,ID]

Scoring, tables and conventions are those of ``benchmarks.localize``. Volatility is
computed as of the base commit (its committer date is "now"): with today's date every file
of an old commit would be stable, and the volatile stage would embed nothing. Embedding
throughput comes from ``update_vectors``'s stats. The table goes to stdout, progress to
stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from benchmarks.localize import (
    LEGEND,
    Instance,
    Pack,
    PackedItem,
    Score,
    _describe,
    _extract_blobs,
    _write_json,
    format_table,
    load_instances,
    load_mirrors,
    pack_from_recall,
    score_pack,
    summarize,
    summary_json,
)

STAGES = ("graph", "heuristic", "vectors-volatile", "vectors-all")
LABELS = {
    "graph": "graph only",
    "heuristic": "+ heuristic edges",
    "vectors-volatile": "+ vectors (volatile)",
    "vectors-all": "+ vectors (all)",
}
DEFAULT_BUDGET = 8000
DEFAULT_ALL_MAX_SYMBOLS = 6000
COMPLETE_SUFFIX = ".complete"  # beside a checkout that finished: the commit, absent files

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


class ChunkCache:
    """An embedder that remembers its passages' vectors by text, across instances.

    Two instances of one repository share most of their code; a chunk embedded for the
    first is not embedded again for the second (``update_vectors`` only sees a faster
    embedder). ``computed`` and ``compute_s`` count the real embedder's work, ``hits`` the
    passages answered from memory. Queries are never cached.
    """

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self._vectors: dict[bytes, object] = {}
        self.hits = 0
        self.computed = 0
        self.compute_s = 0.0

    def embed_passages(self, texts: list[str]):
        import numpy as np

        keys = [hashlib.sha1(t.encode("utf-8", "surrogatepass")).digest() for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._vectors}
        if todo:
            started = time.perf_counter()
            rows = self.inner.embed_passages(list(todo.values()))
            self.compute_s += time.perf_counter() - started
            self.computed += len(todo)
            self._vectors.update(zip(todo, rows, strict=True))
        self.hits += len(texts) - len(todo)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def embed_queries(self, texts: list[str]):
        return self.inner.embed_queries(texts)


# --------------------------------------------------------------------------- checkouts


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=check, capture_output=True, text=True
    )


def checkout(mirror: Path, commit: str, dest: Path, log: Log = _quiet) -> Path:
    """A git checkout of ``commit`` at ``dest`` sharing ``mirror``'s objects, made once.

    ``git clone --shared --no-checkout`` then ``git checkout --detach``: the history up to
    ``commit`` is there, as in a developer's clone. ``.ctxfold/`` is excluded in
    ``.git/info/exclude`` so that the store does not show as untracked files. If the mirror
    lacks some blobs, the checkout fails; the index is then read from the commit, the
    blobs present are written, and the ones absent are listed in the marker.
    """
    marker = dest.with_name(dest.name + COMPLETE_SUFFIX)
    if dest.is_dir() and marker.is_file() and marker.read_text().split("\n")[0] == commit:
        return dest
    marker.unlink(missing_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["git", "clone", "-q", "--shared", "--no-checkout", str(mirror), str(dest)],
        check=True, capture_output=True, text=True,
    )
    exclude = dest / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with open(exclude, "a", encoding="utf-8") as fh:
        fh.write("\n.ctxfold/\n")
    absent: list[str] = []
    done = _git(dest, "checkout", "-q", "--detach", commit, check=False)
    if done.returncode:
        # Most likely blobs the mirror lacks: write what is there, file by file.
        _git(dest, "update-ref", "--no-deref", "HEAD", commit)
        _git(dest, "read-tree", commit)
        for child in dest.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        absent = _extract_blobs(Path(mirror), commit, dest)
        if not absent:
            raise RuntimeError(f"git checkout {commit} failed: {done.stderr.strip()}")
        _git(dest, "update-index", "-q", "--refresh", check=False)
        log(f"{mirror} lacks {len(absent)} file(s) of {commit[:12]}: {', '.join(absent[:3])}")
    marker.write_text("".join(line + "\n" for line in [commit, *absent]))
    return dest


def commit_time(repo: Path) -> datetime:
    """HEAD's committer date: "now" for volatility at the base commit."""
    stamp = _git(repo, "log", "-1", "--format=%ct", "HEAD").stdout.strip()
    return datetime.fromtimestamp(int(stamp), UTC)


# --------------------------------------------------------------------------- stages


@dataclass
class StageRun:
    pack: Pack
    ran: bool = True  # False: the stage was skipped for this instance (not scored)
    seconds: float = 0.0  # the stage's offline work (index, derive, embed), not the query
    items_via_vector: int = 0  # pack items seeded (partly) by a vector hit
    items_via_coupling: int = 0  # pack items reached over a semantic edge
    changed: bool | None = None  # the pack differs from the previous stage's


@dataclass
class InstanceRun:
    instance: Instance
    stages: dict[str, StageRun] = field(default_factory=dict)
    scores: dict[str, Score] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def _failed(error: str) -> Pack:
    return Pack(items=[], tokens=0, latency_ms=0.0, error=error)


def _clear_derived(store_dir: Path) -> None:
    """Drop the semantic edges and vectors of an earlier run: stages start from the graph."""
    for table in ("semantic_edges.lance", "vectors.lance"):
        shutil.rmtree(store_dir / "lance" / table, ignore_errors=True)


def _vector_stats_json(stats) -> dict:
    return {**dataclasses.asdict(stats), "chunks_per_s": round(stats.chunks_per_second, 3)}


def _signature(pack: Pack) -> list[tuple]:
    return [(i.path, i.symbol, i.level) for i in pack.items]


def run_instance(
    instance: Instance,
    repo: Path,
    *,
    embedder=None,
    load_embedder: Callable[[], object] | None = None,
    budget: int = DEFAULT_BUDGET,
    all_max_symbols: int | None = DEFAULT_ALL_MAX_SYMBOLS,
    volatile_max_symbols: int | None = None,
    now: datetime | None = None,
    log: Log = _quiet,
) -> InstanceRun:
    """Every stage on one checkout, in order; a failing stage is a miss and the next goes on.

    ``embedder`` (or ``load_embedder()``, called once when first needed) embeds the
    passages and the queries. ``volatile_max_symbols``: the vectors-volatile stage runs
    only when at most this many symbols are volatile (None: always). ``all_max_symbols``:
    the vectors-all stage runs only when the tree has at most this many symbols (None:
    always; 0: never), and only after the volatile stage ran. ``now``: the reference time
    of volatility (default: HEAD's committer date).
    """
    from indexers.build import build_index
    from indexers.paths import connect, store_dir_for
    from indexers.semantic import derive
    from indexers.vectors import VectorSettings, select_for_embedding, update_vectors
    from indexers.volatility import compute_volatility
    from mcp_server.recall import recall
    from mcp_server.settings import SETTINGS
    from mcp_server.workspace import Workspace

    run = InstanceRun(instance)
    no_vectors = dataclasses.replace(SETTINGS, vector_hits=0)
    previous: list[Pack] = []
    state: dict = {"embedder": embedder}

    def get_embedder():
        if state["embedder"] is None:
            state["embedder"] = load_embedder() if load_embedder else _default_embedder()
        return state["embedder"]

    def fresh_workspace(with_vectors: bool):
        ws = Workspace(repo)
        views = ws.fresh_views()
        if with_vectors:
            # The embedder already loaded, shared: recall would load the same one itself.
            ws.vectors = (get_embedder(), connect(ws.store_dir))
        return ws, views

    def ask(name: str, ws, settings, offline_s: float) -> None:
        started = time.perf_counter()
        result = recall(ws, instance.problem_statement, budget, fmt="json", settings=settings)
        pack = pack_from_recall(result, (time.perf_counter() - started) * 1000)
        whys = [it.get("why") or "" for it in result.get("items", [])]
        stage = StageRun(
            pack=pack,
            seconds=offline_s,
            items_via_vector=sum("similar by embedding" in w for w in whys),
            items_via_coupling=sum("coupled to" in w or "changed together with" in w for w in whys),
            changed=(_signature(pack) != _signature(previous[-1])) if previous else None,
        )
        previous.append(pack)
        run.stages[name] = stage
        log(
            f"  {name}: recall {pack.latency_ms:.0f} ms, {len(pack.items)} items, "
            f"{stage.items_via_vector} via vectors, {stage.items_via_coupling} via couplings"
            + ("" if stage.changed is None else f", {'changed' if stage.changed else 'same pack'}")
        )

    def fail(name: str, exc: BaseException) -> None:
        run.errors[name] = _describe(exc)
        run.errors[name + ":traceback"] = traceback.format_exc(limit=8)
        run.stages[name] = StageRun(pack=_failed(run.errors[name]))
        log(f"  {name} failed: {run.errors[name]}")

    def embed(name: str, ws, symbols) -> object:
        started = time.monotonic()
        last = [started]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last[0] > 60 or done == total:
                last[0] = time.monotonic()
                rate = done / max(last[0] - started, 1e-9)
                log(f"    embedded {done}/{total} ({rate:.1f} chunks/s)")

        embedder = get_embedder()
        before = (getattr(embedder, "hits", 0), getattr(embedder, "computed", 0),
                  getattr(embedder, "compute_s", 0.0))
        stats = update_vectors(
            connect(ws.store_dir), embedder, symbols,
            lambda path: (repo / path).read_text(encoding="utf-8-sig", errors="replace"),
            progress=progress, batch_size=VectorSettings().batch_size,
        )
        info = run.info[f"vectors_{name}"] = _vector_stats_json(stats)
        if isinstance(embedder, ChunkCache):
            info["cache_hits"] = embedder.hits - before[0]
            info["computed"] = embedder.computed - before[1]
            info["compute_s"] = round(embedder.compute_s - before[2], 3)
        log(
            f"  {name}: {stats.embedded} embedded in {stats.seconds:.0f}s "
            f"({stats.chunks_per_second:.1f} chunks/s), {stats.unchanged} unchanged"
            + (f", {info['cache_hits']} from the cache of earlier instances" if info.get("cache_hits") else "")
        )
        return stats

    # Stage 1: the graph alone.
    try:
        started = time.perf_counter()
        build_index(repo)
        build_s = time.perf_counter() - started
        _clear_derived(store_dir_for(repo))
        ws, views = fresh_workspace(False)
        symbols = ws.indexer.all_symbols()
        run.info.update(build_s=round(build_s, 2), files=len(ws.indexer.files), symbols=len(symbols),
                        semantic_in_graph_before=views.semantic)
        log(f"  indexed {len(ws.indexer.files)} files, {len(symbols)} symbols in {build_s:.0f}s")
        ask("graph", ws, no_vectors, build_s)
    except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
        for name in STAGES:
            fail(name, exc)
        run.scores = {n: score_pack(instance, s.pack, budget) for n, s in run.stages.items()}
        return run

    # Stage 2: + heuristic semantic edges, derived as `ctxfold enrich --vectors off` does.
    try:
        started = time.perf_counter()
        report = derive(ws.indexer, vectors_mode="off")
        derive_s = time.perf_counter() - started
        ws, views = fresh_workspace(False)
        run.info.update(
            heuristic_edges=report.heuristic_edges,
            derive_s=round(derive_s, 2),
            semantic_in_graph=views.semantic,
            volatile_files_today=report.volatile_files,
            volatility_note=report.volatility_note,
        )
        log(f"  {report.heuristic_edges} heuristic edges in {derive_s:.0f}s ({views.semantic} in the graph)")
        ask("heuristic", ws, no_vectors, derive_s)
    except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
        fail("heuristic", exc)

    # Stage 3: + vectors of volatile files, volatility as of the base commit.
    try:
        started = time.perf_counter()
        at = now or commit_time(repo)
        vol = compute_volatility(repo, list(ws.indexer.files), now=at)
        chosen = select_for_embedding(symbols, vol, "volatile")
        run.info.update(
            volatility_at=at.isoformat(),
            volatile_files=len(vol.volatile_paths()),
            volatile_symbols=len(chosen),
            history_commits=len(vol.commits),
        )
        log(f"  {len(vol.volatile_paths())} volatile files ({len(chosen)} symbols) as of {at:%Y-%m-%d}")
        if volatile_max_symbols is not None and len(chosen) > volatile_max_symbols:
            run.stages["vectors-volatile"] = StageRun(pack=_failed("skipped"), ran=False)
            log(f"  vectors-volatile skipped: {len(chosen)} volatile symbols > {volatile_max_symbols}")
        else:
            if chosen:  # as derive: no table when nothing is selected
                embed("volatile", ws, chosen)
            ws, _ = fresh_workspace(True)
            ask("vectors-volatile", ws, SETTINGS, time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
        fail("vectors-volatile", exc)

    # Stage 4: + vectors of every symbol, on small enough trees.
    volatile = run.stages.get("vectors-volatile")
    if volatile is None or not volatile.ran:
        run.stages["vectors-all"] = StageRun(pack=_failed("skipped"), ran=False)
        log("  vectors-all skipped: the volatile stage did not run")
    elif all_max_symbols is not None and len(symbols) > all_max_symbols:
        run.stages["vectors-all"] = StageRun(pack=_failed("skipped"), ran=False)
        log(f"  vectors-all skipped: {len(symbols)} symbols > {all_max_symbols}")
    else:
        try:
            started = time.perf_counter()
            embed("all", ws, symbols)
            ws, _ = fresh_workspace(True)
            ask("vectors-all", ws, SETTINGS, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
            fail("vectors-all", exc)

    run.scores = {
        name: score_pack(instance, stage.pack, budget)
        for name, stage in run.stages.items()
        if stage.ran
    }
    return run


def _default_embedder():
    from indexers.vectors import VectorSettings, load_embedder

    return load_embedder(VectorSettings())


# --------------------------------------------------------------------------- enrich estimate


def enrich_estimate(repo: Path, now: datetime | None = None) -> dict:
    """What ``ctxfold enrich --provider anthropic --dry-run`` estimates on this checkout.

    ``cli``: ``derive(dry_run=True)`` exactly as the command runs it (volatility as of
    today, the default request cap). ``uncapped``: the same without the request cap.
    ``at_base``: uncapped, with volatility as of the base commit (what the command would
    have said on the day of that commit).
    """
    from indexers.enrich import EnrichSettings
    from indexers.providers import make_provider
    from indexers.semantic import derive
    from mcp_server.workspace import Workspace

    ws = Workspace(repo)
    ws.refresh()
    provider = make_provider("anthropic", api_key="dry-run")  # nothing is sent
    uncapped = EnrichSettings(max_requests=10**9)
    out: dict = {"provider": f"{provider.name}/{provider.model}"}
    base_time = now or commit_time(repo)
    for key, settings, at in (("cli", None, None), ("uncapped", uncapped, None), ("at_base", uncapped, base_time)):
        started = time.perf_counter()
        r = derive(ws.indexer, provider=provider, dry_run=True, vectors_mode="off", enrich_settings=settings, now=at)
        out[key] = {
            "requests": r.llm_requests,
            "clusters_over_cap": r.llm_skipped,
            "input_tokens": r.est_input_tokens,
            "output_tokens": r.est_output_tokens,
            "stable_files": r.stable_files,
            "volatile_files": r.volatile_files,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out


# --------------------------------------------------------------------------- report


def _covered(runs: Sequence[InstanceRun], stage: str) -> list[InstanceRun]:
    return [r for r in runs if stage in r.scores]


def stage_rows(runs: Sequence[InstanceRun], subset: Sequence[InstanceRun] | None = None):
    """(keys, Summary) per stage: over the instances it ran on, or over ``subset``."""
    rows = []
    for name in STAGES:
        mine = [r for r in (subset if subset is not None else runs) if name in r.scores]
        if mine:
            rows.append(((LABELS[name], str(len(mine))), summarize([r.scores[name] for r in mine])))
    return rows


def throughput(runs: Sequence[InstanceRun]) -> dict[str, dict]:
    """Embedding throughput per embedding stage, from update_vectors' stats (embedded /
    seconds of the call), over the calls that took nothing from the chunk cache; and the
    embedder's own rate over every call (chunks it computed / seconds it took)."""
    out = {}
    for key in ("volatile", "all"):
        every = [r.info[f"vectors_{key}"] for r in runs if f"vectors_{key}" in r.info]
        cold = [s for s in every if s["embedded"] and not s.get("cache_hits")]
        entry: dict = {"calls": len(every), "cold_calls": len(cold)}
        if cold:
            embedded = sum(s["embedded"] for s in cold)
            seconds = sum(s["seconds"] for s in cold)
            rates = [s["chunks_per_s"] for s in cold]
            entry.update(
                chunks=embedded,
                seconds=round(seconds, 1),
                chunks_per_s=round(embedded / seconds, 2) if seconds else None,
                min=min(rates),
                median=round(statistics.median(rates), 2),
                max=max(rates),
            )
        computed = sum(s.get("computed", s["embedded"]) for s in every)
        compute_s = sum(s.get("compute_s", s["seconds"]) for s in every)
        entry.update(
            computed=computed,
            cache_hits=sum(s.get("cache_hits", 0) for s in every),
            compute_s=round(compute_s, 1),
            embedder_chunks_per_s=round(computed / compute_s, 2) if compute_s else None,
        )
        if every:
            out[key] = entry
    return out


def report(runs: Sequence[InstanceRun], budget: int, enrich: dict | None = None) -> str:
    insts = [r.instance for r in runs]
    lines = [
        (
            f"{len(insts)} instances, budget {budget}, "
            f"{sum(len(i.gold_functions) for i in insts)} gold functions in "
            f"{sum(1 for i in insts if i.gold_functions)} instances."
        ),
        LEGEND,
        "Each stage adds to the one above; n: instances the row covers.",
        "",
        format_table(f"Ablation at budget {budget}", ("stage", "n"), stage_rows(runs)),
    ]
    subsets = {name: [r.instance.instance_id for r in _covered(runs, name)] for name in STAGES}
    everyone = [r.instance.instance_id for r in runs]
    partial = [name for name in STAGES if subsets[name] and subsets[name] != everyone]
    for name in partial:
        subset = _covered(runs, name)
        lines += [
            "",
            f"{LABELS[name]} ran on {len(subset)} of {len(runs)} instances: "
            + ", ".join(subsets[name]),
            format_table(
                f"Every stage on those {len(subset)} instances", ("stage", "n"),
                stage_rows(runs, subset),
            ),
        ]
    missing = [name for name in STAGES if not subsets[name]]
    if missing:
        lines += ["", "Did not run on any instance: " + ", ".join(LABELS[n] for n in missing)]

    lines += ["", (
        "Per instance (files/symbols, volatile files as of base, heuristic edges, "
        "funcs held per stage g/h/v/a, '-' not run, 'E' error):"
    )]
    for r in runs:
        held = []
        for name in STAGES:
            s = r.scores.get(name)
            held.append("-" if s is None else "E" if s.error else f"{s.functions_held}")
        info = r.info
        lines.append(
            f"  {r.instance.instance_id:32} {info.get('files', '?')}/{info.get('symbols', '?')}"
            f"  vol {info.get('volatile_files', '?')} ({info.get('volatile_symbols', '?')} sym)"
            f"  edges {info.get('heuristic_edges', '?')}"
            f"  held {'/'.join(held)} of {len(r.instance.gold_functions)}"
        )

    changed = {
        name: sum(1 for r in runs if name in r.stages and r.stages[name].changed)
        for name in STAGES[1:]
    }
    lines += ["", "Packs that differ from the previous stage's: "
              + ", ".join(f"{LABELS[n]} {changed[n]}/{len(_covered(runs, n))}" for n in STAGES[1:])]
    via = {
        name: sum(r.stages[name].items_via_vector for r in runs if name in r.stages)
        for name in ("vectors-volatile", "vectors-all")
    }
    coupled = sum(r.stages["heuristic"].items_via_coupling for r in runs if "heuristic" in r.stages)
    lines.append(
        f"Items reached over a semantic edge (heuristic stage): {coupled}; "
        f"items seeded by a vector hit: volatile {via['vectors-volatile']}, all {via['vectors-all']}"
    )

    lines += ["", "Embedding throughput (update_vectors stats: embedded / seconds of the call):"]
    tp = throughput(runs)
    if not tp:
        lines.append("  nothing embedded")
    for key, t in tp.items():
        if t["cold_calls"]:
            lines.append(
                f"  {key:8} {t['chunks']} chunks in {t['seconds']:.0f}s over {t['cold_calls']} instances "
                f"(none from the cache): {t['chunks_per_s']} chunks/s "
                f"(per instance min {t['min']}, median {t['median']}, max {t['max']})"
            )
        lines.append(
            f"  {key:8} all {t['calls']} calls: the embedder computed {t['computed']} chunks in "
            f"{t['compute_s']:.0f}s ({t['embedder_chunks_per_s']} chunks/s); "
            f"{t['cache_hits']} came from the cache of earlier instances"
        )

    if enrich:
        lines += ["", f"enrich --dry-run estimate on {enrich['instance_id']} ({enrich.get('provider', '')}):"]
        if "error" in enrich:
            lines.append(f"  failed: {enrich['error']}")
        else:
            c, u, b = enrich["cli"], enrich["uncapped"], enrich["at_base"]
            over = f" ({c['clusters_over_cap']} clusters over the request cap)" if c["clusters_over_cap"] else ""
            lines.append(
                f"  as the command runs today ({c['volatile_files']} volatile, {c['stable_files']} stable files): "
                f"{c['requests']} requests, ~{c['input_tokens']:,} input + ~{c['output_tokens']:,} output tokens{over}"
            )
            lines.append(
                f"  without the request cap: {u['requests']} requests, ~{u['input_tokens']:,} input + "
                f"~{u['output_tokens']:,} output tokens"
            )
            lines.append(
                f"  stable as of the base commit ({b['volatile_files']} volatile, {b['stable_files']} "
                f"stable files), uncapped: {b['requests']} requests, ~{b['input_tokens']:,} input + "
                f"~{b['output_tokens']:,} output tokens"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- CLI


def _run_json(run: InstanceRun) -> dict:
    inst = run.instance
    return {
        "instance_id": inst.instance_id,
        "repo": inst.repo,
        "base_commit": inst.base_commit,
        "gold_functions": [str(g) for g in inst.gold_functions],
        "info": run.info,
        "errors": run.errors,
        "stages": {
            name: {
                "ran": stage.ran,
                "seconds": round(stage.seconds, 2),
                "changed": stage.changed,
                "items_via_vector": stage.items_via_vector,
                "items_via_coupling": stage.items_via_coupling,
                "files_hit": run.scores[name].files_hit if name in run.scores else None,
                "functions_held": run.scores[name].functions_held if name in run.scores else None,
                "tokens": stage.pack.tokens,
                "latency_ms": round(stage.pack.latency_ms, 1),
                "items": [[i.path, i.symbol, i.level, i.tokens] for i in stage.pack.items],
            }
            for name, stage in run.stages.items()
        },
    }


def _run_from_json(row: dict, instance: Instance, budget: int) -> InstanceRun:
    """An instance's run as ``_run_json`` wrote it, scored again (the packs are kept)."""
    run = InstanceRun(instance, info=dict(row.get("info") or {}), errors=dict(row.get("errors") or {}))
    for name, stage in (row.get("stages") or {}).items():
        items = [
            PackedItem(path=path, symbol=symbol, kind="", start_line=0, end_line=0, level=level,
                       tokens=tokens, score=0.0)
            for path, symbol, level, tokens in stage.get("items") or []
        ]
        error = run.errors.get(name) or run.errors.get("checkout")
        if not stage.get("ran", True):
            error = "skipped"
        pack = Pack(items=items, tokens=stage.get("tokens") or 0,
                    latency_ms=stage.get("latency_ms") or 0.0, error=error)
        run.stages[name] = StageRun(
            pack=pack, ran=stage.get("ran", True), seconds=stage.get("seconds") or 0.0,
            items_via_vector=stage.get("items_via_vector") or 0,
            items_via_coupling=stage.get("items_via_coupling") or 0,
            changed=stage.get("changed"),
        )
    run.scores = {n: score_pack(instance, st.pack, budget) for n, st in run.stages.items() if st.ran}
    return run


def _document(args, runs: Sequence[InstanceRun], enrich: dict | None, elapsed: float | None) -> dict:
    return {
        "config": {
            "instances": str(args.instances),
            "repos": str(args.repos),
            "budget": args.budget,
            "all_max_symbols": args.all_max_symbols,
            "volatile_max_symbols": args.volatile_max_symbols,
            "chunk_cache": not args.no_cache,
            "per_repo": args.per_repo,
            "limit": args.limit,
            "repo_filter": args.repo_filter,
            "resume": str(args.resume) if args.resume else None,
            "skip": args.skip,
            "elapsed_s": elapsed,
            "complete": elapsed is not None,
        },
        "summary": {keys[0]: {"n": int(keys[1]), **summary_json(s)} for keys, s in stage_rows(runs)},
        "throughput": throughput(runs),
        "enrich_estimate": enrich,
        "instances": [_run_json(r) for r in runs],
    }


def main(
    argv: Sequence[str] | None = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ablation", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--instances", type=Path, required=True, help="JSONL of SWE-bench instances")
    parser.add_argument("--repos", type=Path, required=True, help="mirrors: a JSON map file or a directory")
    parser.add_argument("--workdir", type=Path, required=True, help="git checkouts, one per instance")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--limit", type=int, default=None, help="first N instances (after the filter)")
    parser.add_argument("--per-repo", type=int, default=None, help="at most N instances of each repository")
    parser.add_argument("--repo-filter", default=None, help="only repos whose owner/name contains this")
    parser.add_argument(
        "--all-max-symbols", type=int, default=DEFAULT_ALL_MAX_SYMBOLS,
        help="run the vectors-all stage only on trees with at most this many symbols (-1: no limit)",
    )
    parser.add_argument("--no-all", action="store_true", help="skip the vectors-all stage")
    parser.add_argument(
        "--volatile-max-symbols", type=int, default=-1,
        help="run the vectors stages only where at most this many symbols are volatile (-1: no limit)",
    )
    parser.add_argument(
        "--no-cache", action="store_true",
        help="embed every instance from scratch (default: chunks are remembered across instances)",
    )
    parser.add_argument(
        "--enrich-estimate", default="sympy", metavar="REPO",
        help="the enrich --dry-run estimate on the first instance whose repo contains this ('' for none)",
    )
    parser.add_argument("--out", type=Path, default=None, help="per-instance results (JSON)")
    parser.add_argument(
        "--resume", type=Path, default=None, metavar="JSON",
        help="take the instances (and the enrich estimate) that an earlier --out holds instead of running them",
    )
    parser.add_argument("--skip", default="", help="instance ids to leave out, comma-separated")
    args = parser.parse_args(argv)
    if args.no_all:
        args.all_max_symbols = 0
    limit = None if args.all_max_symbols < 0 else args.all_max_symbols
    volatile_limit = None if args.volatile_max_symbols < 0 else args.volatile_max_symbols

    def log(message: str) -> None:
        print(message, file=stderr, flush=True)

    instances = load_instances(args.instances, args.limit, args.repo_filter, args.per_repo)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip:
        log(f"leaving out {', '.join(i.instance_id for i in instances if i.instance_id in skip)}")
        instances = [i for i in instances if i.instance_id not in skip]
    resumed: dict[str, dict] = {}
    enrich: dict | None = None
    if args.resume:
        earlier = json.loads(args.resume.read_text(encoding="utf-8"))
        resumed = {row["instance_id"]: row for row in earlier.get("instances", [])}
        enrich = earlier.get("enrich_estimate")
    mirrors = load_mirrors(args.repos)
    embedder_box: list = []

    def load_embedder():
        if not embedder_box:
            embedder = _default_embedder()
            embedder_box.append(embedder if args.no_cache else ChunkCache(embedder))
        return embedder_box[0]

    runs: list[InstanceRun] = []
    started = time.monotonic()
    for number, instance in enumerate(instances, 1):
        log(f"[{number}/{len(instances)}] {instance.instance_id} ({instance.repo}) "
            f"elapsed {time.monotonic() - started:.0f}s")
        if instance.instance_id in resumed:
            runs.append(_run_from_json(resumed[instance.instance_id], instance, args.budget))
            log(f"  taken from {args.resume}")
            continue
        try:
            if instance.repo not in mirrors:
                raise FileNotFoundError(f"no mirror of {instance.repo} in {args.repos}")
            repo = checkout(mirrors[instance.repo], instance.base_commit,
                            args.workdir / instance.instance_id, log=lambda m: log(f"  {m}"))
        except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
            run = InstanceRun(instance, errors={"checkout": _describe(exc)})
            for name in STAGES:
                run.stages[name] = StageRun(pack=_failed(run.errors["checkout"]))
                run.scores[name] = score_pack(instance, run.stages[name].pack, args.budget)
            log(f"  checkout failed: {run.errors['checkout']}")
        else:
            run = run_instance(instance, repo, load_embedder=load_embedder, budget=args.budget,
                               all_max_symbols=limit, volatile_max_symbols=volatile_limit, log=log)
            if enrich is None and args.enrich_estimate and args.enrich_estimate.lower() in instance.repo.lower():
                log("  enrich --dry-run estimate...")
                try:
                    enrich = enrich_estimate(repo)
                except Exception as exc:  # noqa: BLE001 - a failure is recorded as a miss; the run goes on
                    enrich = {"error": _describe(exc)}
                enrich["instance_id"] = instance.instance_id
                log(f"  enrich estimate: {json.dumps(enrich)}")
        runs.append(run)
        if args.out:
            _write_json(args.out, _document(args, runs, enrich, None))
    elapsed = time.monotonic() - started
    print(report(runs, args.budget, enrich), file=stdout)
    print(f"\n{len(runs)} instances in {elapsed:.0f}s", file=stdout)
    if args.out:
        _write_json(args.out, _document(args, runs, enrich, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
