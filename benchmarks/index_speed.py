"""Indexing speed and memory: ``python -m benchmarks.index_speed PATH [--store DIR]``.

Prints files, lines, symbols, edges, cold and warm wall time, one-file incremental update
time, no-change freshness check time, and peak RSS. The store goes to a temporary
directory unless --store is given, so the repository is left as it was (the one-file
update appends a comment to a file and restores it afterwards).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from indexers.build import Indexer

WARM = """
import sys, time
from indexers.build import Indexer
t = time.perf_counter()
Indexer(sys.argv[1], sys.argv[2]).update()
print(time.perf_counter() - t)
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path", type=Path)
    ap.add_argument("--store", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of the small timings")
    args = ap.parse_args(argv)
    repo = args.path.resolve()
    store = args.store or Path(tempfile.mkdtemp(prefix="ctxfold-bench-"))
    shutil.rmtree(store, ignore_errors=True)

    t = time.perf_counter()
    ix = Indexer(repo, store)
    stats = ix.update()
    cold = time.perf_counter() - t
    lines = sum(pf.lines for pf in ix.files.values())

    # Warm: a new process loads the committed index and checks it against the tree (run
    # apart, so that its memory does not add to this process's peak).
    warm = float(subprocess.run(
        [sys.executable, "-c", WARM, str(repo), str(store)], check=True, capture_output=True, text=True
    ).stdout)

    fresh_times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        assert ix.looks_fresh()
        fresh_times.append(time.perf_counter() - t)

    # One-file updates: a typical file (median symbol count) and the biggest one each get a
    # new function appended, and are restored afterwards.
    python_files = sorted((pf for pf in ix.files.values() if pf.symbols), key=lambda pf: len(pf.symbols))
    typical, biggest = python_files[len(python_files) // 2], python_files[-1]
    update_times: dict[str, list[float]] = {}
    for target in (typical, biggest):
        path = repo / target.path
        original = path.read_bytes()
        times = update_times.setdefault(target.path, [])
        try:
            for i in range(args.repeat):
                path.write_bytes(original + f"\n\ndef _ctxfold_bench_{i}():\n    return {i}\n".encode())
                t = time.perf_counter()
                s = ix.update()
                times.append(time.perf_counter() - t)
                assert s.parsed == 1, s
        finally:
            path.write_bytes(original)
            ix.update()

    edges = sum(len(v) for v in ix.edges.values())
    print(f"repository        {repo}")
    print(f"files             {stats.files} ({len(stats.skipped)} skipped, {len(stats.parse_errors)} with parse errors)")
    print(f"lines             {lines:,}")
    print(f"symbols           {stats.symbols:,}")
    print(f"edges             {edges:,}")
    print(f"cold index        {cold:.2f} s")
    print(f"warm index        {warm:.2f} s (a new process: load the index, check the tree)")
    for label, (path, times) in zip(("typical", "biggest"), update_times.items()):
        lines_of = ix.files[path].lines
        print(f"one-file update   {label}: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms ({path}, {lines_of:,} lines)")
    print(f"freshness check   median {statistics.median(fresh_times) * 1000:.1f} ms, max {max(fresh_times) * 1000:.1f} ms")
    print(f"peak RSS          {_peak_rss_mb():.0f} MB (this process; parse workers excluded)")
    if args.store is None:
        shutil.rmtree(store, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
