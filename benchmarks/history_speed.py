"""Speed of the history hooks: ``python -m benchmarks.history_speed [--runs N]``.

Each figure is the CPU time (user + system) of one whole hook process, as Claude Code runs
it (``python -m mcp_server.history.hooks EVENT`` with the event's JSON on stdin), p50 and
p95 over ``--runs`` runs, and the handler alone measured inside one warm process:

- trimming a 15,000-line Bash output (PostToolUse);      target ≤ 100 ms
- SessionStart on a store with 1,000 active facts;        target ≤ 300 ms
- PreCompact, no model, on a 5 MB transcript (fresh store each run);  target ≤ 3 s
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.history_transcripts import grow_to, make_session


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def hook_process(event: str, payload: dict, project: Path) -> tuple[float, str]:
    env = dict(os.environ, CLAUDE_PROJECT_DIR=str(project))
    before = _child_cpu()
    proc = subprocess.run([sys.executable, "-m", "mcp_server.history.hooks", event], input=json.dumps(payload),
                          capture_output=True, text=True, env=env, timeout=120)
    return _child_cpu() - before, proc.stdout


def _pcts(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    p95 = values[min(len(values) - 1, max(0, round(0.95 * len(values)) - 1))]
    return {"p50_ms": round(1000 * statistics.median(values), 1), "p95_ms": round(1000 * p95, 1)}


def _in_process(fn, runs: int) -> dict[str, float]:
    fn()  # warm: imports, caches
    times = []
    for _ in range(runs):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return _pcts(times)


def _facts(store_dir: Path, project: Path, n: int) -> None:
    from mcp_server.facts import FactStore
    from mcp_server.history.distill import write_snapshot

    from .facts_speed import _export_lines, _vocabulary  # noqa: F401  (the same generator)

    store = FactStore(store_dir)
    import random

    from mcp_server.facts import Fact

    rng = random.Random(3)
    lines = []
    kinds = ["failure", "decision", "observation", "invariant", "todo"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        fact = Fact(id=f"f-{i:08x}", version=1, fact=f"{kind} number {i}: the {rng.choice(['cart', 'ledger', 'tax'])} module "
                    f"{rng.choice(['rounds half-even', 'caches totals', 'retries twice', 'needs a lock'])}",
                    type=kind, status="active", confidence=round(rng.uniform(0.3, 1.0), 2),
                    created_at=f"2026-12-0{1 + i % 7}T10:00:00Z", status_at=f"2026-12-0{1 + i % 7}T10:00:00Z",
                    last_confirmed_at=f"2026-12-0{1 + i % 7}T10:00:00Z", source="import")
        lines.append(json.dumps(fact.to_dict() | {"schema_version": 1}, sort_keys=True) + "\n")
    report = store.import_jsonl(io.StringIO("".join(lines)))
    assert report.ok, report.errors[:3]
    write_snapshot(store, store_dir)


def run(runs: int) -> dict:
    from mcp_server.history.hooks import handle

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "p"
        project.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=project, check=True)
        store = project / ".ctxfold"

        # 1. trimming
        out = "\n".join(f"{i:05d} compiling module_{i} " + ("ERROR: missing symbol" if i % 997 == 0 else "ok") for i in range(15000))
        trims = []
        for i in range(runs):
            payload = {"session_id": f"s{i}", "cwd": str(project), "hook_event_name": "PostToolUse", "tool_name": "Bash",
                       "tool_input": {"command": "make"}, "tool_response": {"stdout": out + f"\nrun {i}", "stderr": ""}}
            cpu, stdout = hook_process("post-tool-use", payload, project)
            assert "[ctxfold: cut" in stdout, stdout[:300]
            trims.append(cpu)
        counter = iter(range(10**6))
        results["trim_15000_lines"] = {"process": _pcts(trims), "handler": _in_process(
            lambda: handle("post-tool-use", {"session_id": f"w{next(counter)}", "tool_name": "Bash",
                                             "tool_response": {"stdout": out + str(next(counter))}}, store), runs)}

        # 2. SessionStart with 1,000 facts
        _facts(store, project, 1000)
        s = make_session(root, seed=1)
        payload = {"session_id": s.session, "transcript_path": str(s.transcript), "cwd": str(project),
                   "hook_event_name": "SessionStart", "source": "compact"}
        starts = []
        for _ in range(runs):
            cpu, stdout = hook_process("session-start", payload, project)
            assert "## L3" in stdout, stdout[:300]
            starts.append(cpu)
        results["session_start_1000_facts"] = {"process": _pcts(starts), "handler": _in_process(
            lambda: handle("session-start", payload, store), runs)}

        # 3. PreCompact on a 5 MB transcript, a fresh store each run
        big = make_session(root, seed=2, steps=400)
        grow_to(big, 5 * 1024 * 1024)
        size = big.transcript.stat().st_size
        compacts = []
        for i in range(max(3, runs // 4)):
            shutil.rmtree(big.project / ".ctxfold", ignore_errors=True)
            payload = {"session_id": big.session, "transcript_path": str(big.transcript), "cwd": str(big.project),
                       "hook_event_name": "PreCompact", "trigger": "auto"}
            cpu, _ = hook_process("pre-compact", payload, big.project)
            compacts.append(cpu)
            log = big.project / ".ctxfold" / "history" / "hooks.log"
            assert not log.exists(), log.read_text()
        again, _ = hook_process("pre-compact", payload, big.project)  # the same session again: nothing new
        results["pre_compact_5mb"] = {"process": _pcts(compacts), "bytes": size,
                                      "second_compaction_ms": round(1000 * again, 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(run(args.runs), indent=1))


if __name__ == "__main__":
    main()
