"""TypeScript and TSX hooks: JavaScript's, over a grammar that adds interfaces, enums,
type aliases and namespaces (the query file ``typescript.scm`` says which nodes those
are). Type-only imports bind names like value imports; both resolve the same way.
"""

from __future__ import annotations

from .javascript import build_module_map, imports, is_function_scope, qualifier, ref_text, resolve, span_node

__all__ = ["build_module_map", "imports", "is_function_scope", "qualifier", "ref_text", "resolve", "span_node"]
