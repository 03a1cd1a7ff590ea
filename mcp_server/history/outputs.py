"""Kept outputs: every trimmed output in full, content-addressed, with one record each.

Layout under ``<store>/history/``::

    outputs/ab/ab12….txt   the output as kept (secrets masked, <private> removed),
                           named by the sha256 of that text
    outputs.jsonl          one record per trimmed (or repeated) output, appended
    hooks.log              what went wrong in a hook (hooks never fail Claude Code)

Records are JSON objects with at least: ts, session, tool, command, exit_status,
stdout_sha256, kept_head_lines, kept_tail_lines, truncated, truncated_lines_count;
``repeat_of`` is set when the output repeats one seen earlier in the session.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mcp_server.errors import CtxfoldError

HISTORY_DIRNAME = "history"
RECORDS = "outputs.jsonl"
_SHA_RE = re.compile(r"^[0-9a-f]{4,64}$")


class OutputError(CtxfoldError, ValueError):
    """A kept output that cannot be found or read as asked; the message says what to do."""


@dataclass(frozen=True)
class OutputSlice:
    sha256: str
    total_lines: int
    lines: list[tuple[int, str]]  # (1-based line number, text)
    more: int = 0  # matching or asked-for lines left out past the limit

    def render(self) -> str:
        out = [f"{n}\t{text}" for n, text in self.lines]
        if self.more:
            out.append(f"[ctxfold: {self.more} more lines; narrow the range or the pattern]")
        if not self.lines:
            out.append("[ctxfold: no lines matched]")
        return "\n".join(out)


def history_dir(store_dir: Path) -> Path:
    return Path(store_dir) / HISTORY_DIRNAME


def _append_line(path: Path, line: str) -> None:
    # One write of one line, opened for append: records from concurrent hooks never
    # interleave within a line (POSIX appends of a few KB are atomic on local disks).
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line.rstrip("\n") + "\n").encode("utf-8", "surrogatepass"))
    finally:
        os.close(fd)


class OutputStore:
    """The kept outputs of one store directory."""

    def __init__(self, store_dir: Path | str):
        self.store_dir = Path(store_dir)
        self.dir = history_dir(self.store_dir)
        self.outputs = self.dir / "outputs"
        self.records_path = self.dir / RECORDS

    def _ensure(self) -> None:
        if not self.store_dir.is_dir():
            from indexers.paths import make_store_dir

            make_store_dir(self.store_dir)
        self.outputs.mkdir(parents=True, exist_ok=True)

    def path_of(self, sha: str) -> Path:
        return self.outputs / sha[:2] / f"{sha}.txt"

    def keep(self, text: str, sha: str) -> Path:
        """Keep ``text`` under its sha256 ``sha`` (already cleaned of secrets). Idempotent."""
        path = self.path_of(sha)
        if path.exists():
            return path
        self._ensure()
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{sha}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8", errors="surrogatepass")
        os.replace(tmp, path)
        return path

    def add_record(self, record: dict) -> None:
        self._ensure()
        _append_line(self.records_path, json.dumps(record, ensure_ascii=False))

    def records(self) -> Iterator[dict]:
        try:
            fh = open(self.records_path, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash

    def seen_in_session(self, session: str, sha: str) -> dict | None:
        """The first record of this session whose output had this sha256."""
        for rec in self.records():
            if rec.get("session") == session and rec.get("stdout_sha256") == sha:
                return rec
        return None

    def resolve(self, prefix: str) -> str:
        """The full sha256 of the one kept output starting with ``prefix``."""
        prefix = (prefix or "").strip().lower()
        if not _SHA_RE.match(prefix):
            raise OutputError(
                f"not a sha256 prefix: {prefix!r}: give at least 4 hex digits "
                "(the marker line of a trimmed output shows its sha256; `ctxfold output list` lists them)"
            )
        found = sorted(p.stem for p in self.outputs.glob(f"{prefix[:2]}/{prefix}*.txt")) if len(prefix) >= 2 else []
        if not found:
            raise OutputError(f"no kept output with sha256 {prefix!r}: run `ctxfold output list` to see them")
        if len(found) > 1:
            raise OutputError(
                f"sha256 prefix {prefix!r} matches {len(found)} outputs ({', '.join(f[:12] for f in found[:5])}): "
                "give more digits"
            )
        return found[0]

    def read(self, prefix: str) -> tuple[str, str]:
        sha = self.resolve(prefix)
        return sha, self.path_of(sha).read_text(encoding="utf-8", errors="replace")

    def show(self, prefix: str, lines: str | tuple[int, int] | None = None, limit: int = 500) -> OutputSlice:
        """Lines of a kept output: all, or a range ``"120-180"`` (1-based, inclusive)."""
        sha, text = self.read(prefix)
        all_lines = text.split("\n")
        if all_lines and all_lines[-1] == "":
            all_lines.pop()
        start, end = parse_range(lines, len(all_lines)) if lines else (1, len(all_lines))
        picked = [(i, all_lines[i - 1]) for i in range(start, min(end, len(all_lines)) + 1)]
        return OutputSlice(sha, len(all_lines), picked[:limit], max(0, len(picked) - limit))

    def grep(self, prefix: str, pattern: str, context: int = 0, limit: int = 200) -> OutputSlice:
        """Lines of a kept output matching a regular expression, with ``context`` lines around."""
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise OutputError(f"bad regular expression {pattern!r}: {exc}; escape special characters with \\") from exc
        sha, text = self.read(prefix)
        all_lines = text.split("\n")
        if all_lines and all_lines[-1] == "":
            all_lines.pop()
        wanted: set[int] = set()
        for i, line in enumerate(all_lines):
            if regex.search(line):
                wanted.update(range(max(0, i - context), min(len(all_lines), i + context + 1)))
        picked = [(i + 1, all_lines[i]) for i in sorted(wanted)]
        return OutputSlice(sha, len(all_lines), picked[:limit], max(0, len(picked) - limit))

    def list(self, session: str | None = None, limit: int = 20) -> list[dict]:
        """The latest records, newest first."""
        found = [r for r in self.records() if session is None or r.get("session") == session]
        return found[::-1][:limit]


def parse_range(spec: str | tuple[int, int], total: int) -> tuple[int, int]:
    """``"120-180"``, ``"120-"``, ``"-50"`` (the last 50) or ``"7"`` → (start, end), 1-based."""
    if isinstance(spec, tuple):
        return spec
    text = str(spec).strip()
    m = re.fullmatch(r"(\d*)\s*-\s*(\d*)|(\d+)", text)
    if not m or text == "-":
        raise OutputError(f"bad line range {spec!r}: use START-END (1-based, inclusive), START-, -LAST or N")
    if m.group(3):
        n = int(m.group(3))
        return n, n
    a, b = m.group(1), m.group(2)
    if not a:
        return max(1, total - int(b) + 1), total
    start = int(a)
    end = int(b) if b else total
    if end < start:
        raise OutputError(f"bad line range {spec!r}: the end comes before the start")
    return max(1, start), end


def render_records(records: list[dict]) -> str:
    if not records:
        return "no kept outputs yet"
    out = []
    for r in records:
        what = r.get("command") or r.get("tool") or "?"
        what = " ".join(str(what).split())[:80]
        status = r.get("exit_status")
        repeat = f" repeat of {r['repeat_of'][:12]}" if r.get("repeat_of") else ""
        out.append(
            f"{r.get('stdout_sha256', '')[:12]}  {r.get('ts', '')}  {r.get('tool', '')}  "
            f"{r.get('lines', '?')} lines, cut {r.get('truncated_lines_count', 0)}"
            f"{f', exit {status}' if status not in (None, '') else ''}{repeat}  {what}"
        )
    return "\n".join(out)
