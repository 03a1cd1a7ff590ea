"""Issue and pull-request numbers in commit messages, with the files those commits changed.

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

Reading the whole history takes about two seconds on sympy (53,000 commits), so
the map is kept in the store as ``history_refs.json`` with the HEAD it was read at; when
HEAD moves forward only the new commits are read. Without git history there are no
references: recall goes on without them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Iterable
from pathlib import Path

from .paths import make_store_dir, write_atomic
from .volatility import GitUnavailable, run_git

log = logging.getLogger(__name__)

MAX_FILES = 30
CACHE = "history_refs.json"
CACHE_VERSION = 2  # raised whenever what is read from history changes
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


def _read(repo: Path, revisions: str, timeout_s: float, refs: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Add to ``refs`` the commits of ``revisions`` whose messages name a number."""
    seen: set[str] = set()
    common = ["-z", "--name-only", "--no-renames", "--no-color", "--no-ext-diff", "--relative",
              "-i", "-E", "--grep=(#|gh-)[0-9]", "--format=%x1e%H%x1f%B"]
    for walk in (["--first-parent", "-m"], ["--no-merges"]):
        text = run_git(repo, ["log", *walk, *common, revisions, "--", "."], timeout_s)
        for record in text.split("\x1e"):
            header, _, rest = record.partition("\0")
            sha, _, message = header.partition("\x1f")
            files = [f for f in rest.lstrip("\n").split("\0") if f]
            if not sha or sha in seen or not files or len(files) > MAX_FILES:
                continue
            seen.add(sha)
            for number in set(_MESSAGE_REF.findall(message)):
                counts = refs.setdefault(number, {})
                for path in files:
                    counts[path] = counts.get(path, 0) + 1
    return refs


def _is_ancestor(repo: Path, old: str, head: str, timeout_s: float) -> bool:
    try:
        run_git(repo, ["merge-base", "--is-ancestor", old, head], timeout_s)
    except GitUnavailable:  # not an ancestor (exit 1), or unknown after a rewrite
        return False
    return True


def load_refs(repo: Path, store_dir: Path, known: tuple[str, dict] | None = None,
              timeout_s: float = 20.0) -> tuple[str, dict[str, dict[str, int]]]:
    """(HEAD, number -> {path: commits for that number that changed it}), kept in the store
    with the HEAD it was read at. When HEAD moves forward only the new commits are read;
    ``known`` is a previous answer, reused while HEAD stays. ("", {}) without git history.
    A history too long to read within ``timeout_s`` is not tried again (delete the file
    to retry)."""
    try:
        head = run_git(repo, ["rev-parse", "HEAD"], timeout_s).strip()
    except GitUnavailable as exc:
        log.debug("no issue references from history: %s", exc)
        return "", {}
    if known and known[0] == head:
        return known
    cache = Path(store_dir) / CACHE
    try:
        data = json.loads(cache.read_text())
        if data.get("version") != CACHE_VERSION:
            raise ValueError("written by another version")
        old, refs = data["head"], data["refs"]
        if data.get("unreadable"):
            return head, {}
    except (OSError, ValueError, KeyError, TypeError):
        old, refs = "", {}
    if old == head:
        return head, refs
    entry: dict = {"version": CACHE_VERSION, "head": head}
    try:
        if old and _is_ancestor(repo, old, head, timeout_s):
            refs = _read(repo, f"{old}..HEAD", timeout_s, refs)
        else:
            refs = _read(repo, "HEAD", timeout_s, {})
    except GitUnavailable as exc:
        log.warning("issue numbers in git history are not used: %s; delete %s to try again", exc, cache)
        refs, entry["unreadable"] = {}, str(exc)
    entry["refs"] = refs
    try:
        make_store_dir(store_dir)
        write_atomic(cache, json.dumps(entry))
    except OSError as exc:  # a read-only store still answers, from memory
        log.warning("could not keep issue references in %s: %s", cache, exc)
    return head, refs
