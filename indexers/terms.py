"""The words full-text search sees in code: identifiers lowercased, with their snake_case
and CamelCase parts, common words left out. The indexer turns each symbol into term
counts with them (``symbol_terms``); recall turns a task into query terms the same way."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from .types import ParsedFile

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    """a an and are as at be but by for from has have if in into is it its not of on or
    such that the their then there these this to was will with self cls none true false
    return def class import none pass elif else try except raise while yield lambda
    i we you he she they me my our your can could should would may might do does did
    when what which who how why where all any some one two get set use used using also
    just like make made new old so than too very only own same other each both few more
    most no nor out up down over under again further once here both after before above
    below between through during off about against within without function method
    code file line lines value values example following issue problem error expected
    actual result results output input test tests work works working bug""".split()
)
NAME_WEIGHT = 3  # extra term counts for the words of a symbol's own name
_TYPE_KINDS = ("class", "struct", "interface", "trait", "enum", "impl")


@lru_cache(maxsize=200_000)
def _terms_of(ident: str) -> tuple[str, ...]:
    low = ident.lower()
    parts = [p.lower() for chunk in ident.split("_") for p in _PARTS.findall(chunk)]
    out = []
    if len(parts) > 1 or (parts and parts[0] != low):
        out.extend(p for p in parts if len(p) > 2 and p not in STOPWORDS)
    if len(low) > 2 and low not in STOPWORDS:
        out.append(low)
    return tuple(out)


def words(text: str) -> list[str]:
    """Identifier-aware terms: every identifier lowercased, plus its snake/Camel parts."""
    out: list[str] = []
    for ident in _WORD.findall(text):
        out.extend(_terms_of(ident))
    return out


def symbol_terms(pf: ParsedFile, lines: list[str]) -> list[Counter]:
    """Term counts of each of ``pf``'s symbols, in order: its qualified name and body (a
    type: its header, docstring and member names, not the members' bodies), its own
    name's words ``NAME_WEIGHT`` times more, and the words of its file's path."""
    path_terms = words(pf.path.replace("/", " ").rsplit(".", 1)[0])
    children: dict[str, list[str]] = {}
    for sym in pf.symbols:
        if sym.parent:
            children.setdefault(sym.parent, []).append(sym.name)
    out = []
    for sym in pf.symbols:
        if sym.kind in _TYPE_KINDS and sym.qualname in children:
            text = " ".join([sym.qualname, sym.signature, sym.doc, " ".join(children[sym.qualname])])
        else:
            body = "\n".join(lines[sym.start_line - 1 : sym.end_line])
            text = " ".join([sym.qualname, body])
        terms = Counter(words(text))
        for t in words(sym.name):
            terms[t] += NAME_WEIGHT
        for t in path_terms:
            terms[t] += 1
        out.append(terms)
    return out
