"""CPU, wall time and memory of two builds of ctxfold, side by side, on real corpora.

``python -m benchmarks.speed CORPUS... --python PY [--baseline-python PY] [--out FILE]``

Each build is a Python interpreter whose environment has ctxfold installed. Every ctxfold
step runs as a subprocess of that interpreter (``PY -m mcp_server.cli ...`` or a small
``PY -c`` script), never inside this process, so the two builds never mix. CPU is user +
sys of the child and the children it reaped (``os.wait4``), or of the server read from
``/proc``, so that load on a shared machine does not count; wall time is shown next to
it. Each corpus is copied into a temporary directory per build (the store goes inside the
copy) and the copy is deleted afterwards; the corpus itself is never written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROWS = ("help", "index", "floor", "noop", "status", "search", "recall", "serve", "store")
SOURCE_EXTS = {".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".tsx", ".go", ".rs", ".java"}
SKIP_DIRS = {".git", ".hg", ".svn", ".ctxfold", "__pycache__", "node_modules"}

SEARCH_NAMES = {"sympy": "Matrix", "django": "QuerySet"}
SWEBENCH = Path("/work/shared/eval/swebench_verified_dev.jsonl")
DJANGO_TASKS = [
    "QuerySet.bulk_create ignores the batch_size when update_conflicts is set",
    "Migrations autodetector crashes when a ForeignKey is renamed and its model moved to another app",
    "The admin changelist shows duplicate rows when list_filter spans a many-to-many relation",
    "Template engine: the include tag does not pass the isolated context to nested blocks",
    "Form validation error messages are not translated when the field has a custom validator",
    "Paginator raises ZeroDivisionError when per_page is zero instead of a clear error",
    "The cache middleware stores responses with Set-Cookie headers for anonymous users",
    "Signals: post_save is sent twice when save() is called inside a transaction.atomic block",
    "URL resolver reverse() fails for patterns with optional named groups and a converter",
    "The ORM generates a wrong GROUP BY clause when annotate() follows values() on a related field",
]
GENERIC_TASKS = [
    "add a function that validates the input and raises a clear error",
    "the main entry point crashes on an empty argument list",
    "rename the helper used to format results and update every caller",
    "results are returned in the wrong order when two items compare equal",
    "add a cache so that repeated calls do not compute the same value twice",
    "the parser rejects valid input that ends with a trailing newline",
    "make the class serializable to JSON and back",
    "a division by zero occurs when the list of values is empty",
    "log a warning when a deprecated option is used",
    "speed up the loop that builds the lookup table",
]

# Targets, for the current build: (row key, limit, measure, text).
TARGETS = {
    "help": (0.15, "cpu", "≤0.15 s CPU"),
    "noop": (0.4, "cpu", "≤0.4 s CPU"),
    "search": (0.6, "cpu", "≤0.6 s CPU"),
    "recall": (1.2, "cpu", "≤1.2 s CPU"),
    "serve_first": (1.5, "cpu", "≤1.5 s CPU"),
    "serve_recall_p95": (0.08, "cpu", "≤0.08 s CPU"),
    "serve_rss": (300, "mb", "≤300 MB"),
    "serve_edit_mid": (0.06, "cpu", "≤0.06 s CPU"),
    "serve_edit_large": (0.06, "cpu", "≤0.06 s CPU"),
    "ratio": (3.0, "cpu", "≤3× floor (Python; ≤4× JS/Go)"),
    "store_ratio": (1.3, "cpu", "≤1.3× fresh"),
}

FLOOR_SCRIPT = r"""
import json, sys, time
from pathlib import Path
t0 = time.process_time()
from indexers.scan import scan
from indexers.languages import ts_language
from tree_sitter import Parser
repo = Path(sys.argv[1])
files = scan(repo).files
t1 = time.process_time()
parsers = {}
n = size = 0
for f in files:
    data = (repo / f.path).read_bytes()
    parser = parsers.get(f.language)
    if parser is None:
        parser = parsers[f.language] = Parser(ts_language(f.language))
    parser.parse(data)
    n += 1
    size += len(data)
