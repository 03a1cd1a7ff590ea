"""SessionStart: one block, in a fixed order and within a budget, that restores what the
session knows after a compaction (and at startup, resume and clear).

    L0 pinned rules     invariants held with high confidence, the user's standing instructions
    L1 working set      branch, uncommitted files, files edited this session, open todos
    L2 last steps       tool, key observation, error line (already trimmed)
    L3 facts            the facts about the working set, each with its time and confidence;
                        those whose file changed since are marked

The budget is counted exactly (tiktoken, default 2,000 tokens) and the block never passes
Claude Code's 10,000-character cap on hook output. Each tier may fill up to its share of
the budget plus what earlier tiers left; a tier that does not fit says what it left out.

Facts come from the snapshot the distill step writes (plain JSON, milliseconds); when the
fact table moved since (``facts.version``), the fact store is opened (about a second) and
the snapshot rewritten.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .distill import file_hash, read_state, snapshot_path
from .settings import SETTINGS, HistorySettings
from .transcript import EDIT_TOOLS, Transcript, read_transcript, relative_to

TOKEN_CACHE = "token_counts.json"
TOKEN_CACHE_MAX = 20000  # lines; past this the cache starts afresh
UNCOUNTED_BYTES = 300  # more bytes than this of lines never counted: load the tokenizer

SHARES = (0.30, 0.50, 0.75, 1.0)  # cumulative share of the budget tiers L0..L3 may reach
TITLES = ("L0 pinned rules", "L1 working set", "L2 last steps", "L3 facts for the working set")


def norm(line: str) -> str:
    """One block line: no line breaks, no leading or trailing blanks, and a first
    character of its own (every block line starts with ``#``, ``-`` or ``(``; o200k would
    join a line starting with ``/`` to the break before it). That makes the token count
    of the block the sum of its lines' counts; see LineCounter."""
    line = " ".join(line.split())
    return line if line.startswith(("#", "- ", "(")) else "- " + line


