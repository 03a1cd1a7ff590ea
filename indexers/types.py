"""ctxfold's own small types, shared by every stage of indexing and by the read side.

Conventions, stated once:
- paths are relative to the repository root, POSIX style (``pkg/mod.py``);
- lines are 1-based and inclusive (``start_line=3, end_line=5`` is three lines);
- a symbol id is ``path:qualified.name`` (``pkg/mod.py:Client.send``); a file's own node
  (module scope) is ``path:`` with an empty qualified name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SYMBOL_KINDS = ("function", "method", "class", "struct", "interface", "trait", "enum", "type", "constant", "alias")
EDGE_KINDS = ("call", "import", "inherit", "type", "contain")
# How a reference was tied to its definition, best first; "name" is the bare-name fallback.
RESOLUTIONS = ("local", "import", "self", "qualified", "name")


def symbol_id(path: str, qualname: str) -> str:
    return f"{path}:{qualname}"


def split_symbol_id(sid: str) -> tuple[str, str]:
    path, _, qualname = sid.rpartition(":")
    return path, qualname


@dataclass(slots=True)
class Symbol:
    path: str
    qualname: str  # "Class.method"; Go "Type.Method"; Rust "Type.method"
    name: str
    kind: str  # one of SYMBOL_KINDS
    start_line: int
    end_line: int
    signature: str  # the declaration up to its body, whitespace-collapsed
    doc: str = ""  # docstring or leading comment
    hash: str = ""  # content hash of the symbol's full text
    tokens_full: int = 0
    tokens_sig: int = 0
    body_line: int = 0  # first line of the body (0: no separate body)
    labels: str = ""  # space-separated strings it is registered under in its file (parse.py)
    test: bool = False  # test code: in a test file, or in a test module inside another (Rust's mod tests)

    @property
    def id(self) -> str:
        return symbol_id(self.path, self.qualname)

    @property
    def parent(self) -> str:
        """Qualified name of the enclosing symbol ('' at module level)."""
        return self.qualname.rpartition(".")[0]


@dataclass(slots=True)
class Ref:
    """A use of a name in a file: a call, a base class, or the like."""

    chain: list[str]  # callee split on '.'/'::': ["self", "save"], ["os", "path", "join"]
    line: int
    scope: str  # qualname of the innermost enclosing symbol, '' at module level
    kind: str = "call"  # "call", "inherit", "type", "assign" (``target = chain(...)``, ``target: chain``) or "copy" (``target = chain``)
    target: str = ""  # for "assign" and "copy": the name bound ("cart", "self.client")


@dataclass(slots=True)
class Import:
    """One imported binding: ``local`` is the name it has in the importing file."""

    module: str  # as written: "pkg.sub", ".sibling", "./util", "crate::a::b", "fmt"
    name: str = ""  # the imported member ("" when the module itself is bound)
    local: str = ""  # the local alias ("" for side-effect-only imports)
    line: int = 0


@dataclass
class ParsedFile:
    path: str
    language: str
    hash: str
    lines: int
    symbols: list[Symbol] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    package: str = ""  # Java package / Go package name, where the language has one
    errors: list[tuple[int, int]] = field(default_factory=list)  # line ranges of parse errors
    # Each symbol's term counts (indexers/terms.py), from parsing until the read model is
    # written; not stored with the file.
    terms: list | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Edge:
    src: str  # symbol id (or file node "path:")
    dst: str
    kind: str  # one of EDGE_KINDS
    resolution: str = "local"  # one of RESOLUTIONS
    confidence: float = 1.0
    line: int = 0  # where in src's file the reference is


@dataclass
class FileRecord:
    path: str
    language: str
    hash: str
    size: int
    mtime_ns: int
    lines: int
    error_lines: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Skipped:
    path: str
    reason: str  # "binary", "too large (3.2 MB > 1 MB)", "undecodable", "symlink outside repo"...


@dataclass
class SemanticEdge:
    """A coupling no call graph shows, stamped with the content hashes of both ends.

    When either end's current hash differs from the stamped one, the edge is stale and
    stops counting until it is derived again.
    """

    src: str  # symbol id
    dst: str  # symbol id
    relation: str  # short label: "encode/decode pair", "shares config key", "co-change"
    reason: str  # one sentence
    confidence: float
    provenance: str  # "heuristic:co-change", "llm:anthropic/claude-x", "agent"
    created_at: str  # ISO 8601 with time zone
    src_hash: str
    dst_hash: str