t2 = time.process_time()
langs = {}
for f in files:
    langs[f.language] = langs.get(f.language, 0) + 1
print(json.dumps({"files": n, "bytes": size, "languages": langs, "import_scan_cpu": t1 - t0, "parse_cpu": t2 - t1}))
"""

UPDATES_SCRIPT = r"""
import json, os, sys, time
from pathlib import Path
from indexers.build import Indexer
cfg = json.loads(sys.argv[1])
repo, store = Path(cfg["repo"]), Path(cfg["store"])
ix = Indexer(repo, store)
first = ix.update()
originals = {f: ((repo / f).read_bytes(), os.stat(repo / f).st_mtime_ns) for f in cfg["files"]}
times, parsed, errors = [], [], []
try:
    for i in range(cfg["n"]):
        rel = cfg["files"][i % len(cfg["files"])]
        with open(repo / rel, "ab") as fh:
            fh.write(f"\nctxfold_bench_line_{i} = {i}\n".encode())
        t = time.process_time()
        try:
            stats = ix.update()
        except Exception as exc:  # counted, and the next update goes on
            stats = None
            errors.append(f"update {i + 1}: {type(exc).__name__}: {str(exc)[:300]}")
            print(f"    {errors[-1]}", file=sys.stderr, flush=True)
        times.append(time.process_time() - t)
        parsed.append(getattr(stats, "parsed", None))
        if (i + 1) % 10 == 0:
            print(f"    update {i + 1}/{cfg['n']}", file=sys.stderr, flush=True)
finally:
    for rel, (data, mtime) in originals.items():
        (repo / rel).write_bytes(data)
        os.utime(repo / rel, ns=(mtime, mtime))
print(json.dumps({"update_cpu": times, "parsed": parsed, "errors": errors, "first_parsed": getattr(first, "parsed", None)}))
"""

SERVE_SCRIPT = r"""
import json, os, sys, time
import anyio
from mcp import Client, StdioServerParameters

cfg = json.loads(sys.argv[1])
TCK = os.sysconf("SC_CLK_TCK")
out = {"errors": []}


def log(msg):
    print(f"    [serve] {msg}", file=sys.stderr, flush=True)


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rindex(")") + 2:].split()  # fields from 3 (state) on


def proc_cpu(pid):
    f = stat_fields(pid)  # utime, stime, cutime, cstime are fields 14-17
    return sum(int(x) for x in f[11:15]) / TCK


def reaped_cpu(pid):
    f = stat_fields(pid)
    return (int(f[13]) + int(f[14])) / TCK


def thread_ns(pid):
    # Per-thread on-CPU nanoseconds: finer than the 10 ms ticks of /proc/<pid>/stat.
    res = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return res
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                res[tid] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return res


def snap(pid):
    return (thread_ns(pid), reaped_cpu(pid), proc_cpu(pid), time.perf_counter())


def cost(pid, before):
    after = snap(pid)
    ns0, r0, c0, t0 = before
    ns1, r1, c1, t1 = after
    fine = sum(v - ns0.get(tid, 0) for tid, v in ns1.items()) / 1e9 + (r1 - r0)
    return {"cpu": fine, "cpu_ticks": c1 - c0, "wall": t1 - t0}


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return None


def server_pid():
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if int(stat_fields(d)[1]) != me:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"serve" in cmd:
            return int(d)
    return None


def text_of(result):
    return "".join(getattr(c, "text", "") for c in result.content)


