"""Nothing hangs, nothing is lost, nothing overflows: crashes, hostile input, result sizes."""

from __future__ import annotations

import dataclasses
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

import mcp_server.server as server_module
from indexers.build import Indexer
from indexers.paths import store_dir_for
from indexers.store import CodeStore, StoreBusy
from indexers.tokens import count_tokens
from mcp_server.cli import main
from mcp_server.recall import json_text, recall
from mcp_server.server import build_server
from mcp_server.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def call(server, name, args, limit=30.0):
    async def go():
        with anyio.fail_after(limit):
            async with Client(server, mode="legacy") as client:
                return await client.call_tool(name, args)

    return anyio.run(go)


def text_of(result) -> str:
    return "".join(c.text for c in result.content)


def many_files(repo: Path, n: int = 80) -> None:
    pkg = repo / "many"
    pkg.mkdir()
    for i in range(n):
        (pkg / f"mod{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n\n\nclass C{i}:\n    def m(self):\n        return f{i}(1)\n")


# --- a killed rebuild leaves the index in force ---------------------------------------

_KILL_AT_COMMIT = """
import os, signal, sys
from indexers.store import CodeStore, StoreBusy
def die(self, data):  # every table written, the manifest not yet: the worst moment
    os.kill(os.getpid(), signal.SIGKILL)
CodeStore._write_manifest = die
from mcp_server.cli import main
main(["index", sys.argv[1], "--rebuild"])
"""


