"""How often each file changes, from git history and the working tree.

Volatile files are not worth enriching with an LLM (the edge would go stale at the next
edit); they are embedded instead (``indexers/vectors.py``). The same git log that scores
volatility also gives, per commit, the files it changed: the co-change heuristic
(``indexers/heuristics.py``) reads those lists instead of running git again.

The score of a file is a sum of decayed changes::

    score = sum(0.5 ** (age_days(commit) / half_life_days) for each commit touching it)
            + uncommitted_weight   (if the file is modified or untracked right now)

A change made today weighs 1, one made ``half_life_days`` ago weighs 0.5. Only the last
``max_commits`` non-merge commits reachable from HEAD are read, in ONE ``git log`` call
with a timeout; the commit's author date is used (a rebase rewrites committer dates to
"now" and would make every file look volatile). A file is volatile when its score is at
least ``threshold``. With the defaults (half-life 90 days, threshold 2) that takes three
changes within the last seven weeks or five within the last four months; a file with an
edit in progress needs a bit more than one recent commit besides. Measured on httpx's
history: about half of its files were volatile in busy 2021, three of sixty in quiet
late 2024.

Without usable history the report says why in ``note`` and applies these rules:

- not a git repository, or git missing or failing: every file is stable (score 0);
- no commit yet: only uncommitted edits count (every file is untracked, so every file
  scores ``uncommitted_weight``; with the defaults that is below the threshold: stable);
- shallow clone: the commits present are used, minus the shallow boundary commits (git
  shows them as adding every file, which is not a change anyone made then).

Paths are relative to the served repository (which may be a subdirectory of the git
work tree), POSIX style, like everywhere in ctxfold. Renames are not followed: a renamed
file starts a new history.
"""

from __future__ import annotations

import logging
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from indexers.errors import CtxfoldError

log = logging.getLogger(__name__)

_SECONDS_PER_DAY = 86_400.0


@dataclass
class VolatilitySettings:
    half_life_days: float = 90.0  # a change this old weighs half as much as one made now
    max_commits: int = 1000  # how far back git log reads (non-merge commits)
    threshold: float = 2.0  # score at or above which a file is volatile
    uncommitted_weight: float = 1.0  # a modified or untracked file counts as a change made now
    timeout_s: float = 20.0  # for each git subprocess


@dataclass
class CommitFiles:
    """One commit of the history read, with the files it changed (repo-relative)."""

    sha: str
    timestamp: int  # author date, Unix seconds
    files: list[str]


@dataclass
class FileVolatility:
    path: str
    score: float
    commits: int  # commits touching the file within the window read
    uncommitted: bool  # modified, added or untracked in the working tree
    last_change: str | None  # ISO 8601 UTC author date of the newest commit touching it
    volatile: bool


@dataclass
class VolatilityReport:
    files: dict[str, FileVolatility]
    commits: list[CommitFiles] = field(default_factory=list)  # newest first
    history: bool = False  # True when git history was read (possibly truncated)
    note: str = ""  # why history is missing or partial; "" when all is well
    settings: VolatilitySettings = field(default_factory=VolatilitySettings)

    def volatile_paths(self) -> set[str]:
        return {p for p, f in self.files.items() if f.volatile}

    def is_volatile(self, path: str) -> bool:
        f = self.files.get(path)
        return bool(f and f.volatile)


class GitUnavailable(CtxfoldError):
    """git could not answer; the message says why (it ends up in VolatilityReport.note)."""


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    # We run next to the user's own git: never take index.lock for a status refresh,
    # never prompt, never page.
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat")
    return env


