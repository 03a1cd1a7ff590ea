"""fold_file: one file with the bodies irrelevant to the focus folded to one-line markers.

Every kept line is shown as ``<line number>\\t<the source line, byte for byte>``; a fold
marker has no number and says which lines it stands for and the tokens it saved.
"""

from __future__ import annotations

import difflib
import errno
import re
from dataclasses import dataclass

from indexers.languages import comment_prefix, hooks, language_for_path
from indexers.parse import parse_source
from indexers.scan import NotRegularFile, decode_source, printable_path, read_regular, source_lines
from indexers.tokens import count_tokens
from indexers.types import Symbol

from .errors import CtxfoldError
from .settings import SETTINGS
from .textindex import words
from .workspace import Workspace

OUTLINE_MIN_LINES = 6  # with no focus, bodies longer than this are folded
_RANGE = re.compile(r"^L?(\d+)\s*(?:-|:|\.\.)\s*L?(\d+)$|^L?(\d+)$")


@dataclass
class FoldResult:
    path: str
    text: str
    tokens: int
    source_tokens: int
    folded: list[tuple[int, int, int]]  # (start, end, tokens saved)
    notes: list[str]


def _parse_focus(focus, syms: list[Symbol], src_lines: list[str], language: str) -> tuple[set[int], set[str], str, list[str]]:
    """Focus items → (relevant lines, relevant symbol ids, task text, notes)."""
    items = [focus] if isinstance(focus, str) else list(focus or [])
    lines: set[int] = set()
    ids: set[str] = set()
    text_parts: list[str] = []
    notes: list[str] = []
    for raw in items:
        for item in re.split(r",\s*", raw.strip()) if _looks_like_ranges(raw) else [raw.strip()]:
            if not item:
                continue
            m = _RANGE.match(item)
            if m:
                # Clamped to the file: a range is never more line numbers than the file has.
                last = len(src_lines)
                a, b = (_line_number(m.group(1) or m.group(3)), _line_number(m.group(2) or m.group(3)))
                a, b = min(a, b), max(a, b)
                if a > last or b < 1:
                    notes.append(f"lines {item} are outside this file (lines 1-{last})")
                    continue
                lines.update(range(max(a, 1), min(b, last) + 1))
                continue
            named = [s for s in syms if item in (s.name, s.qualname) or s.qualname.endswith("." + item)]
            # A definition the index does not hold as a symbol (a function nested in a function).
            defined = hooks(language).definition_line(item) if re.fullmatch(r"\w+", item) else None
            at = [n for n, line in enumerate(src_lines, 1) if defined.match(line)] if defined and not named else []
            if named:
                ids.update(s.id for s in named)
            elif at:  # nested: its lines make the symbol around it relevant
                lines.update(at)
            elif re.fullmatch(r"[\w.:]+", item):
                notes.append(f"focus symbol {item!r} is not in this file; folded by the rest of the focus")
            else:
                text_parts.append(item)
    return lines, ids, " ".join(text_parts), notes


def _line_number(digits: str) -> int:
    """A line number as given, past any file's end when it is very long (int() of
    thousands of digits is refused, and slow)."""
    return int(digits) if len(digits) <= 12 else 10**12


def _looks_like_ranges(raw: str) -> bool:
    return bool(re.fullmatch(r"[\sL\d:,.-]+", raw.strip()))


def _relevance(sym: Symbol, src_lines: list[str], lines: set[int], ids: set[str], task_words: set[str]) -> float:
    if sym.id in ids or any(sym.id.startswith(i + ".") for i in ids):  # focus on a class keeps its methods
        return 10.0
    if any(i.startswith(sym.id + ".") for i in ids):  # a function around a focused member (an object's method)
        return 10.0
    if lines and any(sym.start_line <= n <= sym.end_line for n in lines):
        return 9.0
    if not task_words:
        return 0.0
    body = words(" ".join(src_lines[sym.start_line - 1 : sym.end_line]) + " " + sym.qualname)
    return len(task_words & set(body)) / (1 + len(task_words)) * 5


