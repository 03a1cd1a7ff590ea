"""What git history says about a task: issue numbers, and past commits like it.

A task that says "solving #19513 gave rise to another bug" or links ``.../pull/14971``
points at the code that the commits for that number changed. Commit messages carry the
numbers ("Fix #7428: ...", "Merge pull request #14971 from ...", "gh-101: ..."), so one
pass over the history maps each number to the files changed for it:

- merge commits on the first-parent line count with their whole change (a merged pull
  request), every other commit with its own;
- a commit that changes more than ``MAX_FILES`` files (a reformat, a release) says
  nothing about any one of them and is left out;
- paths are relative to the served repository, like everywhere in ctxfold; files outside
  it are left out.

A task that names no number still reads like the messages of the commits that fixed
its neighbours ("Fix: bug in is_subset of set handlers"), so the last ``MAX_COMMITS``
commits (merges aside) are kept too, each with its message and files, for recall to
search.

Reading all this takes about five seconds on sympy (53,000 commits), so it is kept in
the store as ``history_refs.json`` with the HEAD it was read at; when HEAD moves forward
only the new commits are read. Without git history there is nothing: recall goes on
without it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .paths import make_store_dir, write_atomic
from .volatility import GitUnavailable, run_git

log = logging.getLogger(__name__)

MAX_FILES = 30
MAX_COMMITS = 10_000  # recent commits kept for their messages
MAX_MESSAGE = 2_000  # characters of a message kept (the subject and the start of the body)
CACHE = "history_refs.json"
CACHE_VERSION = 3  # raised whenever what is read from history changes
# #1234, gh-1234 and links to .../issues/1234 or .../pull/1234 (not an HTML entity &#123;)
_TASK_REF = re.compile(r"(?:(?<![\w&#])#|\bgh-|/(?:issues|pull)/)(\d{2,7})\b", re.I)
_MESSAGE_REF = re.compile(r"(?:(?<![\w&#])#|\bgh-)(\d{2,7})\b", re.I)


# The same in another repository's name: github.com/owner/name/issues/12, owner/name#12
_NAMED_REF = re.compile(r"/[\w.-]+/([\w.-]+?)(?:\.git)?(?:/-)?/(?:issues|pull)/(\d{2,7})\b"
                        r"|(?<![\w/.-])[\w.-]+/([\w.-]+)#(\d{2,7})\b", re.I)


def _norm(name: str) -> str:
    return name.lower().replace("-", "_").removesuffix(".git")


def referenced_numbers(task: str, names: Collection[str] = ()) -> list[str]:
    """Issue and pull-request numbers a task mentions, in order, each once. A number
    given with a repository's name (a link, owner/name#12) counts only when that is one
    of ``names``, the names this repository goes by (``own_names``); with no names, all
    count."""
    own = {_norm(n) for n in names}
    found: list[tuple[int, str]] = []
    foreign: list[tuple[int, int]] = []
    for m in _NAMED_REF.finditer(task):
        name, number = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
        if not own or _norm(name) in own:
            found.append((m.start(), number))
        else:
            foreign.append(m.span())
    for m in _TASK_REF.finditer(task):
        if not any(start <= m.start() < end for start, end in foreign):
            found.append((m.start(), m.group(1)))
    return list(dict.fromkeys(number for _, number in sorted(found)))


def own_names(repo: Path, paths: Iterable[str], timeout_s: float = 5.0) -> set[str]:
    """The names a repository goes by: its directory's, its remotes' and its top-level
    packages' (``sphinx/``, ``src/flask/``)."""
    names = {repo.name}
    for path in paths:
        parts = path.split("/")
        if len(parts) > 1:
            names.add(parts[1] if parts[0] == "src" and len(parts) > 2 else parts[0])
    try:
        remotes = run_git(repo, ["config", "--get-regexp", r"^remote\..*\.url$"], timeout_s)
    except GitUnavailable:  # no git, or no remote
        remotes = ""
    for line in remotes.splitlines():
        url = line.rpartition(" ")[2].rstrip("/")
        names.add(re.split(r"[/:]", url)[-1])
    return {_norm(n) for n in names if n}


_LOG_ARGS = ["-z", "--name-only", "--no-renames", "--no-color", "--no-ext-diff", "--relative",
             "--format=%x1e%H%x1f%B"]


def _log(repo: Path, args: list[str], timeout_s: float) -> Iterable[tuple[str, str, list[str]]]:
    """(sha, message, files) of the commits ``git log ARGS`` lists, files inside ``repo``."""
    text = run_git(repo, ["log", *_LOG_ARGS, *args, "--", "."], timeout_s)
    for record in text.split("\x1e"):
        header, _, rest = record.partition("\0")
        sha, _, message = header.partition("\x1f")
        if sha:
            yield sha, message, [f for f in rest.lstrip("\n").split("\0") if f]


