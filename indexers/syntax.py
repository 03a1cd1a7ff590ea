"""Small helpers over tree-sitter nodes and the text of names, shared by ``parse``,
``resolve`` and the language plug-ins (which import them from here, not from the modules
that load them). tree-sitter gives bytes and 0-based rows."""

from __future__ import annotations

import re
from typing import NamedTuple

from tree_sitter import Node

MAX_SIGNATURE_CHARS = 400
MAX_DOC_CHARS = 600
_CHAIN_SPLIT = re.compile(r"\s*(?:\?\.|\.|::|->)\s*")
_IDENT = re.compile(r"^[A-Za-z_$][\w$]*$")


def text_of(node: Node, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")


def split_chain(text: str) -> list[str]:
    """``self.client.send`` → [self, client, send]; call results and subscripts are kept
    as opaque parts (``get().x`` → [get(), x]) so a resolver knows the receiver is unknown."""
    text = re.sub(r"<[^<>()]*>", "", text)  # generic arguments: Foo::<T>::bar, List<T>.of
    parts = [p for p in _CHAIN_SPLIT.split(text.strip()) if p]
    return parts


def leading_comment(node: Node, source: bytes) -> str:
    """The comment block right above a definition (Go, Rust, Java, JS doc comments)."""
    lines: list[str] = []
    prev = node.prev_named_sibling
    expected_row = node.start_point[0] - 1
    while prev is not None and prev.type in ("comment", "line_comment", "block_comment") and prev.end_point[0] >= expected_row:
        lines.insert(0, text_of(prev, source))
        expected_row = prev.start_point[0] - 1
        prev = prev.prev_named_sibling
    cleaned = []
    for line in "\n".join(lines).splitlines():
        line = line.strip()
        line = re.sub(r"^(///?|/\*\*?|\*/|\*|#)\s?", "", line).rstrip("*/ ").strip()
        if line:
            cleaned.append(line)
    return "\n".join(cleaned)[:MAX_DOC_CHARS]


def is_identifier(part: str) -> bool:
    return bool(_IDENT.match(part))


class Owner(NamedTuple):
    """Where a definition with no name of its own belongs (the ``owner`` hook's answer)."""

    definition: Node | None  # the definition it is in (None: the module)
    names: str  # the names from there to it: "server" in ``devServer.server.configure``
    member: bool = True  # a function here is a method of what it belongs to
