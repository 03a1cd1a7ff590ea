"""The languages ctxfold parses: per language a grammar wheel, a query file in
``indexers/queries/<name>.scm``, and a plug-in module here with what a query cannot say
(imports, qualified-name containers, docstrings, reference resolution, test code).

A plug-in is a module that provides the four functions of ``LanguagePlugin`` and any of
the optional parts listed on ``Hooks``; ``hooks(language)`` gives it with the parts it
leaves out filled by their defaults, so that no caller probes it. Plug-ins import their
helpers from ``indexers/syntax.py`` and ``indexers/lookup.py``, never from ``parse`` or
``resolve``, which load them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Protocol

from tree_sitter import Node

from ..syntax import Owner, text_of

if TYPE_CHECKING:
    from ..lookup import ResolveIndex
    from ..types import Edge, Import, ParsedFile


@dataclass(frozen=True)
class LanguageInfo:
    name: str
    extensions: tuple[str, ...]
    grammar: str  # "module:function" returning the tree-sitter language pointer
    comment: str  # line-comment prefix, for fold markers
    module: str  # indexers.languages.<module> with the hooks


LANGUAGES: dict[str, LanguageInfo] = {
    info.name: info
    for info in (
        LanguageInfo("python", (".py", ".pyi"), "tree_sitter_python:language", "#", "python"),
        LanguageInfo("javascript", (".js", ".jsx", ".mjs", ".cjs"), "tree_sitter_javascript:language", "//", "javascript"),
        LanguageInfo("typescript", (".ts", ".mts", ".cts"), "tree_sitter_typescript:language_typescript", "//", "typescript"),
        LanguageInfo("tsx", (".tsx",), "tree_sitter_typescript:language_tsx", "//", "typescript"),
        LanguageInfo("go", (".go",), "tree_sitter_go:language", "//", "go"),
        LanguageInfo("rust", (".rs",), "tree_sitter_rust:language", "//", "rust"),
        LanguageInfo("java", (".java",), "tree_sitter_java:language", "//", "java"),
    )
}
_BY_EXTENSION = {ext: info.name for info in LANGUAGES.values() for ext in info.extensions}
QUERY_DIR = Path(__file__).resolve().parent.parent / "queries"


def language_for_path(path: str) -> str | None:
    dot = path.rfind(".")
    return _BY_EXTENSION.get(path[dot:].lower()) if dot >= 0 else None


@lru_cache(maxsize=None)
def ts_language(name: str):
    from tree_sitter import Language

    module, func = LANGUAGES[name].grammar.split(":")
    return Language(getattr(importlib.import_module(module), func)())


@lru_cache(maxsize=None)
def query_source(name: str) -> str:
    info = LANGUAGES[name]
    path = QUERY_DIR / f"{info.module}.scm"
    return path.read_text(encoding="utf-8")


class LanguagePlugin(Protocol):
    """What every language module provides."""

    def is_function_scope(self, node: Node) -> bool:
        """A definition nested in this node is not a symbol (it is inside a function)."""

    def imports(self, node: Node, source: bytes) -> list[Import]:
        """The bindings of one ``@import`` capture."""

    def build_module_map(self, paths: list[str], index: ResolveIndex) -> dict:
        """The language's module lookup over the files of ``paths``, built once per index."""

    def resolve(self, parsed: ParsedFile, index: ResolveIndex) -> list[Edge]:
        """Call, import, inherit and type edges out of one file."""


# What fold_file looks for to find a definition the index holds no symbol for; ``{}`` is
# the escaped name. A plug-in may narrow it with its own ``DEFINITION``.
DEFINITION = r"^\s*(?:(?:export|pub|async|static|public|private|protected)\s+)*(?:def|class|function|fn|func|struct|enum|trait|interface|type)\s+{}\b"


def _itself(node: Node) -> Node:
    return node


def _body(node: Node) -> Node | None:
    return node.child_by_field_name("body")


