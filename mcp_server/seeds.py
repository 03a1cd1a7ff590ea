"""Where recall starts: symbols the task points at, each with a weight and a reason."""

from __future__ import annotations

import bisect
import itertools
import math
import re
from dataclasses import dataclass, field

from indexers.types import Symbol

from .workspace import Views

_EXT = r"(?:py|pyi|js|jsx|mjs|cjs|ts|tsx|go|rs|java)"
# File "pkg/mod.py", line 12, in func   (Python tracebacks)
_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
# at foo (src/bar.ts:12:3) · src/main.rs:10:5 · /x/y/file.go:123 +0x1d · Foo.java:42
# Each pattern that reads task text runs in linear time: a run of path characters is
# tried from its start only (the look-behind), never from every position inside it.
_PATH_LINE = re.compile(r"(?<![\w./\\-])([\w./\\-]+\." + _EXT + r"):(\d+)")
_JAVA_FRAME = re.compile(r"at ([\w.$]+)\.([\w$<>]+)\((\w+\.java):(\d+)\)")
_PATH = re.compile(r"(?<![\w/.-])([\w.-]+(?:/[\w.-]+)*\." + _EXT + r")\b")
_DOTTED = re.compile(r"\b([A-Za-z_]\w*(?:(?:\.|::)[A-Za-z_]\w*)+)\b")
_IDENT = re.compile(r"\b([A-Za-z_]\w{2,})\b")
_SHORT_CALL = re.compile(r"\b([A-Za-z_]\w)\(")  # a two-letter name only when called: Eq(x, 0)
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Strings a task quotes that code may register a class or function under (parse.py's
# labels): 'EX', "include", an rst directive (.. include::) or role (:py:class:), a
# hyphenated slug (an event: source-read). Not an rst field (:param x:, :type x:): the
# names of fields are declared in tuples, no registration, and a directive may share one.
_QUOTED = re.compile(r"""(?<!\w)(['"])([A-Za-z][\w.:-]{1,40})\1""")
_RST_NAME = re.compile(r"^[ \t]*\.\. ([\w:-]+)::|(?<![\w`]):([\w-]+(?::[\w-]+)?):", re.M)
_SLUG = re.compile(r"(?<![\w-])([a-z][a-z0-9]*(?:-[a-z0-9]+)+)(?![\w-])")
_SPAN_WORD = re.compile(r"[A-Za-z][\w.:-]*")
# A link to a file of a repository, at a line: .../blob/<ref>/pkg/mod.py#L120-L130
_BLOB_LINK = re.compile(r"/blob/[^/\s]+/([\w./-]++)(?:#L(\d+))?")  # possessive: see _blob_path
_EXT_PREFIX = re.compile(r"(.*\." + _EXT + r")(?![A-Za-z0-9])", re.S)
# Links: their words (https, github, com, issues) match code that handles URLs, not the
# code at fault. Issue links and file links are read before links are dropped.
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>()\[\]`'\"]+")
# Issue-template matter that says nothing about the code: HTML comments (the template's
# prompts), collapsed <details> (environment dumps, long logs) and checklists.
# (Matched by _drop_boilerplate with one scan: a lazy ``<!--.*?-->`` searched from every
# unclosed opener would read the rest of the text once per opener.)
_BOILERPLATE_OPEN = re.compile(r"<!--|<details\b", re.I)
_DETAILS_CLOSE = re.compile(r"</details>", re.I)
_CHECKLIST = re.compile(r"^[ \t]*[-*] \[[ xX]\] [^\n]*$", re.M)
# A fenced block that reports installed versions (pip list, `python -m requests.help`,
# `pylint --version`): package names in it would match modules that have no part in the bug.
# (Paired line by line in _drop_version_fences, for the same reason.)
_FENCE_OPEN = re.compile(r"[ \t]*(```|~~~)")
_VERSION_LINE = re.compile(
    r"\b\d+\.\d+\.\d+|==\d|\bversion\b|\bnull\b|\bNone\b"  # 1.26.7, attrs==19.3, "version": null
    r"|^[\s{}\[\](),:\"'=-]*$"  # JSON punctuation, table rules
    r"|^\s*+\"?[\w .-]++\"?\s*+:\s*+[{\[]?\s*+,?\s*+$",  # "urllib3": {  (possessive: no backtracking)
    re.I,
)