async def main():
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server.cli", "serve", "--repo", cfg["repo"]],
        env=dict(os.environ),
        cwd=cfg["repo"],
    )
    t0 = time.perf_counter()
    async with Client(params, mode="legacy", read_timeout_seconds=cfg["call_timeout"]) as client:
        pid = server_pid()
        out["server_pid"] = pid
        hit = await client.call_tool("search_symbols", {"query": cfg["search"]})
        t1 = time.perf_counter()
        out["first"] = {"cpu": proc_cpu(pid), "wall": t1 - t0, "is_error": bool(hit.is_error if hasattr(hit, "is_error") else getattr(hit, "isError", False)),
                        "rss_mb": vm(pid, "VmRSS")}
        log(f"first answer: {out['first']['wall']:.2f} s wall, {out['first']['cpu']:.2f} s server CPU")

        # Warm-up: wait until the server's CPU stops growing.
        last, still_since, deadline = proc_cpu(pid), time.perf_counter(), time.perf_counter() + cfg["warm_max"]
        while time.perf_counter() < deadline:
            await anyio.sleep(0.2)
            now = proc_cpu(pid)
            if now != last:
                last, still_since = now, time.perf_counter()
            elif time.perf_counter() - still_since >= cfg["settle"]:
                break
        out["warm"] = {"cpu": last, "wall": still_since - t0, "timed_out": time.perf_counter() >= deadline,
                       "rss_mb": vm(pid, "VmRSS")}
        log(f"warm: {out['warm']['cpu']:.2f} s server CPU, {out['warm']['wall']:.1f} s after spawn")

        calls = []
        total0 = proc_cpu(pid)
        for i in range(cfg["calls"]):
            task = cfg["tasks"][i % len(cfg["tasks"])]
            before = snap(pid)
            res = await client.call_tool("recall", {"task": task, "budget": 8000})
            c = cost(pid, before)
            c["chars"] = len(text_of(res))
            if getattr(res, "is_error", False) or getattr(res, "isError", False):
                out["errors"].append(f"recall {i}: {text_of(res)[:200]}")
            calls.append(c)
            if (i + 1) % 10 == 0:
                log(f"recall {i + 1}/{cfg['calls']}")
        out["recall_calls"] = calls
        out["recall_total_cpu_ticks"] = proc_cpu(pid) - total0
        out["rss_after_recalls_mb"] = vm(pid, "VmRSS")
        out["hwm_after_recalls_mb"] = vm(pid, "VmHWM")

        edits = {}
        k = 0
        for label, rel in cfg["edit_files"]:
            path = os.path.join(cfg["repo"], rel)
            data, mtime = open(path, "rb").read(), os.stat(path).st_mtime_ns
            reps = []
            try:
                for _ in range(cfg["edit_reps"]):
                    k += 1
                    name = f"ctxfold_bench_edit_{k}"
                    with open(path, "ab") as fh:
                        fh.write(f"\n\ndef {name}(x):\n    return x + {k}\n".encode())
                    before = snap(pid)
                    res = await client.call_tool("search_symbols", {"query": name})
                    edit = cost(pid, before)
                    edit["found"] = name in text_of(res)
                    before = snap(pid)
                    res = await client.call_tool("search_symbols", {"query": name})
                    same = cost(pid, before)
                    same["found"] = name in text_of(res)
                    reps.append({"edit": edit, "no_edit": same})
            finally:
                with open(path, "wb") as fh:
                    fh.write(data)
                os.utime(path, ns=(mtime, mtime))
            edits[label] = {"path": rel, "bytes": len(data), "reps": reps}
            log(f"edit {label} ({rel}, {len(data) // 1024} KB): "
                + ", ".join(f"{r['edit']['cpu']:.3f}/{r['no_edit']['cpu']:.3f}" for r in reps) + " s CPU edit/no edit")
        out["edits"] = edits
        out["rss_end_mb"] = vm(pid, "VmRSS")
        out["cpu_end"] = proc_cpu(pid)


try:
    anyio.run(main)
except BaseException as exc:  # report what was measured so far
    out["errors"].append(f"{type(exc).__name__}: {exc!r}"[:2000])
