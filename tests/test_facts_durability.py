"""Fact memory across processes: concurrent writers lose nothing, a killed writer loses
nothing it acknowledged."""

from __future__ import annotations

import multiprocessing
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

from mcp_server.facts import FactStore

DEADLINE_S = 120


def _record_many(store_dir: str, name: str, count: int, barrier) -> list[str]:
    store = FactStore(store_dir)
    barrier.wait(timeout=DEADLINE_S)  # both writers start together
    return [store.record(f"{name} learned fact number {i}", "observation").id for i in range(count)]


def _worker(store_dir: str, name: str, count: int, barrier, results) -> None:
    results.put((name, _record_many(store_dir, name, count, barrier)))


def test_two_processes_recording_at_once_lose_nothing(tmp_path):
    store_dir = str(tmp_path / "store")
    FactStore(store_dir)  # create the table before the race, as the server would
    context = multiprocessing.get_context("spawn")  # LanceDB's threads do not survive fork
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_worker, args=(store_dir, name, 50, barrier, results))
               for name in ("left", "right")]
    for worker in workers:
        worker.start()
    got = dict(results.get(timeout=DEADLINE_S) for _ in workers)
    for worker in workers:
        worker.join(timeout=DEADLINE_S)
        assert worker.exitcode == 0
    acknowledged = set(got["left"]) | set(got["right"])
    assert len(acknowledged) == 100
    stored = FactStore(store_dir).list()
    assert {f.id for f in stored} == acknowledged
    assert len({f.fact for f in stored}) == 100


CHILD = """
import sys
from mcp_server.facts import FactSettings, FactStore

store = FactStore(sys.argv[1], settings=FactSettings(compact_every_versions=int(sys.argv[2])))
i = 0
while True:
    result = store.record(f"fact written before the kill, number {i}", "observation",
                          evidence="x" * 200)
    print(result.id, flush=True)
    i += 1
"""


def _read_acknowledged(child: subprocess.Popen, wanted: int) -> list[str]:
    """Read ids from the child's stdout until ``wanted`` arrived, within the deadline."""
    ids: list[str] = []
    buffer = b""
    deadline = time.monotonic() + DEADLINE_S
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        while len(ids) < wanted:
            left = deadline - time.monotonic()
            assert left > 0, f"only {len(ids)} ids acknowledged before the deadline"
            if not selector.select(timeout=left):
                continue
            chunk = os.read(child.stdout.fileno(), 65536)
            assert chunk, f"child exited early: {child.stderr.read().decode()[-2000:]}"
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            ids += [line.decode().strip() for line in lines if line.strip()]
    return ids


def test_a_writer_killed_mid_write_loses_nothing_it_acknowledged(tmp_path):
    store_dir = tmp_path / "store"
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(store_dir), "64"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root,
    )
    acknowledged = _kill_after(child, wanted=25)
    assert child.returncode == -signal.SIGKILL
    store = FactStore(store_dir)
    present = {f.id for f in store.list()}
    assert set(acknowledged) <= present
    # The store still takes writes: the dead writer's lock went with it.
    assert store.record("written after the kill", "observation").version == 1


def _kill_after(child: subprocess.Popen, wanted: int) -> list[str]:
    """SIGKILL the writer once it has acknowledged ``wanted`` facts (most likely in the
    middle of the next record); every id it printed is acknowledged."""
    try:
        acknowledged = _read_acknowledged(child, wanted)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=DEADLINE_S)
        # Ids the child printed after we stopped counting are acknowledged too.
        acknowledged += [line.decode().strip() for line in child.stdout.read().splitlines() if line.strip()]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=DEADLINE_S)
        child.stdout.close()
        child.stderr.close()
    return acknowledged


def test_repeated_kills_even_during_compaction_never_corrupt_the_table(tmp_path):
    store_dir = tmp_path / "store"
    root = Path(__file__).resolve().parents[1]
    acknowledged: list[str] = []
    for wanted in (3, 7, 2, 5, 4):
        child = subprocess.Popen(
            # Compacting every other table version makes a kill during compaction likely.
            [sys.executable, "-c", CHILD, str(store_dir), "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root,
        )
        acknowledged += _kill_after(child, wanted)
    assert set(acknowledged) <= {f.id for f in FactStore(store_dir).list()}