@dataclass
class Seed:
    weight: float
    reasons: list[str] = field(default_factory=list)


class SeedSet:
    def __init__(self) -> None:
        self.seeds: dict[str, Seed] = {}

    def add(self, sid: str, weight: float, reason: str) -> None:
        seed = self.seeds.setdefault(sid, Seed(0.0))
        seed.weight += weight
        if reason not in seed.reasons:
            seed.reasons.append(reason)


def _match_path(v: Views, raw: str) -> tuple[list[str], float]:
    """Indexed paths that a path from the task refers to (absolute or partial), at most
    three, and how much to trust them: a bare file name that many files share
    (``conf.py``, ``__init__.py``) says little about which one is meant."""
    raw = raw.replace("\\", "/").lstrip("./")
    if raw in v.by_path:
        return [raw], 1.0
    hits = [p for p in v.by_path if p.endswith("/" + raw) or raw.endswith("/" + p)]
    if not hits and "/" not in raw:
        hits = [p for p in v.by_path if p.rsplit("/", 1)[-1] == raw]
    return hits[:3], 1.0 / max(1, len(hits))


def _symbol_at(v: Views, path: str, line: int) -> Symbol | None:
    best = None
    for sym in v.by_path.get(path, []):
        if sym.start_line <= line <= sym.end_line and (best is None or sym.start_line >= best.start_line):
            best = sym
    return best


def _name_rarity(v: Views, name: str) -> float:
    n = len(v.by_name.get(name.lower(), []))
    return 1.0 / math.sqrt(n) if n else 0.0


def name_runs(v: Views) -> tuple:
    """Every symbol name as a run ``_words_``, joined, with where each starts: built once
    per generation of the views."""
    if not v.name_runs or v.name_runs[0] != v.generation:
        keys = list(v.by_name)
        runs = [f"_{k.strip('_')}_" for k in keys]
        starts = list(itertools.accumulate((len(r) + 1 for r in runs), initial=0))
        v.name_runs = (v.generation, "\n".join(runs), starts, keys)
    return v.name_runs


def _names_containing(v: Views, name: str) -> list[str]:
    """Symbol names (lowercased) that hold ``name`` as whole snake_case words, itself aside.
    One search over all names joined, so a task with many names stays fast."""
    _, joined, starts, keys = name_runs(v)
    run = f"_{name}_"
    found: dict[str, None] = {}
    at = joined.find(run)
    while at >= 0:
        found[keys[bisect.bisect_right(starts, at) - 1]] = None
        at = joined.find(run, at + 1)
    return [key for key in found if key.strip("_") != name]


# Environment sections of issue templates ("### OS", "### Sphinx version", "**Environment
# info**", and "### Screenshots", "### Your project"): product and platform names, which
# match the code that reports them. A section runs to the next heading, at most
# _ENV_MAX_LINES lines.
_HEADING = re.compile(r"^[ \t]*(?:#{1,6}[ \t]*(\S(?:[^\n]*\S)?)|\*\*([^*\n]+)\*\*:?)[ \t]*$")
_ENV_TITLE = re.compile(
    r"(?:your project|screenshots?|os|os / environment|environment(?: info(?:rmation)?)?|platform"
    r"|system (?:details|information)|versions|[\w.-]+ version|[\w.-]+ --version output"
    r"|output of .*versions.*|[\w.-]+ extensions|extra tools|additional dependencies)[ \t:]*",
    re.I,
)
_ENV_MAX_LINES = 15