print(json.dumps(out))
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                s = Path(f"/proc/{d}/stat").read_text()
                parents[int(d)] = int(s[s.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def _kill_tree(pid: int) -> None:
    for p in [*_descendants(pid), pid]:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("PYTHONPATH", "CLAUDE_PROJECT_DIR", "VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(key, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # the repo copies stay free of __pycache__ churn
    return env


def run(cmd: list[str], *, cwd: Path, timeout: float, echo_stderr: bool = False) -> dict:
    """Run ``cmd`` to completion; CPU (user+sys of it and its reaped children), wall, peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        pid = _spawn(cmd, cwd, out, err)
        killed = threading.Event()

        def on_timeout() -> None:
            killed.set()
            _kill_tree(pid)

        timer = threading.Timer(timeout, on_timeout)
        timer.daemon = True
        timer.start()
        _, status, ru = os.wait4(pid, 0)
        wall = time.perf_counter() - t
        timer.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    rc = os.waitstatus_to_exitcode(status)
    res = {
        "cpu": ru.ru_utime + ru.ru_stime, "user": ru.ru_utime, "sys": ru.ru_stime, "wall": wall,
        "rss_mb": ru.ru_maxrss / 1024, "rc": rc, "timed_out": killed.is_set(),
    }
    if rc != 0 or killed.is_set():
        res["stderr_tail"] = stderr[-2000:]
        log(f"  FAILED (rc {rc}{', timed out' if killed.is_set() else ''}): {' '.join(cmd[:4])}...\n{stderr[-1500:]}")
    elif echo_stderr and stderr.strip():
        sys.stderr.write(stderr if len(stderr) < 4000 else stderr[-4000:])
    res["stdout"] = stdout
    return res


def _spawn(cmd: list[str], cwd: Path, out, err) -> int:
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.setsid()
            os.chdir(cwd)
            fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(fd, 0)
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os.execve(cmd[0], cmd, child_env())
        finally:
            os._exit(127)
    return pid


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _median_runs(results: list[dict]) -> dict:
    ok = [r for r in results if r["rc"] == 0]
    if not ok:
        return {"error": results[-1].get("stderr_tail", "failed"), "runs": [_strip(r) for r in results]}
    return {
        "cpu": statistics.median(r["cpu"] for r in ok),
        "wall": statistics.median(r["wall"] for r in ok),
        "mb": statistics.median(r["rss_mb"] for r in ok),
        "n": len(ok),
        "runs": [_strip(r) for r in results],
    }


def _strip(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "stdout"}


def tree_bytes(path: Path) -> int:
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_size
            except OSError:
                pass
    return total


def source_files(repo: Path) -> list[tuple[str, int]]:
    out = []
    for d, dirs, files in os.walk(repo):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS and not x.startswith("."))
        for f in sorted(files):
            if os.path.splitext(f)[1] in SOURCE_EXTS:
                p = os.path.join(d, f)
                out.append((os.path.relpath(p, repo), os.path.getsize(p)))
    return out


def pick_edit_files(files: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """A mid-size file (20-40 KB, nearest 30 KB) and the largest source file under 100 KB;
    on a tree without such files, a median-size one and the largest."""
    py = [(p, s) for p, s in files if p.endswith(".py") and "/tests/" not in f"/{p}"] or files
    large = max((x for x in py if x[1] < 100_000), key=lambda x: x[1])
    rest = [x for x in py if x != large] or py
    mid = [x for x in rest if 20_000 <= x[1] <= 40_000]
    mid_pick = min(mid, key=lambda x: abs(x[1] - 30_000)) if mid else sorted(rest, key=lambda x: x[1])[len(rest) // 2]
    return [("mid", mid_pick[0]), ("large", large[0])]


def tasks_for(corpus: Path, files: list[tuple[str, int]]) -> list[str]:
    name = corpus.name.lower()
    if "sympy" in name and SWEBENCH.exists():
        tasks = []
        for line in SWEBENCH.read_text().splitlines():
            d = json.loads(line)
            if d.get("repo") == "sympy/sympy":
                text = d["problem_statement"].strip()
                tasks.append(text[:600])
            if len(tasks) == 10:
                break
        if len(tasks) == 10:
            return tasks
    if "django" in name:
        return DJANGO_TASKS
    return GENERIC_TASKS


def search_name_for(corpus: Path, repo: Path, files: list[tuple[str, int]]) -> str:
    for key, name in SEARCH_NAMES.items():
        if key in corpus.name.lower():
            return name
    for rel, _ in files:  # the first class (else function) defined in the tree
        m = re.search(r"^class (\w+)", (repo / rel).read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
    for rel, _ in files:
        m = re.search(r"^def (\w+)", (repo / rel).read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
    return "main"


BUILD_ID = r"""
import json, os, subprocess, mcp_server
d = os.path.dirname(os.path.dirname(os.path.abspath(mcp_server.__file__)))
git = lambda *a: subprocess.run(["git", "-C", d, *a], capture_output=True, text=True, timeout=30).stdout.strip()
print(json.dumps({"source": d, "commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}))
"""


def build_id(py: str, cwd: Path) -> dict:
    """Where the build's code lives, its git commit and whether its work tree differs from it."""
    return _last_json(run([py, "-c", BUILD_ID], cwd=cwd, timeout=60)["stdout"]) or {}


def measure_build(py: str, corpus: Path, label: str, args, only: set[str]) -> dict:
    res: dict = {"python": py, "build_before": build_id(py, Path(tempfile.gettempdir()))}
    log(f"{label}: {res['build_before']}")
    work = Path(tempfile.mkdtemp(prefix=f"ctxfold-speed-{label}-"))
    try:
        repo = work / "repo"
        log(f"{label}: copying {corpus} -> {repo}")
        shutil.copytree(corpus, repo, symlinks=True, ignore=shutil.ignore_patterns(".ctxfold"))
        files = source_files(repo)
        cli = [py, "-m", "mcp_server.cli"]
        runs = args.runs

        if "help" in only:
            log(f"{label}: --help x{runs}")
            res["help"] = _median_runs([run([*cli, "--help"], cwd=repo, timeout=120) for _ in range(runs)])

        if "floor" in only:
            log(f"{label}: parse floor (single run)")
            r = run([py, "-c", FLOOR_SCRIPT, str(repo)], cwd=work, timeout=args.timeout)
            res["floor"] = {"cpu": r["cpu"], "wall": r["wall"], "mb": r["rss_mb"], "n": 1, "detail": _last_json(r["stdout"]), "run": _strip(r)}

        need_index = bool(only & {"index", "noop", "status", "search", "recall", "serve", "store"})
        snapshot = work / "fresh-store"
        if need_index:
            log(f"{label}: cold index (single run)")
            r = run([*cli, "index", str(repo)], cwd=repo, timeout=args.timeout)
            res["index"] = {"cpu": r["cpu"], "wall": r["wall"], "mb": r["rss_mb"], "n": 1, "run": _strip(r),
                            "output_tail": r["stdout"][-600:]}
            store = repo / ".ctxfold"
            res["store_fresh_bytes"] = tree_bytes(store)
            if "store" in only:
                shutil.copytree(store, snapshot, symlinks=True)
            if "floor" in res and res["floor"].get("cpu"):
                res["ratio"] = res["index"]["cpu"] / res["floor"]["cpu"]

        if "noop" in only:
            log(f"{label}: index, nothing changed x{runs}")
            res["noop"] = _median_runs([run([*cli, "index", str(repo)], cwd=repo, timeout=args.timeout) for _ in range(runs)])

        search = search_name_for(corpus, repo, files)
        res["search_name"] = search
        if "status" in only:
            log(f"{label}: status x{runs}")
            res["status"] = _median_runs([run([*cli, "status"], cwd=repo, timeout=args.timeout) for _ in range(runs)])
        if "search" in only:
            log(f"{label}: search {search} x{runs}")
            rs = [run([*cli, "search", search], cwd=repo, timeout=args.timeout) for _ in range(runs)]
            res["search"] = _median_runs(rs)
            res["search"]["hit"] = search in rs[-1]["stdout"]
        tasks = tasks_for(corpus, files)
        if "recall" in only:
            log(f"{label}: recall --budget 8000 x{runs}")
            rs = [run([*cli, "recall", tasks[i % len(tasks)], "--budget", "8000"], cwd=repo, timeout=args.timeout) for i in range(runs)]
            res["recall"] = _median_runs(rs)

        if "serve" in only:
            edit_files = pick_edit_files(files)
            cfg = {"repo": str(repo), "search": search, "tasks": tasks, "calls": args.calls, "warm_max": args.warm_max,
                   "settle": args.settle, "edit_files": edit_files, "edit_reps": args.edit_reps, "call_timeout": args.timeout}
            log(f"{label}: serve over stdio: first answer, warm-up, {args.calls} recalls, edits of {edit_files} (single session)")
            r = run([py, "-c", SERVE_SCRIPT, json.dumps(cfg)], cwd=work, timeout=args.timeout + args.warm_max + 60 * 10, echo_stderr=True)
            res["serve"] = _last_json(r["stdout"]) or {"errors": [r.get("stderr_tail", "no output")]}
            res["serve"]["client_run"] = _strip(r)
            if res["serve"].get("errors"):
                log(f"{label}: serve errors: {res['serve']['errors'][:3]}")

        if "store" in only and snapshot.exists():
            rot = [p for p, s in sorted(files, key=lambda x: x[1]) if p.endswith(".py")] or [p for p, _ in files]
            step = max(1, len(rot) // 10)
            rotating = rot[::step][:10]
            log(f"{label}: {args.updates} one-file updates on a copy of the fresh store (one process)")
            cfg = {"repo": str(repo), "store": str(snapshot), "n": args.updates, "files": rotating}
            r = run([py, "-c", UPDATES_SCRIPT, json.dumps(cfg)], cwd=work, timeout=args.timeout * 3, echo_stderr=True)
            detail = _last_json(r["stdout"]) or {}
            after = tree_bytes(snapshot)
            res["store"] = {
                "fresh_bytes": res["store_fresh_bytes"], "after_bytes": after, "updates": args.updates,
                "ratio": after / res["store_fresh_bytes"] if res["store_fresh_bytes"] and r["rc"] == 0 else None,
                "cpu": r["cpu"], "wall": r["wall"], "mb": r["rss_mb"], "rc": r["rc"],
                "update_cpu_median": statistics.median(detail["update_cpu"]) if detail.get("update_cpu") else None,
                "detail": detail, "run": _strip(r),
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    res["build_after"] = build_id(py, Path(tempfile.gettempdir()))
    if res["build_after"] != res["build_before"]:
        log(f"{label}: the build changed while it was measured: {res['build_before']} -> {res['build_after']}")
    return res


# ---------------------------------------------------------------- the table


def _f(x, fmt="{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def rows_of(b: dict) -> dict[str, tuple]:
    """row key -> (label, cpu, wall, mb) for one build's results."""
    out: dict[str, tuple] = {}

    def cwm(key):
        d = b.get(key) or {}
        return d.get("cpu"), d.get("wall"), d.get("mb")

    if "help" in b:
        out["help"] = ("`ctxfold --help`", *cwm("help"))
    if "index" in b:
        out["index"] = ("cold `index` (single run; MB = peak RSS)", *cwm("index"))
    if "floor" in b:
        out["floor"] = ("tree-sitter parse floor (single run)", *cwm("floor"))
    if "ratio" in b:
        out["ratio"] = ("cold index / floor (CPU; wall column: wall ratio)", b["ratio"], b["index"]["wall"] / b["floor"]["wall"] if b["floor"].get("wall") else None, None)
    if "noop" in b:
        out["noop"] = ("`index`, nothing changed", *cwm("noop"))
    if "status" in b:
        out["status"] = ("`status`", *cwm("status"))
    if "search" in b:
        out["search"] = (f"`search {b.get('search_name')}`", *cwm("search"))
    if "recall" in b:
        out["recall"] = ("`recall TASK --budget 8000`", *cwm("recall"))
    s = b.get("serve") or {}
    if s.get("first"):
        out["serve_first"] = ("serve: spawn → first answer (server CPU; MB = VmRSS)", s["first"]["cpu"], s["first"]["wall"], s["first"].get("rss_mb"))
    if s.get("warm"):
        w = s["warm"]
        out["serve_warm"] = ("serve: warm-up done" + (" (NOT settled in time)" if w.get("timed_out") else ""), w["cpu"], w["wall"], w.get("rss_mb"))
    calls = s.get("recall_calls") or []
    if calls:
        cpu = sorted(c["cpu"] for c in calls)
        wall = sorted(c["wall"] for c in calls)
        out["serve_recall_p50"] = (f"serve: recall p50 of {len(calls)}", _pct(cpu, 50), _pct(wall, 50), None)
        out["serve_recall_p95"] = (f"serve: recall p95 of {len(calls)}", _pct(cpu, 95), _pct(wall, 95), None)
        out["serve_rss"] = (f"serve: VmRSS after {len(calls)} recalls", None, None, s.get("rss_after_recalls_mb"))
    for label in ("mid", "large"):
        e = (s.get("edits") or {}).get(label)
        if e and e["reps"]:
            found = all(r["edit"]["found"] for r in e["reps"])
            out[f"serve_edit_{label}"] = (
                f"serve: edit {label} file ({e['bytes'] // 1024} KB) → search_symbols, median of {len(e['reps'])}" + ("" if found else " (NEW NAME NOT FOUND)"),
                statistics.median(r["edit"]["cpu"] for r in e["reps"]), statistics.median(r["edit"]["wall"] for r in e["reps"]), None)
            if label == "mid" and len(e["reps"]) > 1:
                first = e["reps"][0]["edit"]
                out["serve_edit_first"] = ("serve: first edit of the session (mid, single)", first["cpu"], first["wall"], None)
            out[f"serve_same_{label}"] = (
                f"serve: same call, no edit ({label})",
                statistics.median(r["no_edit"]["cpu"] for r in e["reps"]), statistics.median(r["no_edit"]["wall"] for r in e["reps"]), None)
    st = b.get("store")
    if st:
        out["store_fresh"] = ("store on disk, fresh (MB)", None, None, st["fresh_bytes"] / 1e6)
        errs = len((st.get("detail") or {}).get("errors", [])) if st.get("detail") else None
        note = " (SCRIPT FAILED)" if st.get("rc") else (f" ({errs} updates FAILED)" if errs else "")
        out["store_after"] = (f"store after {st['updates']} one-file updates (MB; CPU = median update){note}", st.get("update_cpu_median"), None, st["after_bytes"] / 1e6)
        out["store_ratio"] = ("store after updates / fresh", st["ratio"], None, None)
    return out


def _pct(sorted_values: list[float], p: int) -> float:
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))  # nearest rank
    return sorted_values[k]


def table(corpus: str, cur: dict, base: dict | None) -> str:
    rc, rb = rows_of(cur), rows_of(base or {})
    order = list(rc) + [k for k in rb if k not in rc]
    def ident(b: dict | None) -> str:
        bid = (b or {}).get("build_before") or {}
        if not bid:
            return "–"
        changed = " (changed during the run)" if (b or {}).get("build_after", bid) != bid else ""
        return f"{bid.get('source')} @ {bid.get('commit', '')[:7]}{' + uncommitted changes' if bid.get('dirty') else ''}{changed}"

    lines = [f"### {corpus}", "", f"current: {ident(cur)}; baseline: {ident(base)}", "",
             "| row | current CPU s | current wall s | current MB | baseline CPU s | baseline wall s | baseline MB | target |",
             "|---|---|---|---|---|---|---|---|"]
    for key in order:
        c = rc.get(key) or rb.get(key)
        label = c[0]
        cv = rc.get(key, (None, None, None, None))
        bv = rb.get(key, (None, None, None, None))
        ratio_row = key in ("ratio", "store_ratio")
        fmt = "{:.2f}×" if ratio_row else ("{:.3f}" if key.startswith("serve_") and key not in ("serve_first", "serve_warm") else "{:.2f}")
        target = ""
        if key in TARGETS:
            limit, what, text = TARGETS[key]
            val = cv[3] if what == "mb" else cv[1]
            target = text + ("" if val is None else (" ok" if val <= limit else " **over**"))
        lines.append("| " + " | ".join([
            label, _f(cv[1], fmt), _f(cv[2], "{:.2f}"), _f(cv[3], "{:.0f}"),
            _f(bv[1], fmt), _f(bv[2], "{:.2f}"), _f(bv[3], "{:.0f}"), target]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="+", type=Path, help="repositories to measure (copied, never written)")
    ap.add_argument("--python", required=True, help="interpreter of the current build")
    ap.add_argument("--baseline-python", help="interpreter of the baseline build")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--only", default=",".join(ROWS), help=f"comma-separated subset of {','.join(ROWS)}")
    ap.add_argument("--runs", type=int, default=3, help="runs of the cheap shell commands (median)")
    ap.add_argument("--calls", type=int, default=50, help="recall calls in the serve session")
    ap.add_argument("--updates", type=int, default=100, help="one-file updates for the store-size row")
    ap.add_argument("--edit-reps", type=int, default=3, help="edits per file in the serve session (median)")
    ap.add_argument("--warm-max", type=float, default=120.0, help="longest wait for the server to settle (s)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds without CPU growth that count as settled")
    ap.add_argument("--timeout", type=float, default=1800.0, help="timeout of each subprocess (s)")
    ap.add_argument("--out", type=Path, help="raw numbers as JSON")
    args = ap.parse_args(argv)
    only = {r.strip() for r in args.only.split(",") if r.strip()}
    if unknown := only - set(ROWS):
        ap.error(f"unknown rows {sorted(unknown)}: use {','.join(ROWS)}")
    builds = [("current", os.path.abspath(args.python))]
    if args.baseline_python and not args.skip_baseline:
        builds.append(("baseline", os.path.abspath(args.baseline_python)))

    results: dict = {}
    if args.out and args.out.exists() and args.only != ",".join(ROWS):
        try:
            results = json.loads(args.out.read_text())  # a rerun of some rows keeps the others
        except ValueError:
            results = {}
    results.setdefault("meta", {})
    results["meta"].update({"argv": sys.argv, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "cpus": os.cpu_count(), "loadavg": os.getloadavg()})
    tables = []
    for corpus in args.corpora:
        corpus = corpus.resolve()
        per = results.setdefault(str(corpus), {})
        for label, py in builds:
            log(f"== {corpus.name}: {label} ({py})")
            new = measure_build(py, corpus, label, args, only)
            per.setdefault(label, {}).update(new)
            if args.out:
                args.out.write_text(json.dumps(results, indent=1))
        t = table(corpus.name, per.get("current", {}), per.get("baseline") if not args.skip_baseline else None)
        tables.append(t)
        print(t + "\n", flush=True)
    results["meta"]["loadavg_end"] = os.getloadavg()
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    if __package__ in (None, ""):
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
