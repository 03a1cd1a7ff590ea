"""Speed of the fact memory: ``python -m benchmarks.facts_speed [--facts N] [--bulk]``.

Stores N facts (10,000 by default) in a temporary store through ``FactStore.record``,
then reports record latency over the last 200 records, relevant_facts latency over 50
task texts, and the time to open a store of that size (a cold load of the in-memory
copy). ``--bulk`` loads all but the last 200 through one import instead (minutes faster;
the table then starts with one fragment, so record figures can be a little better).
Target: relevant_facts p95 ≤ 30 ms at 10,000 facts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mcp_server.facts import FACT_TYPES, Anchor, Fact, FactStore

LAST = 200
TASKS = 50


def _vocabulary(rng: random.Random, size: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 10))))
    return sorted(words)


def _zipf_words(rng: random.Random, vocabulary: list[str], count: int) -> list[str]:
    # Rank-weighted choice: a few words are common, most are rare, as in real notes.
    weights = [1 / (rank + 1) for rank in range(len(vocabulary))]
    return rng.choices(vocabulary, weights=weights, k=count)


def _resolver(text: str) -> Anchor:
    path, _, qualname = text.partition(":")
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    return Anchor(text, text if qualname else "", path, digest)


def _export_lines(draft, count: int) -> list[str]:
    """``count`` facts as export lines, as if recorded one a minute from 2026-01-01."""
    lines = []
    for i in range(count):
        kwargs = draft(i)
        stamp = f"2026-01-{1 + i // 1440:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z"
        fact = Fact(
            id=f"f-{i:08x}", version=1, fact=kwargs["fact"], type=kwargs["type"],
            status="active", confidence=kwargs["confidence"], created_at=stamp,
            mitigation=kwargs["mitigation"], about=tuple(_resolver(a) for a in kwargs["about"]),
            pinned=kwargs["pinned"],
            status_at=stamp, last_confirmed_at=stamp,
        )
        lines.append(json.dumps(fact.to_dict() | {"schema_version": 1}, sort_keys=True) + "\n")
    return lines


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return p50 * 1000, p95 * 1000


def run(total: int, bulk: bool, seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    vocabulary = _vocabulary(rng)
    files = [f"pkg/mod{i}.py" for i in range(200)]
    symbols = [f"{rng.choice(files)}:Class{i}.method{i % 7}" for i in range(1500)]

    def draft(i: int) -> dict:
        about = rng.sample(symbols, rng.randint(0, 2)) + rng.sample(files, rng.randint(0, 1))
        return {
            "fact": " ".join(_zipf_words(rng, vocabulary, rng.randint(8, 30))) + f" #{i}",
            "type": rng.choice(FACT_TYPES),
            # Pinned rules are few in real stores: 1 in 500 here (20 of 10,000).
            "confidence": rng.choice((0.3, 0.5, 0.6, 0.7, 0.7, 0.8, 0.85)),
            "pinned": i % 500 == 0,
            "about": about,
            "mitigation": " ".join(_zipf_words(rng, vocabulary, 8)) if rng.random() < 0.3 else None,
        }

    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ctxfold-facts-bench-") as temp:
        store_dir = Path(temp) / "store"
        store = FactStore(store_dir, _resolver)
        started = time.perf_counter()
        first = 0
        if bulk:
            first = max(total - LAST, 0)
            store.import_jsonl(io.StringIO("".join(_export_lines(draft, first))))
        record_times = []
        for i in range(first, total):
            kwargs = draft(i)
            t0 = time.perf_counter()
            store.record(**kwargs)
            record_times.append(time.perf_counter() - t0)
            if i % 1000 == 999:
                print(f"  recorded {i + 1}", file=sys.stderr)
        figures["fill_s"] = time.perf_counter() - started
        figures["record_p50_ms"], figures["record_p95_ms"] = _percentiles(record_times[-LAST:])

        tasks = [(" ".join(_zipf_words(rng, vocabulary, rng.randint(6, 20))),
                  set(rng.sample(symbols, 3)), set(rng.sample(files, 2))) for _ in range(TASKS)]
        query_times, hits = [], []
        for task, focus, paths in tasks:
            t0 = time.perf_counter()
            found = store.relevant_facts(task, focus, paths, limit=10)
            query_times.append(time.perf_counter() - t0)
            hits.append(len(found))
        figures["relevant_p50_ms"], figures["relevant_p95_ms"] = _percentiles(query_times)
        figures["relevant_mean_hits"] = statistics.mean(hits)
        # As recall calls it: with staleness (a third of the anchored code changed since).
        changed = {text: "changed" for text in symbols[::3]}

        def current_hash(anchor: Anchor) -> str | None:
            return changed.get(anchor.symbol_id or anchor.path, anchor.hash)

        stale_times = []
        for task, focus, paths in tasks:
            t0 = time.perf_counter()
            store.relevant_facts(task, focus, paths, limit=10, current_hash=current_hash)
            stale_times.append(time.perf_counter() - t0)
        figures["stale_p50_ms"], figures["stale_p95_ms"] = _percentiles(stale_times)

        t0 = time.perf_counter()
        reopened = FactStore(store_dir, _resolver)
        figures["open_s"] = time.perf_counter() - t0
        figures["facts"] = len(reopened)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.facts_speed")
    parser.add_argument("--facts", type=int, default=10_000)
    parser.add_argument("--bulk", action="store_true",
                        help="import all but the last 200 facts in one commit")
    args = parser.parse_args(argv)
    figures = run(args.facts, args.bulk)
    print(f"facts stored:            {figures['facts']:.0f} (filled in {figures['fill_s']:.1f} s)")
    print(f"record_fact, last {LAST}:   p50 {figures['record_p50_ms']:.1f} ms  "
          f"p95 {figures['record_p95_ms']:.1f} ms")
    print(f"relevant_facts, {TASKS} tasks: p50 {figures['relevant_p50_ms']:.1f} ms  "
          f"p95 {figures['relevant_p95_ms']:.1f} ms  (target p95 <= 30 ms; "
          f"{figures['relevant_mean_hits']:.1f} facts a call)")
    print(f"  with current_hash:     p50 {figures['stale_p50_ms']:.1f} ms  "
          f"p95 {figures['stale_p95_ms']:.1f} ms")
    print(f"open a store of this size: {figures['open_s']:.2f} s")
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
