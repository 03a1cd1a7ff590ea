"""The languages ctxfold parses: per language a grammar wheel, a query file in
``indexers/queries/<name>.scm``, and a module here with what a query cannot say
(imports, qualified-name containers, docstrings, reference resolution).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


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


@lru_cache(maxsize=None)
def hooks(name: str):
    """The language's hook module (see ``indexers/languages/python.py`` for the contract)."""
    return importlib.import_module(f"{__name__}.{LANGUAGES[name].module}")


def comment_prefix(language: str | None) -> str:
    return LANGUAGES[language].comment if language in LANGUAGES else "#"

