"""TypeScript and TSX hooks: JavaScript's, over a grammar that adds interfaces, enums,
type aliases and namespaces (the query file ``typescript.scm`` says which nodes those
are). Type-only imports bind names like value imports; both resolve the same way.
"""

from __future__ import annotations

from .javascript import (
    DEFINITION,
    build_module_map,
    imports,
    is_function_scope,
    is_test_path,
    owner,
    qualifier,
    ref_text,
    resolve,
    span_node,
)

FENCES = {"typescript": "ts", "tsx": "tsx"}
__all__ = ["DEFINITION", "FENCES", "build_module_map", "imports", "is_function_scope", "is_test_path", "owner", "qualifier", "ref_text", "resolve", "span_node"]