def _drop_environment(task: str) -> str:
    out: list[str] = []
    skipping = 0  # lines left to drop in the current environment section
    for line in task.split("\n"):
        heading = _HEADING.match(line)
        if heading:
            title = (heading.group(1) or heading.group(2) or "").strip().strip("*").strip()
            skipping = _ENV_MAX_LINES if _ENV_TITLE.fullmatch(title) else 0
            if skipping:
                continue
        if skipping:
            skipping -= 1
            continue
        out.append(line)
    return "\n".join(out)


def _is_version_dump(block: str) -> bool:
    lines = [line for line in block.splitlines() if line.strip()]
    return len(lines) >= 4 and sum(bool(_VERSION_LINE.search(line)) for line in lines) >= 0.7 * len(lines)


def _seed_file(seeds: SeedSet, v: Views, path: str, weight: float, reason: str) -> None:
    """Every symbol of a file, ``weight`` shared so that a big file is not a flood."""
    syms = v.by_path.get(path, [])
    for sym in syms:
        seeds.add(sym.id, weight / math.sqrt(len(syms)), reason)


def _blob_links(text: str) -> list[tuple[str, str | None]]:
    """Links to a file of a repository: (path, line or None). The path is the longest
    part of the link's path run that ends in a source extension; the line counts only
    when it follows that run."""
    out = []
    for m in _BLOB_LINK.finditer(text):
        head = _EXT_PREFIX.match(m.group(1))
        if head:
            out.append((head.group(1), m.group(2) if head.end() == len(m.group(1)) else None))
    return out


def drop_links(task: str) -> str:
    """The task without links, but for the paths of linked files."""
    return _URL.sub(lambda m: f" {blobs[0][0]} " if (blobs := _blob_links(m.group(0))) else " ", task)


def _drop_boilerplate(task: str) -> str:
    """The task without HTML comments, <details> blocks and checklist lines. An opener
    with no closer after it is kept as text."""
    out: list[str] = []
    pos = at = 0
    unclosed: set[str] = set()  # openers known to have no closer further on
    while m := _BOILERPLATE_OPEN.search(task, at):
        kind = "comment" if m.group(0) == "<!--" else "details"
        end = -1
        if kind not in unclosed:
            if kind == "comment":
                end = task.find("-->", m.end())
                end = end + 3 if end >= 0 else -1
            else:
                close = _DETAILS_CLOSE.search(task, m.end())
                end = close.end() if close else -1
        if end < 0:
            unclosed.add(kind)
            at = m.end()
            continue
        out.append(task[pos : m.start()])
        pos = at = end
    out.append(task[pos:])
    return _CHECKLIST.sub("", "".join(out))


def _drop_version_fences(task: str) -> str:
    """The task without fenced blocks that are version reports (``_is_version_dump``)."""
    lines = task.split("\n")
    # For each line, the next line after it that closes a fence of each kind.
    next_close: dict[str, list[int]] = {}
    for fence in ("```", "~~~"):
        nxt, following = [-1] * len(lines), -1
        for i in range(len(lines) - 1, -1, -1):
            nxt[i] = following
            if lines[i].strip(" \t") == fence:
                following = i
        next_close[fence] = nxt
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        j = next_close[m.group(1)][i] if m else -1
        if j < 0:
            out.append(lines[i])
            i += 1
            continue
        if _is_version_dump("\n".join(lines[i + 1 : j])):
            out.append("")
        else:
            out.extend(lines[i : j + 1])
        i = j + 1
    return "\n".join(out)


def strip_boilerplate(task: str, environment: bool = True) -> str:
    """The task without issue-template matter and version reports (its tracebacks are
    read from the original)."""
    task = _drop_boilerplate(task.replace("\r\n", "\n"))
    task = _drop_version_fences(task)
    return _drop_environment(task) if environment else task


def search_text(task: str, title_repeat: int, span_repeat: int) -> str:
    """The task as full-text search sees it: its first line (an issue's title) and its
    inline code spans count more than the rest, which is often pasted logs or config."""
    lines = task.strip().splitlines()
    title = lines[0] if lines else ""
    spans = _CODE_SPAN.findall(task)
    return "\n".join([task, *[title] * title_repeat, *spans * span_repeat])