def _foldable(sym: Symbol, syms: list[Symbol]) -> bool:
    """Function-like bodies fold; types keep their header and fold member by member."""
    if sym.kind in ("function", "method"):
        return True
    return not any(o.path == sym.path and o.qualname.startswith(sym.qualname + ".") for o in syms)


def _fold_span(sym: Symbol, src_lines: list[str], brace: bool) -> tuple[int, int] | None:
    """Lines (1-based, inclusive) that a fold of ``sym`` hides, or None if too short.
    Kept: the signature, a docstring's first line (Python), a closing brace."""
    body = sym.body_line or sym.start_line
    if brace:
        first = max(body, sym.start_line) + 1
        closing = src_lines[sym.end_line - 1].strip().startswith("}")
        last = sym.end_line - 1 if closing else sym.end_line
    else:
        first = max(body + 1 if sym.doc else body, sym.start_line + 1)
        last = sym.end_line
    if last - first + 1 < 2:
        return None
    return first, last


def fold_file(ws: Workspace, path: str, focus=None, budget: int | None = None, encoding: str = SETTINGS.encoding) -> FoldResult:
    full = ws.resolve_path(path)
    rel = printable_path(ws.relpath(full))
    if budget is None:
        budget = SETTINGS.default_budget  # the answer stays well inside Claude Code's limits
    if not _exists(full):
        known = list(ws.indexer.files)
        if full.parent.is_dir():  # files the index skips (text, data) are foldable too
            known += [ws.relpath(f) for f in full.parent.iterdir() if f.is_file()]
        close = difflib.get_close_matches(rel, list(dict.fromkeys(known)), n=3, cutoff=0.6)  # an indexed file is listed once
        tip = f"; did you mean {', '.join(close)}?" if close else "; search_symbols can find where a symbol lives"
        raise CtxfoldError(f"no such file: {rel}{tip}")
    if full.is_dir():
        raise CtxfoldError(f"{rel} is a directory: give a file inside it")
    if budget is not None and budget < 50:
        raise CtxfoldError(f"budget {budget} is too small: a folded file needs at least 50 tokens")
    if budget is not None and budget > SETTINGS.max_budget:
        raise CtxfoldError(f"budget {budget} is over the cap of {SETTINGS.max_budget} tokens; ask for less")
    limit = ws.indexer.max_bytes
    try:
        data = read_regular(full, limit=limit)
    except NotRegularFile:
        raise CtxfoldError(f"cannot fold {rel}: not a regular file (a pipe, socket or device); give a source file") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise CtxfoldError(
                f"cannot fold {rel}: {full.stat().st_size:,} bytes, over the index's limit of {limit:,} bytes; "
                "read a line range of it with your editor, or raise the limit with `ctxfold index --max-bytes N`"
            ) from None
        raise CtxfoldError(f"cannot read {rel}: {exc.strerror or exc}; check that it exists and is readable") from None
    text, reason = decode_source(data)
    if text is None:
        raise CtxfoldError(f"cannot fold {rel}: {reason}; it is not a text source file")
    src_lines = source_lines(text)
    language = language_for_path(rel)
    notes: list[str] = []
    source_tokens = count_tokens(text, encoding)

    if language is None:
        return _head_tail(rel, src_lines, budget, source_tokens, encoding)

    syms = parse_source(rel, language, data, text).symbols
    lines, ids, task, focus_notes = _parse_focus(focus, syms, src_lines, language)
    notes += focus_notes
    task_words = set(words(task))
    has_focus = bool(lines or ids or task_words)
    brace = language != "python"
    marker = comment_prefix(language)

    units = []
    for sym in syms:
        if not _foldable(sym, syms):
            continue
        span = _fold_span(sym, src_lines, brace)
        if span is None:
            continue
        rel_score = _relevance(sym, src_lines, lines, ids, task_words)
        units.append((rel_score, sym, span))

    if has_focus:
        folded = {sym.id for score, sym, _ in units if score <= 0.0}
    else:
        folded = {sym.id for _, sym, (a, b) in units if b - a + 1 > OUTLINE_MIN_LINES}

    def render(folded_ids: set[str]) -> tuple[str, list[tuple[int, int, int]]]:
        hidden: dict[int, tuple[int, Symbol]] = {}
        for _, sym, (a, b) in units:
            if sym.id in folded_ids:
                hidden[a] = (b, sym)
        out: list[str] = []
        spans: list[tuple[int, int, int]] = []
        n = 1
        while n <= len(src_lines):
            if n in hidden:
                end, sym = hidden[n]
                saved = count_tokens("\n".join(src_lines[n - 1 : end]), encoding)
                indent = re.match(r"\s*", src_lines[n - 1]).group(0)
                out.append(f"\t{indent}... {marker} folded L{n}-L{end}, {end - n + 1} lines, {saved} tokens")
                spans.append((n, end, saved))
                n = end + 1
                continue
            out.append(f"{n}\t{src_lines[n - 1]}")
            n += 1
        return "\n".join(out), spans

    def finish(body: str, spans) -> FoldResult:
        saved = sum(s for _, _, s in spans)
        head = f"# {rel}: {len(src_lines)} lines; {len(spans)} bodies folded ({saved:,} tokens saved)"
        for note in notes:
            head += f"\n# note: {note}"
        out = head + "\n" + body + "\n"
        return FoldResult(rel, out, count_tokens(out, encoding), source_tokens, spans, notes)

    body, spans = render(folded)
    result = finish(body, spans)
    if budget is None or result.tokens <= budget:
        return result
    # Over budget: fold the least relevant of what is still open, until it fits. The
    # fewest such folds that fit are found by bisection: a render per fold would make
    # a file of thousands of functions take minutes.
    order = [sym.id for _, sym, _ in sorted(units, key=lambda u: (u[0], -(u[2][1] - u[2][0]))) if sym.id not in folded]
    lo, hi = 1, len(order)
    fits: FoldResult | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        body, spans = render(folded | set(order[:mid]))
        attempt = finish(body, spans)
        if attempt.tokens <= budget:
            fits, hi = attempt, mid - 1
        else:
            lo = mid + 1
    if fits is not None:
        return fits
    folded |= set(order)
    body, spans = render(folded)
    result = finish(body, spans)
    # Even the skeleton is too big: keep as many lines as fit, and say so.
    all_lines = body.split("\n")
    notes.append(f"even the folded skeleton ({result.tokens} tokens) does not fit {budget}; the end is cut")
    lo, hi = 0, len(all_lines)
    while lo < hi:  # the most lines whose rendering fits
        mid = (lo + hi + 1) // 2
        if finish("\n".join(all_lines[:mid]), spans).tokens <= budget:
            lo = mid
        else:
            hi = mid - 1
    return finish("\n".join(all_lines[:lo]), spans)