class LineCounter:
    """Exact token counts of block lines, remembered in the store, so that a SessionStart
    whose lines were all counted before never loads the tokenizer (about 0.4 s of CPU).

    The block is lines joined by newlines with a final newline, each as ``norm`` makes it; tiktoken's pre-tokenizer (cl100k and o200k) then never joins
    text across a line break, so the block's count is the sum of ``count(line + "\n")``
    (tests check it). A few short lines never seen before are bounded by their byte
    length instead (a token is at least one byte), so the budget holds either way; past
    ``UNCOUNTED_BYTES`` of them, the tokenizer is loaded and counts them exactly."""

    def __init__(self, store_dir: Path, encoding: str | None = None):
        import hashlib
        import os

        self._hash = hashlib.blake2b
        self.encoding = encoding or os.environ.get("CTXFOLD_ENCODING") or "cl100k_base"
        self.path = Path(store_dir) / "history" / TOKEN_CACHE
        self.counts: dict[str, int] = {}
        try:
            data = json.loads(self.path.read_text())
            if data.get("encoding") == self.encoding:
                self.counts = data.get("counts") or {}
        except (OSError, ValueError, AttributeError):
            pass
        self.new: dict[str, int] = {}
        self.exact = True
        self.loaded = False

    def _key(self, line: str) -> str:
        return self._hash(line.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()

    def known(self, line: str) -> int | None:
        key = self._key(line)
        return self.counts.get(key, self.new.get(key))

    def count_exact(self, lines: list[str]) -> None:
        from indexers.tokens import count_many

        self.loaded = True
        for line, n in zip(lines, count_many([line + "\n" for line in lines], self.encoding)):
            self.new[self._key(line)] = n

    def cost(self, line: str) -> int:
        n = self.known(line)
        if n is None:
            self.exact = False
            return len((line + "\n").encode("utf-8", "surrogatepass"))
        return n

    def prepare(self, lines: list[str]) -> None:
        """Count exactly the lines never seen, if there are more than a few bytes of them."""
        unseen = [line for line in dict.fromkeys(lines) if self.known(line) is None]
        if sum(len(line) for line in unseen) > UNCOUNTED_BYTES:
            self.count_exact(unseen)

    def save(self) -> None:
        if not self.new:
            return
        counts = {} if len(self.counts) + len(self.new) > TOKEN_CACHE_MAX else dict(self.counts)
        counts.update(self.new)
        try:
            from .distill import write_json

            write_json(self.path, {"encoding": self.encoding, "counts": counts})
        except OSError:
            pass  # a read-only store: counted again next time


@dataclass
class Block:
    text: str
    tokens: int  # exact, or an upper bound when ``exact`` is False
    exact: bool = True
    left_out: dict[str, int] = field(default_factory=dict)  # tier → items left out


def load_facts(store_dir: Path, project: Path) -> list[dict]:
    """Active facts from the snapshot, refreshed first when the fact table moved since."""
    path = snapshot_path(store_dir)
    noted = ""
    try:
        noted = (Path(store_dir) / "facts.version").read_text().strip()
    except OSError:
        if not path.exists():
            return []  # no fact was ever recorded here
    try:
        snap = json.loads(path.read_text())
        if snap.get("schema") == 1 and snap.get("facts_version") == noted:
            return snap.get("facts") or []
    except (OSError, ValueError):
        pass
    from .distill import open_fact_store, write_snapshot

    write_snapshot(open_fact_store(store_dir, project), store_dir)
    return json.loads(path.read_text()).get("facts") or []


def git_state(project: Path, timeout: float = 1.5) -> tuple[str, list[str]]:
    """(branch, uncommitted paths); empty when there is no git or it takes too long."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--branch", "--untracked-files=normal"],
                              cwd=project, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return "", []
    if proc.returncode != 0:
        return "", []
    branch, files = "", []
    for line in proc.stdout.splitlines():
        if line.startswith("## "):
            branch = line[3:].split("...")[0].replace("No commits yet on ", "")
        elif len(line) > 3:
            path = line[3:].split(" -> ")[-1].strip('"')
            if not path.startswith(".ctxfold"):
                files.append(path)
    return branch, files


def _short(ts: str) -> str:
    return ts[:16].replace("T", " ") if ts else "?"


def _one(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stale(fact: dict, project: Path) -> bool:
    """A file anchor whose file changed (or went away) since the fact was recorded."""
    for a in fact.get("about") or []:
        if a.get("hash") and a.get("path") and not a.get("symbol"):
            try:
                if file_hash((project / a["path"]).read_bytes()) != a["hash"]:
                    return True
            except OSError:
                return True
    return False


def fact_line(fact: dict, project: Path) -> str:
    head = f"{fact['type']} {fact['id']} {_short(fact.get('created_at', ''))} conf {fact.get('confidence', 0):.2g}"
    if _stale(fact, project):
        head += " (possibly stale: its file changed since)"
    line = f"- [{head}] {_one(fact['fact'], 300)}"
    if fact.get("mitigation"):
        line += f" — mitigation: {_one(fact['mitigation'], 160)}"
    return line


def step_line(step, project: Path) -> str:
    if step.name in EDIT_TOOLS:
        return f"- step {step.index} {step.name} {relative_to(step.file_path, project)}" + (" (failed)" if step.is_error else "")
    if step.name == "TodoWrite":
        todos = step.input.get("todos") if isinstance(step.input.get("todos"), list) else []
        open_ = sum(1 for x in todos if isinstance(x, dict) and x.get("status") in ("pending", "in_progress"))
        return f"- step {step.index} TodoWrite: {len(todos)} todos, {open_} open"
    what = step.command or json.dumps(step.input, ensure_ascii=False)[:120] if step.input else ""
    failed = step.exit_status not in (None, "0") or step.is_error
    from .distill import error_line

    lines = [x for x in step.output.splitlines() if x.strip() and not x.startswith("Exit code")]
    seen = error_line(step.output) if failed else (lines[0].strip() if lines else "(no output)")
    status = f"failed{f' (exit {step.exit_status})' if step.exit_status not in (None, '0') else ''}" if failed else "ok"
    if not step.answered:
        status, seen = "no result yet", ""
    return f"- step {step.index} {step.name} `{_one(what, 120)}` → {status}" + (f": {_one(seen, 200)}" if seen else "")


def _rank_facts(facts: list[dict], working: list[str], todos: list[str]) -> list[dict]:
    words = set()
    for item in working + todos:
        words.update(w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", item))
    wset = set(working)
    kind = {"failure": 0.6, "decision": 0.5, "invariant": 0.4, "todo": 0.4, "coupling": 0.3, "observation": 0.2}

    def score(f: dict) -> float:
        s = kind.get(f.get("type", ""), 0.1)
        paths = {a.get("path") for a in f.get("about") or []}
        if paths & wset:
            s += 2.0
        text_words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", f.get("fact", ""))}
        s += 0.2 * len(text_words & words)
        return s * (0.5 + 0.5 * float(f.get("confidence") or 0))

    return sorted(facts, key=lambda f: (-score(f), f.get("created_at", "") and -_ts_key(f["created_at"]), f["id"]))


def _ts_key(ts: str) -> float:
    digits = re.sub(r"\D", "", ts)[:14]
    return float(digits or 0)


def build_block(store_dir: Path, project: Path, session: str = "", transcript_path: str | None = None,
                source: str = "startup", settings: HistorySettings = SETTINGS, budget: int | None = None,
                encoding: str | None = None) -> Block:
    budget = budget or settings.restore_budget
    project = Path(project)
    facts = load_facts(store_dir, project)
    t = read_transcript(transcript_path, settings.tail_bytes) if transcript_path else Transcript()
    state = read_state(store_dir, session) if session else {}
    branch, uncommitted = git_state(project)

    pinned = [f for f in facts if f.get("pinned")]
    pinned.sort(key=lambda f: f.get("created_at", ""), reverse=True)
    edited: list[str] = []
    for path in list(state.get("edited") or []) + [relative_to(s.file_path, project) for s in t.steps if s.name in EDIT_TOOLS and s.file_path]:
        if path not in edited:
            edited.append(path)
    if t.todos is not None:
        todos = [f"{x.get('content', '')} ({str(x.get('status', '')).replace('_', ' ')})" for x in t.todos
                 if x.get("status") in ("pending", "in_progress")]
    else:
        ids = {v.get("id") for k, v in (state.get("facts") or {}).items() if k.startswith("todo:")}
        todos = [f["fact"].split(": ", 1)[-1] for f in facts if f.get("id") in ids]

    tiers: list[list[str]] = [[], [], [], []]
    tiers[0] = [fact_line(f, project) for f in pinned] or ["- (none recorded)"]
    if branch:
        tiers[1].append(f"- branch: {branch}")
    if uncommitted:
        tiers[1].append(f"- uncommitted: {', '.join(uncommitted[:15])}" + (f" (+{len(uncommitted) - 15} more)" if len(uncommitted) > 15 else ""))
    if edited:
        tiers[1].append(f"- edited this session: {', '.join(edited[-15:])}")
    tiers[1] += [f"- open todo: {_one(x, 200)}" for x in todos[:12]]
    if not tiers[1]:
        tiers[1] = ["- (nothing yet)"]
    steps = t.steps[-settings.restore_steps:]
    # newest first, so that a cut drops the oldest steps
    tiers[2] = [step_line(s, project) for s in reversed(steps)] or ["- (no steps yet in this session)"]
    shown_ids = {f["id"] for f in pinned}
    working = list(dict.fromkeys(edited + uncommitted))
    rest = [f for f in facts if f["id"] not in shown_ids and not (todos and f.get("type") == "todo")]
    tiers[3] = [fact_line(f, project) for f in _rank_facts(rest, working, todos)[: settings.restore_facts]] or ["- (none)"]
    more_facts = max(0, len(rest) - settings.restore_facts)

    header = f"# ctxfold: what this session knows ({source}; {budget} tokens at most; `ctxfold facts list` for all facts)"
    tiers = [[norm(line) for line in lines] for lines in tiers]
    titles = [f"## {title}" for title in TITLES]
    counter = LineCounter(store_dir, encoding)
    notes = {i: f"(left out: 999 {what} over this tier's share of the budget; {hint})" for i, (what, hint) in enumerate(_LEFT_OUT)}
    counter.prepare([header, *titles, *(line for lines in tiers for line in lines), *notes.values()])
    out = [header]
    used = counter.cost(header)
    chars = len(header) + 1
    left_out: dict[str, int] = {}
    for i, (title, lines) in enumerate(zip(TITLES, tiers)):
        reserve = 25 * (len(TITLES) - i - 1)  # the later tiers' titles and notes
        cap = min(int(SHARES[i] * budget), budget - reserve)
        out.append(titles[i])
        used += counter.cost(titles[i])
        chars += len(titles[i]) + 1
        taken = 0
        for line in lines:
            cost = counter.cost(line)
            if used + cost > cap - 20 or chars + len(line) + 1 > settings.restore_max_chars - 200 * (len(TITLES) - i):
                break
            out.append(line)
            used += cost
            chars += len(line) + 1
            taken += 1
        missing = len(lines) - taken + (more_facts if i == 3 else 0)
        if missing:
            left_out[title] = missing
            what, hint = _LEFT_OUT[i]
            note = f"(left out: {missing} {what} over this tier's share of the budget; {hint})"
            out.append(note)
            used += counter.cost(note)
            chars += len(note) + 1
    while (used > budget or chars > settings.restore_max_chars) and len(out) > 2:
        dropped = out.pop(-2 if out[-1].startswith("(left out") else -1)
        used -= counter.cost(dropped)
        chars -= len(dropped) + 1
    counter.save()
    return Block("\n".join(out) + "\n", used, counter.exact, left_out)


_LEFT_OUT = (("pinned facts", "`ctxfold facts list`"), ("working-set lines", "`git status`"),
             ("earlier steps", "`ctxfold output list`"), ("facts", "`ctxfold facts list` or recall"))


def session_start(payload: dict, store_dir: Path, project: Path) -> dict | None:
    block = build_block(store_dir, project, str(payload.get("session_id") or ""), payload.get("transcript_path"),
                        str(payload.get("source") or "startup"))
    return {"hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": block.text}}