def quoted_strings(task: str) -> dict[str, set[str] | None]:
    """The strings of a task that may be labels (see ``_QUOTED``), each with the labels
    whose files it is looked for in: ``py:class`` is the role class of the domain py, so
    ``class`` is looked for where ``py`` is registered (if anything is); None: anywhere."""
    found: dict[str, set[str] | None] = dict.fromkeys({m.group(2) for m in _QUOTED.finditer(task)} | set(_SLUG.findall(task)))
    names = [word.strip(".:") for span in _CODE_SPAN.findall(task) for word in _SPAN_WORD.findall(span)]
    names += [next(g for g in m.groups() if g) for m in _RST_NAME.finditer(task)]
    for name in names:
        head, *rest = name.split(":")
        found[name] = found[head] = None
        for part in rest:
            if part not in found or found[part] is not None:
                found.setdefault(part, set()).add(head)
    return found


def focus_seeds(v: Views, item: str) -> list[tuple[str, float, str]]:
    """What one focus item (a symbol id, a file, a name) points at: (symbol id, weight,
    reason); [] when it names nothing in the index."""
    item = item.strip()
    if not item:
        return []
    if item in v.symbols:
        return [(item, 3.0, "in focus")]
    paths, _ = _match_path(v, item)  # the agent's own focus: trusted as given
    if paths:
        return [(sym.id, 1.0, f"in a focus file ({path})") for path in paths for sym in v.by_path.get(path, [])]
    leaf = re.split(r"\.|::|:", item)[-1]
    return [
        (sym.id, 3.0, "in focus")
        for sym in v.by_name.get(leaf.lower(), [])
        if sym.qualname == item or sym.name == item or sym.qualname.endswith("." + item)
    ]


def unknown_focus(v: Views, focus: list[str]) -> list[str]:
    """The focus items that name no file and no symbol of the index."""
    return [item for item in focus if item.strip() and not focus_seeds(v, item) and not _match_path(v, item.strip())[0]]