def _exists(full) -> bool:
    try:
        full.stat()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CtxfoldError(f"cannot read {full}: {exc.strerror}; give a path inside the repository") from None


def _head_tail(rel: str, src_lines: list[str], budget: int | None, source_tokens: int, encoding: str) -> FoldResult:
    """A file without a grammar: its head and tail within budget, the middle cut."""
    numbered = [f"{i}\t{line}" for i, line in enumerate(src_lines, 1)]
    limit = budget or SETTINGS.default_budget
    text = f"# {rel}: {len(src_lines)} lines (no grammar for this file type)\n" + "\n".join(numbered) + "\n"
    if count_tokens(text, encoding) <= limit:
        return FoldResult(rel, text, count_tokens(text, encoding), source_tokens, [], [])

    def cut_text(head: int, tail: int) -> str:
        first, last = head + 1, len(numbered) - tail
        return (
            f"# {rel}: {len(src_lines)} lines (no grammar for this file type); middle cut: lines {first}-{last} ({last - first + 1} lines)\n"
            + "\n".join(numbered[:head])
            + f"\n\t... cut L{first}-L{last}, {last - first + 1} lines\n"
            + "\n".join(numbered[len(numbered) - tail :])
            + "\n"
        )

    head, tail = 0, 0
    step = max(1, len(numbered) // 50)
    while head + tail + 2 * step < len(numbered) and count_tokens(cut_text(head + step, tail + step), encoding) <= limit:
        head, tail = head + step, tail + step
    text = cut_text(head, tail)
    return FoldResult(rel, text, count_tokens(text, encoding), source_tokens, [(head + 1, len(numbered) - tail, 0)], ["middle cut"])