def _nothing(*_args) -> None:
    return None


def _no_package(_root: Node, _source: bytes) -> str:
    return ""


def _never(*_args) -> bool:
    return False


@dataclass(frozen=True)
class Hooks:
    """A language plug-in with its optional parts spelled out (defaults when it has none)."""

    name: str  # the module's name: "javascript" serves JavaScript, TypeScript and TSX
    is_function_scope: Callable[[Node], bool]
    imports: Callable[[Node, bytes], list]
    build_module_map: Callable[[list[str], "ResolveIndex"], dict]
    resolve: Callable[["ParsedFile", "ResolveIndex"], list]
    # The node a symbol's text starts at (a decorator, an ``export``, an attribute).
    span_node: Callable[[Node], Node] = _itself
    # The body of a definition (its signature ends there); default: the ``body`` field.
    body: Callable[[Node], Node | None] = _body
    # A definition's docstring; without one, the comment block above its span.
    docstring: Callable[[Node, bytes], str] | None = None
    # An owner the definition itself names: a Go receiver, ``Foo.prototype.bar = …``.
    qualifier: Callable[[Node, bytes], str | None] = _nothing
    # A name a non-definition node adds to the qualified names below it.
    container_name: Callable[[Node, bytes], str | None] = _nothing
    # Where a definition with no name of its own belongs (a member of an object literal
    # or of an anonymous class, an anonymous default export), given (node, source, path).
    owner: Callable[[Node, bytes, str], Owner | None] = _nothing
    # A file's package (Java, Go).
    package: Callable[[Node, bytes], str] = _no_package
    # What a reference node names, when its text alone does not say it.
    ref_text: Callable[[Node, bytes], str] = text_of
    # Test code: a whole file by its path, or a definition inside a file (an inline module).
    is_test_path: Callable[[str], bool] = _never
    in_test: Callable[[Node, bytes], bool] = _never
    # The info string of a Markdown code fence for each language the plug-in serves.
    fences: dict[str, str] | None = None
    definition: str = DEFINITION
    module_map_from_paths: bool = False  # build_module_map reads paths only, never symbols

    @classmethod
    def of(cls, module: ModuleType) -> "Hooks":
        optional = {
            "span_node": "span_node", "body": "body", "docstring": "docstring", "qualifier": "qualifier",
            "container_name": "container_name", "owner": "owner", "package": "package",
            "ref_text": "ref_text", "is_test_path": "is_test_path", "in_test": "in_test",
            "fences": "FENCES", "definition": "DEFINITION", "module_map_from_paths": "MODULE_MAP_FROM_PATHS",
        }
        given = {field: getattr(module, attr) for field, attr in optional.items() if hasattr(module, attr)}
        return cls(
            name=module.__name__.rpartition(".")[2],
            is_function_scope=module.is_function_scope,
            imports=module.imports,
            build_module_map=module.build_module_map,
            resolve=module.resolve,
            **given,
        )

    def definition_line(self, name: str) -> re.Pattern[str]:
        """A line that defines ``name`` (for definitions that are no symbol)."""
        return re.compile(self.definition.format(re.escape(name)))


@lru_cache(maxsize=None)
def hooks(name: str) -> Hooks:
    """The plug-in of a language (``python``, ``tsx``, ...)."""
    return Hooks.of(importlib.import_module(f"{__name__}.{LANGUAGES[name].module}"))


def fence(language: str | None) -> str:
    """The Markdown code fence's info string for a language ("" when unknown)."""
    if language not in LANGUAGES:
        return ""
    return (hooks(language).fences or {}).get(language, language)


def is_test_path(path: str) -> bool:
    """A file of tests, by the conventions of its language."""
    language = language_for_path(path)
    return language is not None and hooks(language).is_test_path(path)


def comment_prefix(language: str | None) -> str:
    return LANGUAGES[language].comment if language in LANGUAGES else "#"