def test_a_rebuild_killed_before_its_commit_leaves_the_old_index_in_force(pyshop):
    ix = Indexer(pyshop, store_dir_for(pyshop))
    before = ix.update()
    proc = subprocess.run([sys.executable, "-c", _KILL_AT_COMMIT, str(pyshop)], cwd=ROOT, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    again = Indexer(pyshop, store_dir_for(pyshop))
    assert again.load() and len(again.files) == before.files
    assert sum(len(pf.symbols) for pf in again.files.values()) == before.symbols
    # and the next run rolls the half-written tables back and goes on incrementally
    stats = again.update()
    assert stats.files == before.files and stats.symbols == before.symbols and not stats.rebuilt_reason


def test_a_rebuild_replaces_the_index_whole_and_keeps_facts(pyshop, capsys):
    assert main(["facts", "--repo", str(pyshop), "add", "checkout charges tax once", "--type", "invariant"]) == 0
    Indexer(pyshop, store_dir_for(pyshop)).update()
    (pyshop / "shop/inventory.py").unlink()
    stats = Indexer(pyshop, store_dir_for(pyshop)).update(rebuild=True)
    again = Indexer(pyshop, store_dir_for(pyshop))
    assert again.load() and "shop/inventory.py" not in again.files and len(again.files) == stats.files
    assert main(["facts", "--repo", str(pyshop), "list"]) == 0
    assert "checkout charges tax once" in capsys.readouterr().out


# --- parse workers die with their indexer ------------------------------------------

_KILL_WHILE_PARSING = """
import os, signal, sys
from indexers.build import Indexer
from indexers.paths import store_dir_for
from pathlib import Path
repo = Path(sys.argv[1])
def progress(stage, done, total):
    if stage == "parse" and done >= 1:  # the pool's workers are alive now
        os.kill(os.getpid(), signal.SIGKILL)
Indexer(repo, store_dir_for(repo)).update(progress=progress)
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or sys.platform != "linux", reason="parse workers need two cores")
def test_a_killed_indexers_parse_workers_die_and_free_its_lock(pyshop):
    many_files(pyshop)
    proc = subprocess.run([sys.executable, "-c", _KILL_WHILE_PARSING, str(pyshop)], cwd=ROOT, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    with CodeStore(store_dir_for(pyshop)).write_lock(timeout=10):
        pass
    stats = Indexer(pyshop, store_dir_for(pyshop)).update(lock_timeout=10)
    assert stats.files >= 80


# --- hostile arguments ----------------------------------------------------------------

def test_fold_clamps_line_ranges_to_the_file(pyshop):
    server = build_server(pyshop)
    started = time.monotonic()
    result = call(server, "fold_file", {"path": "shop/cart.py", "focus": "1-99999999999999999999"})
    assert not result.is_error and time.monotonic() - started < 10
    assert "def checkout" in text_of(result)
    far = text_of(call(server, "fold_file", {"path": "shop/cart.py", "focus": "5000-9" + "9" * 5000}))
    assert "outside this file (lines 1-" in far


ADVERSARIAL = {
    "hex": "".join("0123456789abcdef"[(i * 7) % 16] for i in range(100_000)),
    "dots": "a." * 50_000,
    "dotted paths": "a.py" * 25_000,
    "dash dot": "-." * 50_000,
    "underscores": "_" * 100_000,
    "heading spaces": "# x" + " " * 100_000 + "y",
    "open comments": "<!--" * 25_000,
    "open details": "<details>" + "a" * 100_000,
    "fence openers": "```a\n" * 20_000,
    "blob links": "/blob/" * 16_000,
    "version lines": "```\n" + " " * 100_000 + "x:\n```",
}


def test_task_text_is_read_in_linear_time(workspace):
    recall(workspace, "warm the tokenizer", 500)
    for name, task in ADVERSARIAL.items():
        done: list[float] = []

        def run(task=task):
            started = time.perf_counter()
            recall(workspace, task, 1000)
            done.append(time.perf_counter() - started)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(timeout=10)
        assert done, f"recall of the {name!r} task did not finish in 10 s"
        assert done[0] < 1.5, f"recall of the {name!r} task took {done[0]:.2f} s"


def test_a_task_over_the_size_limit_is_refused_with_the_limit(workspace):
    from mcp_server.errors import CtxfoldError

    with pytest.raises(CtxfoldError, match=r"task too long: 200,001 characters, the limit is 200,000"):
        recall(workspace, "x" * 200_001, 1000)


def test_a_call_waits_a_bounded_time_for_the_one_before_it(pyshop, monkeypatch):
    monkeypatch.setattr(server_module, "SETTINGS", dataclasses.replace(SETTINGS, call_wait_seconds=0.5))
    opened = []

    class Recorded(server_module.Workspace):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

    monkeypatch.setattr(server_module, "Workspace", Recorded)
    server = build_server(pyshop)

    async def go():
        with anyio.fail_after(30):
            async with Client(server, mode="legacy") as client:
                await client.call_tool("search_symbols", {"query": "reserve"})
                (ws,) = opened
                held, release = threading.Event(), threading.Event()

                def hold():
                    with ws.lock:  # a slow call
                        held.set()
                        release.wait(20)

                threading.Thread(target=hold, daemon=True).start()
                held.wait(5)
                started = time.monotonic()
                busy = await client.call_tool("search_symbols", {"query": "reserve"})
                waited = time.monotonic() - started
                release.set()
                after = await client.call_tool("search_symbols", {"query": "reserve"})
                return busy, waited, after

    busy, waited, after = anyio.run(go)
    assert busy.is_error and "ctxfold is busy" in text_of(busy) and "retry" in text_of(busy)
    assert waited < 5
    assert "shop/inventory.py:10-15" in text_of(after)


def test_pipes_and_devices_are_never_read(pyshop):
    os.mkfifo(pyshop / "shop/pipe.py")
    os.mkfifo(pyshop / "shop/.ctxfoldignore")
    server = build_server(pyshop)
    result = call(server, "fold_file", {"path": "shop/pipe.py"}, limit=20)
    assert result.is_error and "not a regular file" in text_of(result)
    fact = call(server, "record_fact", {"fact": "the pipe is for the warehouse", "type": "observation", "about": ["shop/pipe.py"]}, limit=20)
    assert not fact.is_error
    assert "shop/inventory.py:10-15" in text_of(call(server, "search_symbols", {"query": "reserve"}))


def test_a_file_name_that_is_not_utf8_is_skipped_and_reported(pyshop, capsys):
    (pyshop / os.fsdecode(b"caf\xe9.py")).write_text("def cafe():\n    return 1\n")
    (pyshop / os.fsdecode(b"d\xff")).mkdir()
    assert main(["index", str(pyshop)]) == 0
    out = capsys.readouterr().out
    assert "skipped caf\\xe9.py: file name is not valid UTF-8" in out and "skipped d\\xff:" in out
    server = build_server(pyshop)
    assert "shop/inventory.py:10-15" in text_of(call(server, "search_symbols", {"query": "reserve"}))
    assert Indexer(pyshop, store_dir_for(pyshop)).load()  # an index with its files, not an empty one
    assert main(["status", "--repo", str(pyshop), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] > 0


# --- every error names the value and the next step -------------------------------------

def test_bad_paths_are_errors_that_name_them(pyshop):
    os.symlink("loop", pyshop / "loop")
    server = build_server(pyshop)
    cases = {
        "shop/\x00cart.py": "NUL",
        "x" * 5000 + ".py": "File name too long",
        "loop": "symlink loop",
        "loop/inner.py": "symlink loop",
    }
    for path, said in cases.items():
        result = call(server, "fold_file", {"path": path})
        assert result.is_error, path
        text = text_of(result)
        assert said in text and "give" in text, text


def test_the_shell_prints_no_traceback_for_a_bad_repository(tmp_path, capsys):
    for repo in (tmp_path / "missing", Path(__file__)):
        assert main(["serve", "--repo", str(repo)]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(repo) in err and "--repo PATH" in err


# --- results within Claude Code's limits ----------------------------------------------

def test_the_json_answer_fits_the_budget_as_a_whole(workspace):
    for budget in (300, 600, 2000):
        data = recall(workspace, "checkout total with discount and tax; reserve stock", budget, fmt="json")
        assert count_tokens(json_text(data), SETTINGS.encoding) <= budget
        assert data["items"] or budget < 600


def test_fold_has_a_default_budget_and_a_size_limit(pyshop):
    body = "".join(f"def f{i}(x):\n    y = x * {i}\n    return [y, y + 1, y + 2, 'padding padding padding']\n\n" for i in range(1200))
    (pyshop / "big.py").write_text(body)
    server = build_server(pyshop)
    text = text_of(call(server, "fold_file", {"path": "big.py", "focus": "1-6000"}))
    assert count_tokens(text, SETTINGS.encoding) <= SETTINGS.default_budget
    (pyshop / "huge.txt").write_text("x" * 1_200_000)
    result = call(server, "fold_file", {"path": "huge.txt"})
    assert result.is_error and "over the index's limit of 1,000,000 bytes" in text_of(result)


def test_every_tool_asks_claude_code_to_keep_its_result_inline(pyshop):
    async def go():
        async with Client(build_server(pyshop), mode="legacy") as client:
            return (await client.list_tools()).tools

    for tool in anyio.run(go):
        assert tool.meta["anthropic/maxResultSizeChars"] == SETTINGS.max_result_chars == 500_000
    assert server_module.bounded("x" * 600_000).endswith("cut at 500,000 characters\n")
    assert len(server_module.bounded("x" * 600_000)) == 500_000


# --- the transport answers what the SDK's reader drops ----------------------------------

def _rpc(proc, message: dict | str, timeout: float = 30.0) -> dict | None:
    line = message if isinstance(message, str) else json.dumps(message)
    proc.stdin.write((line + "\n").encode())
    proc.stdin.flush()
    if "id" not in line:
        return None
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buffer += chunk
        while b"\n" in buffer:
            head, buffer = buffer.split(b"\n", 1)
            reply = json.loads(head)
            if "id" in reply:
                return reply
    raise AssertionError(f"no answer in {timeout} s to {line[:200]}")


def test_a_lone_surrogate_or_a_broken_line_gets_an_answer_over_stdio(pyshop):
    proc = subprocess.Popen([sys.executable, "-m", "mcp_server.cli", "serve", "--repo", str(pyshop)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        init = _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        assert "result" in init
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        reply = _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                            "params": {"name": "search_symbols", "arguments": {"query": "reserve\ud800"}}})
        assert reply["id"] == 2 and "result" in reply
        reply = _rpc(proc, '{"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {')
        assert reply["id"] == 3 and reply["error"]["code"] == -32700
        reply = _rpc(proc, {"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                            "params": {"name": "search_symbols", "arguments": {"query": "reserve"}}})
        assert "shop/inventory.py:10-15" in reply["result"]["content"][0]["text"]
    finally:
        proc.kill()
        proc.wait(10)


def test_serve_run_by_hand_says_what_it_is_and_stops_at_the_first_ctrl_c(pyshop):
    import pty

    primary, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "mcp_server.cli", "serve", "--repo", str(pyshop)], cwd=ROOT,
                            stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(terminal)
    err = b""

    def wait_for(text: bytes) -> None:
        nonlocal err
        deadline = time.monotonic() + 60
        while text not in err and time.monotonic() < deadline:
            if select.select([proc.stderr], [], [], 1)[0]:
                err += os.read(proc.stderr.fileno(), 65536)
        assert text in err, err.decode()

    try:
        wait_for(b"An MCP client such as Claude Code starts it")
        assert b"the ctxfold MCP server for " + str(pyshop).encode() in err
        os.write(primary, b"hello\n")
        wait_for(b"is not a JSON-RPC message; answered with a parse error")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 130
        err += proc.stderr.read()
        assert b"ctxfold serve: interrupted, stopped" in err
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


_ORPHAN_KEEPS_THE_LOCK = """
import os, signal, sys, time
from indexers.store import CodeStore, StoreBusy
with CodeStore(sys.argv[1]).write_lock():
    child = os.fork()
    if child == 0:  # a child that keeps the lock's descriptor, as an older ctxfold's workers did
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        time.sleep(60)
        os._exit(0)
    print(child, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_a_lock_held_only_by_a_dead_indexers_orphan_is_taken_over(tmp_path):
    store = tmp_path / "store"
    proc = subprocess.run([sys.executable, "-c", _ORPHAN_KEEPS_THE_LOCK, str(store)], cwd=ROOT, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    orphan = int(proc.stdout.split()[0])
    started = time.monotonic()
    try:
        with CodeStore(store).write_lock(timeout=10):
            assert time.monotonic() - started < 5
            with pytest.raises(StoreBusy):  # and it is a real lock again: a second writer waits
                with CodeStore(store).write_lock(timeout=0.3):
                    pass
    finally:
        os.kill(orphan, signal.SIGKILL)
