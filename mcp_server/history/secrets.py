"""Nothing secret kept: common credential shapes are masked, ``<private>`` text removed.

Applied to everything the history pipeline writes (kept outputs, their records, distilled
facts). What the model is shown of an output is its own business; what ctxfold stores is
ours.
"""

from __future__ import annotations

import re

MASK = "[masked]"

# (words one of which a match holds, lower-cased: a pattern is compiled and run only
# where one is found, as running thirteen expressions over a 15,000-line output costs a
# quarter second; the pattern; its flags). Each pattern's first group is kept; the rest of the match is masked.
_PATTERNS: tuple[tuple[tuple[str, ...], str, int], ...] = (
    (("private key",), r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----).*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
    (("sk-",), r"\b(sk-ant-[A-Za-z0-9]{2,}-)[A-Za-z0-9_\-]{16,}", 0),
    (("sk-",), r"\b(sk-(?:proj-)?)(?!ant-[A-Za-z0-9]{2,}-\[)[A-Za-z0-9_\-]{20,}", 0),
    (("gh",), r"\b(gh[pousr]_)[A-Za-z0-9]{30,}", 0),
    (("github_pat_",), r"\b(github_pat_)[A-Za-z0-9_]{30,}", 0),
    (("xox",), r"\b(xox[abposr]-)[A-Za-z0-9\-]{10,}", 0),
    (("akia", "asia"), r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", 0),
    (("aiza",), r"\b(AIza)[A-Za-z0-9_\-]{35}\b", 0),
    (("eyj",), r"\b(eyJ)[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}", 0),  # JWT
    (("bearer",), r"(?i)(\bbearer\s+)[A-Za-z0-9_\-.=+/~]{8,}", 0),
    (("authorization",), r"(?i)(\bauthorization\s*[:=]\s*[\"']?(?:basic|token)\s+)[A-Za-z0-9_\-.=+/~]{8,}", 0),
    # password=..., API_KEY: ..., "secret": "..." (the value up to a quote, space or end)
    (("pass", "pwd", "secret", "key", "token"), (
        r"(?i)((?:\b|_)(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|"
        r"client[_-]?secret|private[_-]?key|token)[\"']?\s*[:=]\s*[\"']?)(?![\"'\s]|\[masked\])[^\s\"',;]{3,}"
    ), 0),
    (("://",), r"(://[^/\s:@]+:)[^/\s@]{3,}(?=@)", 0),  # user:password@ in URLs
)

_PRIVATE = re.compile(r"<private>.*?(?:</private>|\Z)", re.S | re.I)


def mask_secrets(text: str) -> str:
    """``text`` with credential shapes replaced by ``[masked]`` (a key's prefix is kept)."""
    if not text:
        return text
    low = text.lower()
    for words, source, flags in _PATTERNS:
        if any(w in low for w in words):
            text = re.compile(source, flags).sub(lambda m: m.group(1) + MASK, text)  # re caches it
    return text


def strip_private(text: str) -> str:
    """``text`` without what lies between ``<private>`` and ``</private>`` (an unclosed
    tag hides the rest)."""
    if not text or "<private" not in text.lower():
        return text
    return _PRIVATE.sub("", text)


def clean(text: str) -> str:
    """What may be stored of ``text``: private parts removed, secrets masked."""
    return mask_secrets(strip_private(text))