def run_git(repo: Path, args: list[str], timeout_s: float) -> str:
    """Run one git command in ``repo`` and return its stdout; raise ``GitUnavailable``."""
    cmd = ["git", "-c", "core.quotepath=off", "-c", "log.showSignature=false", *args]
    try:
        proc = subprocess.run(
            cmd,
            cwd=repo,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitUnavailable("git not found on PATH") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitUnavailable(f"`git {args[0]}` timed out after {timeout_s:g}s") from exc
    except OSError as exc:
        raise GitUnavailable(f"could not run git: {exc}") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitUnavailable(f"`git {args[0]}` failed: {err[-1] if err else proc.returncode}")
    return proc.stdout.decode("utf-8", "replace")


@dataclass
class _RepoInfo:
    prefix: str  # the served directory relative to the work tree root, "" or "sub/dir/"
    shallow: bool
    shallow_file: Path


def _repo_info(repo: Path, timeout_s: float) -> _RepoInfo:
    out = run_git(
        repo,
        ["rev-parse", "--is-inside-work-tree", "--show-prefix", "--is-shallow-repository",
         "--git-path", "shallow"],
        timeout_s,
    ).split("\n")
    if len(out) < 4 or out[0] != "true":
        raise GitUnavailable("not inside a git work tree")
    shallow_path = Path(out[3])
    if not shallow_path.is_absolute():
        shallow_path = repo / shallow_path
    return _RepoInfo(prefix=out[1], shallow=out[2] == "true", shallow_file=shallow_path)


def parse_log(text: str) -> list[CommitFiles]:
    """Parse ``git log -z --name-only --format=%x1e%H%x1f%at``: one record per commit."""
    commits = []
    for record in text.split("\x1e"):
        if not record:
            continue
        header, _, rest = record.partition("\0")
        sha, _, stamp = header.partition("\x1f")
        if rest.startswith("\n"):
            rest = rest[1:]
        files = [f for f in rest.split("\0") if f]
        try:
            timestamp = int(stamp.split("\x1f")[0])
        except ValueError:
            continue
        commits.append(CommitFiles(sha=sha.strip(), timestamp=timestamp, files=files))
    return commits


def _read_log(repo: Path, info: _RepoInfo, settings: VolatilitySettings) -> list[CommitFiles]:
    text = run_git(
        repo,
        ["log", "-z", "--no-merges", "--no-renames", "--no-color", "--no-ext-diff",
         "--relative", "--name-only", f"--max-count={settings.max_commits}",
         "--format=%x1e%H%x1f%at", "HEAD", "--", "."],
        settings.timeout_s,
    )
    commits = parse_log(text)
    if info.shallow:
        try:
            boundary = set(info.shallow_file.read_text().split())
        except OSError:
            boundary = set()
        commits = [c for c in commits if c.sha not in boundary]
    return commits


def _has_commits(repo: Path, timeout_s: float) -> bool:
    try:
        run_git(repo, ["rev-parse", "--verify", "--quiet", "HEAD"], timeout_s)
    except GitUnavailable:
        return False
    return True


def _uncommitted(repo: Path, info: _RepoInfo, timeout_s: float) -> set[str]:
    """Files modified, added or untracked in the working tree, relative to ``repo``."""
    text = run_git(
        repo,
        ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", "."],
        timeout_s,
    )
    changed = set()
    for entry in text.split("\0"):
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if status == "!!":
            continue
        # porcelain paths are relative to the work tree root, whatever the cwd
        if info.prefix and path.startswith(info.prefix):
            path = path[len(info.prefix):]
        elif info.prefix:
            continue
        changed.add(path)
    return changed


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def compute_volatility(
    repo: Path,
    paths: list[str],
    settings: VolatilitySettings | None = None,
    *,
    now: datetime | None = None,
) -> VolatilityReport:
    """Score every path in ``paths`` by recent git churn and uncommitted edits.

    ``now`` is the reference time for the decay (default: the current time).
    Never raises for git trouble: the report's ``note`` says what was missing.
    """
    settings = settings or VolatilitySettings()
    repo = Path(repo)
    now_ts = (now or datetime.now(UTC)).timestamp()

    def scored(commits: list[CommitFiles], dirty: set[str]) -> dict[str, FileVolatility]:
        score = dict.fromkeys(paths, 0.0)
        count = dict.fromkeys(paths, 0)
        last: dict[str, int] = {}
        for c in commits:
            age_days = max(0.0, (now_ts - c.timestamp) / _SECONDS_PER_DAY)
            weight = 0.5 ** (age_days / settings.half_life_days)
            for f in c.files:
                if f in score:
                    score[f] += weight
                    count[f] += 1
                    last[f] = max(last.get(f, c.timestamp), c.timestamp)
        out = {}
        for p in paths:
            s = score[p] + (settings.uncommitted_weight if p in dirty else 0.0)
            out[p] = FileVolatility(
                path=p,
                score=round(s, 4),
                commits=count[p],
                uncommitted=p in dirty,
                last_change=_iso(last[p]) if p in last else None,
                volatile=s >= settings.threshold,
            )
        return out

    try:
        info = _repo_info(repo, settings.timeout_s)
    except GitUnavailable as exc:
        why = "not a git repository" if "not a git repository" in str(exc) else str(exc)
        note = f"no git history ({why}): every file counts as stable"
        return VolatilityReport(files=scored([], set()), note=note, settings=settings)

    notes = []
    try:
        dirty = _uncommitted(repo, info, settings.timeout_s)
    except GitUnavailable as exc:
        dirty = set()
        notes.append(f"working tree not read ({exc})")

    commits: list[CommitFiles] = []
    history = False
    if not _has_commits(repo, settings.timeout_s):
        notes.append("no commits yet: only uncommitted edits count")
    else:
        try:
            commits = _read_log(repo, info, settings)
            history = True
        except GitUnavailable as exc:
            notes.append(f"git history not read ({exc}): only uncommitted edits count")
        if info.shallow:
            notes.append(
                f"shallow clone: history is truncated, scores count only the "
                f"{len(commits)} commits present"
            )
    report = VolatilityReport(
        files=scored(commits, dirty),
        commits=commits,
        history=history,
        note="; ".join(notes),
        settings=settings,
    )
    if report.note:
        log.info("volatility: %s", report.note)
    return report


@dataclass
class CommitHunks:
    """Lines a commit added, per file (text of each added line, without the '+')."""

    sha: str
    added: dict[str, list[str]]


_C_ESCAPES = {"n": 10, "t": 9, '"': 34, "\\": 92, "a": 7, "b": 8, "f": 12, "r": 13, "v": 11}


def _unquote_c(quoted: str) -> str:
    """Undo git's C-style quoting of a path (octal escapes are UTF-8 bytes)."""
    out = bytearray()
    i = 0
    while i < len(quoted):
        ch = quoted[i]
        if ch == "\\" and i + 1 < len(quoted):
            nxt, digits = quoted[i + 1], quoted[i + 1:i + 4]
            if len(digits) == 3 and all(c in "01234567" for c in digits):
                out.append(int(digits, 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(nxt, ord(nxt)))
            i += 2
            continue
        out.extend(ch.encode("utf-8"))
        i += 1
    return out.decode("utf-8", "replace")


def read_commit_hunks(
    repo: Path,
    shas: list[str],
    paths: list[str],
    *,
    timeout_s: float = 20.0,
    max_bytes: int = 8_000_000,
) -> list[CommitHunks]:
    """The added lines of ``shas``, restricted to ``paths``, in ONE ``git show -U0`` call.

    Bounded: the caller limits the commits and paths; output beyond ``max_bytes`` is cut
    (the last commit may then be partial). Raises nothing for git trouble: returns [].
    """
    if not shas or not paths:
        return []
    try:
        text = run_git(
            Path(repo),
            ["show", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
             "--relative", "--format=%x1e%H", *shas, "--", *paths],
            timeout_s,
        )
    except GitUnavailable as exc:
        log.info("co-change: hunks not read (%s); staying at file level", exc)
        return []
    text = text[:max_bytes]
    out = []
    for record in text.split("\x1e"):
        if not record.strip():
            continue
        sha, _, body = record.partition("\n")
        added: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in body.split("\n"):
            if line.startswith("+++ "):
                target = line[4:]
                if target.startswith('"') and target.endswith('"'):
                    target = _unquote_c(target[1:-1])
                current = added.setdefault(target[2:], []) if target.startswith("b/") else None
            elif line.startswith("diff --git "):
                current = None
            elif current is not None and line.startswith("+"):
                current.append(line[1:])
        out.append(CommitHunks(sha=sha.strip(), added=added))
    return out