def _read_refs(repo: Path, revisions: str, timeout_s: float, refs: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Add to ``refs`` the commits of ``revisions`` whose messages name a number."""
    seen: set[str] = set()
    for walk in (["--first-parent", "-m"], ["--no-merges"]):
        for sha, message, files in _log(repo, [*walk, "-i", "-E", "--grep=(#|gh-)[0-9]", revisions], timeout_s):
            if sha in seen or not files or len(files) > MAX_FILES:
                continue
            seen.add(sha)
            for number in set(_MESSAGE_REF.findall(message)):
                counts = refs.setdefault(number, {})
                for path in files:
                    counts[path] = counts.get(path, 0) + 1
    return refs


def _read_commits(repo: Path, revisions: str, timeout_s: float, limit: int) -> list[list]:
    """[sha, message, files] of those of the last ``limit`` commits of ``revisions``
    (merges aside) that change between one and ``MAX_FILES`` files, newest first."""
    return [[sha, message.strip()[:MAX_MESSAGE], files]
            for sha, message, files in _log(repo, ["--no-merges", "-n", str(limit), revisions], timeout_s)
            if 0 < len(files) <= MAX_FILES]


def _is_ancestor(repo: Path, old: str, head: str, timeout_s: float) -> bool:
    try:
        run_git(repo, ["merge-base", "--is-ancestor", old, head], timeout_s)
    except GitUnavailable:  # not an ancestor (exit 1), or unknown after a rewrite
        return False
    return True


def _kept(cache: Path) -> dict | None:
    """The history kept in ``cache`` by this version of ctxfold, or None."""
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("version") == CACHE_VERSION else None


@dataclass
class History:
    """What was read from git history at ``head`` ("" without history)."""

    head: str = ""
    refs: dict[str, dict[str, int]] = field(default_factory=dict)  # number -> {path: commits}
    commits: list[list] = field(default_factory=list)  # [sha, message, files], newest first


def load_history(repo: Path, store_dir: Path, known: History | None = None,
                 timeout_s: float = 20.0, max_commits: int = MAX_COMMITS) -> History:
    """The history of ``repo`` at HEAD, kept in the store with the HEAD it was read at.
    When HEAD moves forward only the new commits are read; ``known`` is a previous answer,
    reused while HEAD stays. An empty History without git history. A history too long to
    read within ``timeout_s`` is not tried again (delete the file to retry)."""
    try:
        head = run_git(repo, ["rev-parse", "HEAD"], timeout_s).strip()
    except GitUnavailable as exc:
        log.debug("no git history: %s", exc)
        return History()
    if known and known.head == head:
        return known
    cache = Path(store_dir) / CACHE
    data = _kept(cache)
    if data and data.get("unreadable"):
        return History(head)
    try:
        old = History(data["head"], data["refs"], data["commits"]) if data else History()
    except (KeyError, TypeError):
        old = History()
    if old.head == head:
        return old
    entry: dict = {"version": CACHE_VERSION, "head": head}
    try:
        if old.head and _is_ancestor(repo, old.head, head, timeout_s):
            new = f"{old.head}..HEAD"
            refs = _read_refs(repo, new, timeout_s, old.refs)
            commits = (_read_commits(repo, new, timeout_s, max_commits) + old.commits)[:max_commits]
        else:
            refs = _read_refs(repo, "HEAD", timeout_s, {})
            commits = _read_commits(repo, "HEAD", timeout_s, max_commits)
    except GitUnavailable as exc:
        log.warning("git history is not used: %s; delete %s to try again", exc, cache)
        refs, commits, entry["unreadable"] = {}, [], str(exc)
    entry.update(refs=refs, commits=commits)
    try:
        make_store_dir(store_dir)
        write_atomic(cache, json.dumps(entry))
    except OSError as exc:  # a read-only store still answers, from memory
        log.warning("could not keep what git history says in %s: %s", cache, exc)
    return History(head, refs, commits)


def describe_history(repo: Path, store_dir: Path, timeout_s: float = 5.0) -> str:
    """One line on the history kept in the store, for ``ctxfold status`` (reads no log)."""
    try:
        head = run_git(repo, ["rev-parse", "HEAD"], timeout_s).strip()
    except GitUnavailable:
        return "none (not a git repository, or no commits)"
    cache = Path(store_dir) / CACHE
    data = _kept(cache)
    if data is None:
        return "not read yet (`ctxfold index` or the first recall reads it)"
    if data.get("unreadable"):
        return f"not used: {data['unreadable']}; delete {cache} to try again"
    n = len(data.get("refs", {}))
    line = f"{len(data.get('commits', []))} recent commits, {n} issue number{'s' * (n != 1)}"
    if data.get("head") != head:
        return line + f", read at {str(data.get('head'))[:8]}; the next recall reads the commits since"
    return line + ", read at HEAD"