def collect_seeds(v: Views, task: str, focus: list[str], text_hits: list[tuple[str, float, list[str]]],
                  contained: float = 0.0, changed_for: dict[str, list[str]] | None = None,
                  drop_link_words: bool = True, label_weight: float = 0.0) -> SeedSet:
    """``changed_for``: for each issue or pull request the task mentions, the indexed files
    that the commits for it changed (``indexers/history.py``)."""
    seeds = SeedSet()

    # Traceback frames: the strongest evidence there is; the innermost frame counts most.
    frames: list[tuple[str, int]] = [(m.group(1), int(m.group(2))) for m in _PY_FRAME.finditer(task)]
    frames += [(m.group(1), int(m.group(2))) for m in _PATH_LINE.finditer(task)]
    frames += [(m.group(3), int(m.group(4))) for m in _JAVA_FRAME.finditer(task)]
    for i, (raw, line) in enumerate(frames):
        paths, trust = _match_path(v, raw)
        for path in paths:
            sym = _symbol_at(v, path, line)
            if sym is not None:
                seeds.add(sym.id, (3.0 + i * 0.2) * trust, f"in the traceback ({path}:{line})")

    # Links to a file of the repository, at a line when they say one: as good as a frame.
    for raw, line in _blob_links(task):
        paths, trust = _match_path(v, raw)
        for path in paths:
            sym = _symbol_at(v, path, int(line)) if line else None
            if sym is not None:
                seeds.add(sym.id, 3.0 * trust, f"linked in the task ({path}#L{line})")
            else:
                _seed_file(seeds, v, path, 1.5 * trust, f"file linked in the task ({path})")
    if drop_link_words:
        task = _URL.sub(" ", task)

    # Strings the task quotes that code registers a symbol under: `.. include::` is the
    # class Include, which the code never names "include" anywhere else.
    if label_weight:
        for label, scopes in quoted_strings(task).items():
            syms = v.by_label.get(label, [])
            files = {s.path for head in scopes or () for s in v.by_label.get(head, [])}
            if files:
                syms = [s for s in syms if s.path in files]
            for sym in syms:
                seeds.add(sym.id, label_weight / math.sqrt(len(syms)), f"registered as {label!r}")

    # Paths named in the task: every symbol of the file, lightly.
    for m in _PATH.finditer(task):
        paths, trust = _match_path(v, m.group(1))
        for path in paths:
            _seed_file(seeds, v, path, 1.5 * trust, f"file named in the task ({path})")

    # Issues and pull requests the task mentions ("a regression from #7428"): every symbol
    # of the files their commits changed, lightly, like a file the task names.
    for number, paths in (changed_for or {}).items():
        for path in paths:
            _seed_file(seeds, v, path, 1.5 / math.sqrt(len(paths)), f"changed for #{number}")

    # Dotted names: Class.method, module.func, Type::fn.
    for m in _DOTTED.finditer(task):
        parts = re.split(r"\.|::", m.group(1))
        leaf = parts[-1]
        for sym in v.by_name.get(leaf.lower(), []):
            if sym.name != leaf:
                continue
            qual_parts = sym.qualname.split(".")
            module_parts = sym.path.rsplit(".", 1)[0].split("/")
            tail = parts[:-1]
            if not tail:
                continue
            if tail[-1] in qual_parts[:-1] or tail[-1] == module_parts[-1]:
                seeds.add(sym.id, 2.5, f"named in the task ({m.group(1)})")
            elif tail[-1] in module_parts and sym.qualname == leaf:
                # pkg.name: a top-level definition somewhere in the package (not a method);
                # weaker, many files share the package
                seeds.add(sym.id, 0.8 * _name_rarity(v, leaf), f"named in the task ({m.group(1)})")

    # Plain identifiers that name a symbol; rare names weigh more than common ones.
    for name in set(_IDENT.findall(task)) | set(_SHORT_CALL.findall(task)):
        syms = v.by_name.get(name.lower(), [])
        exact = [s for s in syms if s.name == name]
        if not exact:
            continue
        is_code_like = "_" in name or any(c.isupper() for c in name[1:]) or f"{name}(" in task or f"`{name}" in task
        weight = (2.0 if is_code_like else 0.6) * _name_rarity(v, name)
        for sym in exact:
            seeds.add(sym.id, weight, f"named in the task ({name})")

    # snake_case names inside longer ones: `is_zero` points at `_eval_is_zero` too, and
    # `as_set` at `_eval_as_set`; shared by all the symbols whose names contain them.
    # Not the words of file paths (tests/test_build.py is no hint at test_build_html).
    if contained:
        for name in {n.lower().strip("_") for n in _IDENT.findall(_PATH.sub(" ", task)) if "_" in n.strip("_")}:
            syms = [sym for key in _names_containing(v, name) for sym in v.by_name[key]]
            for sym in syms:
                seeds.add(sym.id, contained / math.sqrt(len(syms)), f"name contains {name}")

    # Focus: what the agent is working on.
    for item in focus or []:
        for sid, weight, reason in focus_seeds(v, item):
            seeds.add(sid, weight, reason)

    # Full-text hits over bodies: scaled to the best hit.
    if text_hits:
        top = text_hits[0][1]
        for sid, score, terms in text_hits:
            if sid in v.symbols:
                seeds.add(sid, 1.5 * score / top, _text_reason(terms))
    return seeds


VECTOR_TERM = "(vector)"  # the term fuse_vector_hits adds for a hit of the vector search


def _text_reason(terms: list[str]) -> str:
    """Why a full-text hit is a seed: its longest matching words, and whether the vector
    search found it."""
    words = sorted((t for t in terms if t != VECTOR_TERM), key=len, reverse=True)[:3]
    reasons = [f"text match: {', '.join(words)}"] if words else []
    if VECTOR_TERM in terms:
        reasons.append("similar by embedding")
    return "; ".join(reasons) or "text match"
