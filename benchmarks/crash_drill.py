"""Crash drill: kill `ctxfold index`, `ctxfold index --rebuild` and `ctxfold serve` at
random moments, N times, and count the runs that left a usable index.

    python benchmarks/crash_drill.py REPO [--runs N] [--store DIR] [--seed S]

REPO is not written to except for the files the drill edits (one appended function in a
few files before each run, so that an incremental run has work to do): give it a copy.
The index goes to --store (default: a temporary directory).

After each kill (SIGKILL of the ctxfold process only, as a user's `kill -9` or a closed
terminal would do; its parse workers must go by themselves), the drill checks, with a
limit on every wait:

- the index left behind loads and holds every file (``ctxfold status``), before any
  repair: a kill must not lose the index in force;
- no process of the killed run is still alive a few seconds later;
- the next `ctxfold index` takes the lock at once and brings the index up to date
  (every file of the tree indexed), and `ctxfold search` finds a known symbol.

A run is usable when all of these hold. The report gives each run and the count: N of N.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CTXFOLD = [sys.executable, "-m", "mcp_server.cli"]
ROOT = Path(__file__).resolve().parent.parent
WAIT = 600  # seconds: the most any one command may take


def run(args: list[str], timeout: float = WAIT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(CTXFOLD + args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)


def status(repo: Path, store: Path) -> dict:
    proc = run(["status", "--repo", str(repo), "--store", str(store), "--format", "json"], timeout=120)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-300:]}
    return json.loads(proc.stdout)


def edit_some(repo: Path, files: list[Path], rng: random.Random, run_no: int, share: float = 0.03) -> None:
    for path in rng.sample(files, max(1, int(len(files) * share))):
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"\n\ndef crash_drill_{run_no}_{rng.randrange(10**6)}():\n    return {run_no}\n")


def alive(pids: set[int]) -> set[int]:
    out = set()
    for pid in pids:
        try:
            os.kill(pid, 0)
            out.add(pid)
        except ProcessLookupError:
            pass
    return out


def group_pids(pgid: int) -> set[int]:
    """Processes of a process group (the killed command and its children)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.add(int(entry))
    return pids


def start(kind: str, repo: Path, store: Path) -> subprocess.Popen:
    common = ["--repo", str(repo), "--store", str(store)]
    if kind == "serve":
        proc = subprocess.Popen(CTXFOLD + ["serve", *common], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        messages = [
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "drill", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": {"name": "recall", "arguments": {"task": "simplify the expression and print it", "budget": 4000}}},
        ]
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages).encode())
        proc.stdin.flush()
        return proc
    args = ["index", *common] + (["--rebuild"] if kind == "rebuild" else [])
    return subprocess.Popen(CTXFOLD + args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def timed(kind: str, repo: Path, store: Path) -> float:
    """How long an uninterrupted run of this kind takes (a serve: until its recall answers)."""
    started = time.monotonic()
    proc = start(kind, repo, store)
    if kind == "serve":
        for line in proc.stdout:
            if b'"id":2' in line.replace(b" ", b""):
                break
        proc.kill()
    proc.wait(WAIT)
    return time.monotonic() - started


def drill(repo: Path, store: Path, runs: int, seed: int) -> int:
    rng = random.Random(seed)
    files = [p for p in repo.rglob("*.py") if p.is_file() and ".ctxfold" not in p.parts]
    started = time.monotonic()
    first = run(["index", str(repo), "--store", str(store)])
    if first.returncode != 0:
        sys.exit(f"the first index failed: {first.stderr}")
    base = status(repo, store)
    print(f"{repo}: {base['files']} files indexed in {time.monotonic() - started:.0f} s", flush=True)
    durations = {}
    for kind in ("index", "rebuild", "serve"):
        edit_some(repo, files, rng, 0)
        durations[kind] = timed(kind, repo, store)
    print("uninterrupted: " + ", ".join(f"{k} {v:.1f} s" for k, v in durations.items()), flush=True)
    expected = status(repo, store)["files"]

    usable = 0
    for n in range(1, runs + 1):
        kind = ("index", "rebuild", "serve")[(n - 1) % 3]
        edit_some(repo, files, rng, n)
        delay = rng.uniform(0.2, durations[kind])
        proc = start(kind, repo, store)
        time.sleep(delay)
        finished = proc.poll() is not None
        try:
            os.kill(proc.pid, signal.SIGKILL)  # the command only: its workers must follow by themselves
        except ProcessLookupError:
            pass
        proc.wait(60)
        time.sleep(3)
        left = alive(group_pids(proc.pid))
        if left:
            for pid in left:  # clean up, and count the run as broken
                os.kill(pid, signal.SIGKILL)
        after_kill = status(repo, store)
        lock_started = time.monotonic()
        repair = run(["index", str(repo), "--store", str(store)])
        repair_s = time.monotonic() - lock_started
        after = status(repo, store)
        search = run(["search", "--repo", str(repo), "--store", str(store), f"crash_drill_{n}"], timeout=120)
        ok = (
            after_kill.get("files", 0) >= expected
            and not left
            and repair.returncode == 0
            and after.get("files") == expected
            and search.returncode == 0
        )
        usable += ok
        print(f"run {n:3} {kind:8} killed at {delay:6.1f} s{' (had finished)' if finished else ''}: "
              f"files after kill {after_kill.get('files', after_kill.get('error'))}, orphans {len(left)}, "
              f"repair {'ok' if repair.returncode == 0 else 'FAILED ' + repair.stderr.strip()[-200:]} in {repair_s:.1f} s, "
              f"files {after.get('files')}/{expected}, search {'ok' if search.returncode == 0 else 'MISS'}"
              f" -> {'usable' if ok else 'BROKEN'}", flush=True)
    print(f"usable index after {usable} of {runs} runs")
    return usable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path)
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    repo = args.repo.resolve()
    with tempfile.TemporaryDirectory(prefix="ctxfold-drill-") as tmp:
        store = (args.store or Path(tmp) / "store").resolve()
        usable = drill(repo, store, args.runs, args.seed)
    sys.exit(0 if usable == args.runs else 1)


if __name__ == "__main__":
    main()
