"""Auditable trimming: a long output becomes its head, its tail, the error lines from its
middle and one marker line saying what was cut and how to get it back.

Imports the standard library only (tiktoken just for outputs of few but long lines), so
that the PostToolUse hook stays in the tens of milliseconds on a 15,000-line output.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate

from .settings import SETTINGS, HistorySettings

# Lines worth keeping from the middle of a long output.
ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)|\b(?:error|ERROR|Error)\b|\bFAILED\b|\bFAIL\b|^FAIL|panic:|"
    r"\bfatal:|\bFatal\b|\bException\b|^E\s{2,}|npm ERR!|\bAssertionError\b|\bsegmentation fault\b"
)
# Lower-cased words one of which every error line holds: found with str.find, which is
# far faster than trying the expression at every position of 15,000 lines.
_ERROR_WORDS = ("error", "fail", "panic:", "fatal", "exception", "traceback", "npm err", "segmentation fault", "\ne  ")


@dataclass(frozen=True)
class Trimmed:
    """What the model is shown of an output, and what was cut. Lines are 1-based."""

    text: str  # the trimmed output with its marker line
    sha256: str  # of the full output as kept
    total_lines: int
    total_bytes: int
    kept_head_lines: int
    kept_tail_lines: int
    kept_error_lines: int
    truncated_lines_count: int  # lines of the middle not shown (error lines are shown)
    cut_from: int  # first line of the cut middle
    cut_to: int  # last line of the cut middle
    note: str = ""  # the marker and the error lines alone


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def over_limit(text: str, settings: HistorySettings = SETTINGS) -> bool:
    """Over ``max_lines`` lines or ``max_tokens`` tokens. A token is at least one byte, so
    the exact count is needed only for short outputs of more bytes than the token limit."""
    if text.count("\n") + 1 > settings.max_lines:
        return True
    if len(text) <= settings.max_tokens:
        return False
    from indexers.tokens import count_tokens

    return count_tokens(text) > settings.max_tokens


def error_lines(lines: list[str], start: int, stop: int) -> list[int]:
    """Indexes (0-based) of the error lines among ``lines[start:stop]``, in order."""
    if stop <= start:
        return []
    chunk = lines[start:stop]
    low = "\n" + "\n".join(chunk).lower()
    # offsets[k] is where line start + k begins in ``low`` (after its leading newline)
    offsets = list(accumulate((len(line) + 1 for line in chunk), initial=1))
    candidates: set[int] = set()
    for word in _ERROR_WORDS:
        at = low.find(word)
        while at != -1:
            k = bisect_right(offsets, at + (1 if word[0] == "\n" else 0)) - 1
            candidates.add(k)
            at = low.find(word, offsets[k + 1] if k + 1 < len(offsets) else len(low))
    search = ERROR_LINE.search
    return [start + k for k in sorted(candidates) if 0 <= k < len(chunk) and search(chunk[k])]


def _cap(line: str, limit: int) -> str:
    if len(line) <= limit:
        return line
    return f"{line[:limit]}… [+{len(line) - limit} chars]"


def trim(text: str, sha256: str, hint: str, settings: HistorySettings = SETTINGS) -> Trimmed:
    """Trim ``text`` (assumed over the limit). ``sha256`` names the kept full output;
    ``hint`` says how to read it back, and ends the marker line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    n = len(lines)
    head = min(settings.head_lines, n)
    tail = min(settings.tail_lines, n - head)
    middle = range(head, n - tail)
    found = error_lines(lines, middle.start, middle.stop)
    errors = found[: settings.max_error_lines]
    more_errors = len(found) - len(errors)
    cut = len(middle) - len(errors)
    limit = settings.max_line_chars
    out = [_cap(line, limit) for line in lines[:head]]
    marker = (
        f"[ctxfold: cut {cut:,} of {n:,} lines (lines {head + 1}-{n - tail}"
        f"{f', except {len(errors)} error lines shown below' if errors else ''}), "
        f"{len(text.encode('utf-8', 'surrogatepass')):,} bytes in all, sha256 {sha256[:12]}; "
        f"{hint}]"
    )
    out.append(marker)
    if errors:
        out += [f"  L{i + 1}: {_cap(lines[i], limit)}" for i in errors]
        if more_errors:
            out.append(f"  (+{more_errors} more error lines)")
        out.append("[ctxfold: end of error lines; the last lines follow]")
    note = "\n".join(line for line in out[head:] if not line.startswith("[ctxfold: end of error lines"))
    out += [_cap(line, limit) for line in lines[n - tail:]]
    return Trimmed(
        text="\n".join(out),
        sha256=sha256,
        total_lines=n,
        total_bytes=len(text.encode("utf-8", "surrogatepass")),
        kept_head_lines=head,
        kept_tail_lines=tail,
        kept_error_lines=len(errors),
        truncated_lines_count=cut,
        cut_from=head + 1,
        cut_to=n - tail,
        note=note,
    )
