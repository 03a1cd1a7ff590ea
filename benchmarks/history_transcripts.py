"""Generated Claude Code sessions with known key facts, for the history benchmarks.

A session is a transcript (JSON Lines as Claude Code writes them) in a small project, with
the facts that a good restore should carry across a compaction: the failed commands and
their error lines, the files edited, and one standing instruction of the user's.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

WORDS = ("cart", "invoice", "ledger", "order", "refund", "tax", "stock", "coupon", "parser", "client", "cache", "token")


@dataclass
class Session:
    transcript: Path
    project: Path
    session: str
    failures: list[tuple[str, str]] = field(default_factory=list)  # (command, error line), unfixed
    edited: list[str] = field(default_factory=list)
    instruction: str = ""


def _line(n: int, session: str, cwd: str, kind: str, message: dict, **extra) -> str:
    return json.dumps({"type": kind, "message": message, "uuid": f"u-{n}", "timestamp": f"2026-12-08T01:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                       "sessionId": session, "cwd": cwd, "isSidechain": False, "userType": "external"} | extra) + "\n"


def make_session(root: Path, seed: int, steps: int = 120, output_lines: int = 60, session: str | None = None) -> Session:
    """A session of ``steps`` tool calls in a new project under ``root``: reads, test runs
    printing ``output_lines`` lines, edits, a few failures (some fixed later), chatter."""
    rng = random.Random(seed)
    project = root / f"proj-{seed}"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "tests").mkdir(exist_ok=True)
    names = rng.sample(WORDS, 6)
    for name in names:
        (project / "src" / f"{name}.py").write_text(f"def {name}_total(x):\n    return x\n")
        (project / "tests" / f"test_{name}.py").write_text(f"def test_{name}():\n    assert True\n")
    session = session or f"sess-{seed}"
    s = Session(project / "transcript.jsonl", project, session)
    cwd = str(project)
    out: list[str] = []
    n = 0

    def add(kind, message, **extra):
        nonlocal n
        n += 1
        out.append(_line(n, session, cwd, kind, message, **extra))

    def tool(name, tool_input, text, is_error=False):
        tid = f"toolu_{n:05d}"
        add("assistant", {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": name, "input": tool_input}]})
        extra = {"toolUseResult": {"stdout": text, "stderr": "", "interrupted": False}} if name == "Bash" else {}
        add("user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": text, "is_error": is_error}]}, **extra)

    s.instruction = f"Never push to the {rng.choice(['main', 'release', 'prod'])} branch without asking me first."
    add("user", {"role": "user", "content": f"Please fix the {names[0]} totals. {s.instruction} Thanks."})
    fail_at = sorted(rng.sample(range(5, steps - 5), 4))
    fixed = set(fail_at[:2])  # the first two failures get fixed later, the last two not
    for i in range(steps):
        name = names[i % len(names)]
        if i in fail_at:
            cmd = f"pytest -x tests/test_{name}.py -k {name}_{i}"
            err = f"E       AssertionError: {name}_total({i}) returned {i * 3} not {i * 3 + 1}"
            text = "Exit code 1\n" + "\n".join(f"tests/test_{name}.py::test_{k} PASSED" for k in range(output_lines)) + f"\n{err}\nFAILED tests/test_{name}.py::test_{name} - AssertionError\n1 failed"
            add("assistant", {"role": "assistant", "content": [{"type": "text", "text": f"Running the {name} tests."}]})
            tool("Bash", {"command": cmd}, text, True)
            if i in fixed:
                tool("Edit", {"file_path": str(project / "src" / f"{name}.py"), "old_string": "x", "new_string": "x + 1"}, "updated")
                tool("Bash", {"command": cmd}, "1 passed in 0.01s")
            else:
                s.failures.append((cmd, f"FAILED tests/test_{name}.py::test_{name} - AssertionError"))
        elif i % 7 == 3:
            path = f"src/{name}.py"
            add("assistant", {"role": "assistant", "content": [{"type": "text", "text": f"I'll change {path} so that {name}_total handles empty input."}]})
            tool("Edit", {"file_path": str(project / path), "old_string": "return x", "new_string": "return x or 0"}, "The file has been updated.")
            if path not in s.edited:
                s.edited.append(path)
        elif i % 3 == 0:
            tool("Read", {"file_path": str(project / "src" / f"{name}.py")}, "\n".join(f"{k}\tline {k} of {name}" for k in range(1, output_lines)))
        else:
            tool("Bash", {"command": f"grep -rn {name} src"}, "\n".join(f"src/{name}.py:{k}: {name}_total = {k} {' '.join(rng.choices(WORDS, k=8))}" for k in range(output_lines)))
            add("assistant", {"role": "assistant", "content": [{"type": "text", "text": f"The {name} module looks fine so far; moving on. " * 3}]})
    s.transcript.write_text("".join(out))
    return s


def grow_to(s: Session, size: int) -> None:
    """Pad a transcript to about ``size`` bytes with more read-only steps before its end."""
    text = s.transcript.read_text()
    lines = text.splitlines(keepends=True)
    filler = []
    n = 10**6
    while len(text) + sum(map(len, filler)) < size:
        n += 1
        tid = f"toolu_pad{n}"
        body = "\n".join(f"pad line {k} " + "x" * 60 for k in range(200))
        filler.append(_line(n, s.session, str(s.project), "assistant", {"role": "assistant", "content": [{"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": f"cat log{n}.txt"}}]}))
        filler.append(_line(n, s.session, str(s.project), "user", {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tid, "content": body, "is_error": False}]}, toolUseResult={"stdout": body, "stderr": ""}))
    s.transcript.write_text("".join(lines[:1] + filler + lines[1:]))
