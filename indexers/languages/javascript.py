"""JavaScript hooks (TypeScript and TSX reuse them through ``typescript.py``).

The plug-in contract is in ``indexers/languages/__init__.py``. What a JavaScript file
binds, as ``Import`` records (``module`` as written; ``""`` means the file itself, for
names it exports under another name):

  import d from "m"                  Import("m", "default", "d")
  import {a as b} from "m"           Import("m", "a", "b")
  import * as ns from "m"            Import("m", "", "ns")
  export {a as b} from "m"           Import("m", "a", "b")     (a re-export binds b here)
  export * from "m"                  Import("m", "*", "")
  export {a as b}                    Import("", "a", "b")
  export default foo                 Import("", "foo", "default")
  const x = require("m")             Import("m", "", "x")
  const {a, b: c} = require("m")     Import("m", "a", "a"), Import("m", "b", "c")
  module.exports = {a: b}            Import("", "b", "a")
  module.exports = foo               Import("", "foo", "default")

A module's names are its top-level symbols, then these bindings, then ``export *``
sources. Specifiers resolve relative to the importing file, trying the usual extensions
and ``index`` files; bare package names (and tsconfig ``paths`` aliases) are outside the
repository. Receivers are typed only where the code says so (a TypeScript annotation,
``new C()``); other ``obj.m()`` calls fall back to a rare method name.
"""

from __future__ import annotations

import posixpath
import re

from tree_sitter import Node

from ..lookup import CONFIDENCE, ResolveIndex, name_edges
from ..syntax import Owner, is_identifier, text_of
from ..types import Edge, Import, ParsedFile, symbol_id

FAMILY = ("javascript", "typescript", "tsx")  # languages that import one another
FENCES = {"javascript": "js"}
# A definition line, for fold_file's focus on one that is no symbol: function f, class C,
# const f = (…) =>, const f = function, and TypeScript's declarations.
DEFINITION = (
    r"^\s*(?:(?:export|default|declare|async|static|public|private|protected|abstract)\s+)*"
    r"(?:(?:function\*?|class|interface|type|enum|namespace)\s+{0}\b"
    r"|(?:const|let|var)\s+{0}\s*(?::[^=]*)?=\s*(?:async\b\s*)?(?:function\b|\(|[\w$]+\s*=>))"
)
_FUNCTION_TYPES = {
    "function_declaration",
    "generator_function_declaration",
    "function_expression",
    "function",
    "generator_function",
    "arrow_function",
    "method_definition",
    "class_static_block",
}
_CLASS_KINDS = ("class", "interface")
_JS_EXTS = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".d.ts")
_TS_EXTS = (".ts", ".tsx", ".mts", ".cts", ".d.ts", ".js", ".jsx", ".mjs", ".cjs")
# `import "./x.js"` in TypeScript names the compiled file; the source is x.ts.
_COMPILED = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
# Receivers that are never the repository's own objects.
_GLOBALS = frozenset(
    "console Math JSON Object Array Promise Number String Boolean Date RegExp Reflect Symbol "
    "Intl Map Set WeakMap process window document globalThis navigator require module exports".split()
)
# Test files: __tests__/ and test/ folders, *.test.ts, *.spec.js.
_TEST_PATH = re.compile(r"(^|/)(__tests__|__mocks__|tests?)/|\.(test|spec)\.[cm]?[jt]sx?$")
_NEW = re.compile(r"^new\s+([A-Za-z_$][\w$.]*)\s*(?:\(.*\))?$", re.S)
MAX_DEPTH = 6  # re-export hops followed before giving up (also ends cycles)
# Methods of the built-in types: on a receiver of unknown type they are almost never the
# repository's own, so they get no bare-name edge.
_COMMON_METHODS = frozenset(
    "map filter forEach reduce find findIndex some every includes indexOf push pop shift unshift slice "
    "splice concat join split sort reverse keys values entries get set has delete add clear then catch "
    "finally toString valueOf call apply bind trim replace match test exec startsWith endsWith emit on "
    "once off send end write read next".split()
)


# --- parsing hooks ---------------------------------------------------------------


def is_function_scope(node: Node) -> bool:
    return node.type in _FUNCTION_TYPES


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def span_node(node: Node) -> Node:
    """The whole declaration: ``export const f = () => …`` starts at ``export``; a class
    member starts at its first decorator."""
    span = node
    parent = node.parent
    if parent is not None and node.type not in ("function_declaration", "class_declaration"):
        if parent.type == "variable_declarator":
            decl = parent.parent
            span = decl if decl is not None and len(decl.named_children) == 1 else parent
        elif parent.type in ("field_definition", "public_field_definition", "pair"):
            span = parent
        elif parent.type == "assignment_expression" and parent.parent is not None:
            span = parent.parent if parent.parent.type == "expression_statement" else parent
    if span.parent is not None and span.parent.type == "export_statement":
        span = span.parent
    first = span
    prev = first.prev_named_sibling
    while prev is not None and prev.type == "decorator":
        first, prev = prev, prev.prev_named_sibling
    return first


def owner(node: Node, source: bytes, path: str) -> Owner | None:
    """Where a definition with no name of its own belongs, as a reader would name it:
    an anonymous default export after its file (``vite.config.default``); a method of an
    object literal or of an anonymous class after the place of that value: the function
    that returns it (``cssPostPlugin.transform``), the variable or property it is bound to
    (``plugin.transform``, ``hooks.server.configure``), the default export it is, or the
    call it is passed to (``app.use.handle``)."""
    parent = node.parent
    if parent is None:
        return None
    if parent.type == "export_statement" and node == parent.child_by_field_name("value"):
        return Owner(None, _file_stem(path), member=False) if _is_default(parent) else None
    if node.type == "method_definition" and parent.type == "object":
        return _value_owner(parent, source)
    if parent.type == "pair" and parent.parent is not None and parent.parent.type == "object":
        return _value_owner(parent.parent, source)
    if node.type == "method_definition" and parent.type == "class_body":
        cls = parent.parent
        if cls is not None and cls.type == "class" and not _bound_class(cls):
            return _value_owner(cls, source)
    return None


def _file_stem(path: str) -> str:
    """``src/vite.config.ts`` → ``vite.config``; ``index.d.ts`` → ``index``."""
    name = posixpath.basename(path)
    name = name[: -len(".d.ts")] if name.endswith(".d.ts") else posixpath.splitext(name)[0]
    return name


def _is_default(export: Node) -> bool:
    return any(c.type == "default" for c in export.children)


def _bound_class(cls: Node) -> bool:
    """A class expression that is a symbol itself: ``const Foo = class {…}``,
    ``export default class {…}``."""
    parent = cls.parent
    if parent is None:
        return False
    if parent.type == "variable_declarator":
        return parent.child_by_field_name("value") == cls
    return parent.type == "export_statement" and _is_default(parent)


_WRAPPERS = {"parenthesized_expression", "as_expression", "satisfies_expression", "non_null_expression", "await_expression"}


def _value_owner(value: Node, source: bytes) -> Owner | None:
    """Where a value is, as a reader would name it; None when it has no such place."""
    parent = value.parent
    while parent is not None and parent.type in _WRAPPERS:
        value, parent = parent, parent.parent
    if parent is None:
        return None
    kind = parent.type
    if kind == "pair":
        key = parent.child_by_field_name("key")
        outer = _value_owner(parent.parent, source) if key is not None and key.type == "property_identifier" else None
        return Owner(outer.definition, _join(outer.names, text_of(key, source))) if outer else None
    if kind == "array":  # the elements of ``plugins: [{…}, {…}]``: numbered when they repeat
        return _value_owner(parent, source)
    if kind == "export_statement" and _is_default(parent):
        return Owner(value, "")  # export default {…}: a symbol of its own
    if kind == "variable_declarator":
        name = parent.child_by_field_name("name")
        if name is None or name.type != "identifier":
            return None
        return Owner(_enclosing(parent), text_of(name, source))
    if kind in ("field_definition", "public_field_definition"):
        name = parent.child_by_field_name("property") or parent.child_by_field_name("name")
        cls = parent.parent.parent if parent.parent is not None else None
        return Owner(cls, text_of(name, source)) if name is not None and cls is not None else None
    if kind == "return_statement":
        return Owner(_enclosing(parent), "")
    if kind == "arrow_function":  # () => ({…})
        return Owner(parent, "")
    if kind == "assignment_expression" and parent.child_by_field_name("right") == value:
        left = text_of(parent.child_by_field_name("left"), source).replace(" ", "")
        left = left.removeprefix("module.").removeprefix("exports").lstrip(".")
        if left and not all(is_identifier(p) for p in left.split(".")):
            return None
        return Owner(_enclosing(parent), left, member=bool(left))
    if kind == "arguments" and parent.parent is not None and parent.parent.type in ("call_expression", "new_expression"):
        call = parent.parent
        placed = _value_owner(call, source)
        if placed is not None:
            return placed
        callee = call.child_by_field_name("function") or call.child_by_field_name("constructor")
        name = text_of(callee, source).replace(" ", "") if callee is not None else ""
        return Owner(_enclosing(call), name) if name and all(is_identifier(p) for p in name.split(".")) else None
    return None


def _enclosing(node: Node) -> Node | None:
    """The function or class a node is in (None at module level)."""
    parent = node.parent
    while parent is not None:
        if parent.type in _FUNCTION_TYPES:
            return parent
        if parent.type == "class_body":
            return parent.parent
        parent = parent.parent
    return None


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def ref_text(node: Node, source: bytes) -> str:
    """The callee with call arguments elided (``rows.map(f).join`` → ``rows.map().join``:
    arguments may hold dots of their own), and a receiver whose class the code states
    replaced by it (``p: Parser`` or ``p = new Parser()``, then ``p.parse`` →
    ``Parser.parse`` or ``new Parser().parse``)."""
    kind = node.type
    if kind == "member_expression":
        obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
        if obj is not None and prop is not None:
            head = _declared(obj, source) if obj.type in ("identifier", "member_expression") else None
            return f"{head or ref_text(obj, source)}.{text_of(prop, source)}"
    elif kind == "call_expression":
        func = node.child_by_field_name("function")
        if func is not None:
            return f"{ref_text(func, source)}()"
    elif kind == "new_expression":
        ctor = node.child_by_field_name("constructor")
        if ctor is not None:
            return f"new {ref_text(ctor, source)}()"
    elif kind == "subscript_expression":
        obj = node.child_by_field_name("object")
        if obj is not None:
            return f"{ref_text(obj, source)}[]"
    elif kind in ("parenthesized_expression", "non_null_expression") and node.named_children:
        return ref_text(node.named_children[0], source)
    return text_of(node, source)


def qualifier(node: Node, source: bytes) -> str | None:
    """The owner of a function assigned to a member: ``Foo.prototype.bar = …`` → Foo,
    ``res.send = …`` → res; none for CommonJS exports (``exports.foo``,
    ``module.exports.foo``), which are module-level functions."""
    parent = node.parent
    if parent is None or parent.type != "assignment_expression":
        return None
    left = parent.child_by_field_name("left")
    obj = left.child_by_field_name("object") if left is not None and left.type == "member_expression" else None
    if obj is None:
        return None
    owner = text_of(obj, source).replace(" ", "")
    if owner in ("exports", "module.exports"):
        return None
    owner = owner.removesuffix(".prototype")
    return owner if all(is_identifier(part) for part in owner.split(".")) else None


def _annotated(node: Node | None, source: bytes) -> str | None:
    """A TypeScript annotation naming one class or interface: ``: Parser``, ``: ns.X<T>``."""
    if node is not None and node.type == "type_annotation" and node.named_children:
        node = node.named_children[0]
    if node is not None and node.type == "generic_type":
        node = node.child_by_field_name("name")
    if node is not None and node.type in ("type_identifier", "nested_type_identifier"):
        return text_of(node, source)
    return None


def _initial(node: Node | None, source: bytes) -> str | None:
    """An initializer that says its class: ``new Parser()``."""
    if node is not None and node.type == "new_expression":
        return ref_text(node, source)
    return None


def _declared(obj: Node, source: bytes) -> str | None:
    """What a receiver is known to be: the annotation or ``new`` of the variable,
    parameter or (for ``this.x``) class field it names; None when the code does not say."""
    if obj.type == "member_expression":
        this, prop = obj.child_by_field_name("object"), obj.child_by_field_name("property")
        if this is None or this.type != "this" or prop is None:
            return None
        return _field_type(obj, text_of(prop, source), source)
    name = text_of(obj, source)
    child, node = obj, obj.parent
    while node is not None:
        if node.type in ("statement_block", "program"):
            found = None
            for stmt in node.named_children:
                if stmt.start_byte >= child.start_byte:
                    break
                if stmt.type in ("lexical_declaration", "variable_declaration"):
                    for decl in stmt.named_children:
                        if decl.type == "variable_declarator" and _text(decl.child_by_field_name("name"), source) == name:
                            found = _annotated(decl.child_by_field_name("type"), source) or _initial(decl.child_by_field_name("value"), source)
            if found:
                return found
        elif node.type in _FUNCTION_TYPES:
            params = node.child_by_field_name("parameters")
            for param in params.named_children if params is not None else ():
                if _text(param.child_by_field_name("pattern"), source) == name:
                    return _annotated(param.child_by_field_name("type"), source) or _initial(param.child_by_field_name("value"), source)
            if node.type != "arrow_function":
                return None
        child, node = node, node.parent
    return None


def _field_type(at: Node, name: str, source: bytes) -> str | None:
    """The annotated or constructed class of field ``name`` of the class around ``at``,
    including constructor parameter properties (``constructor(private p: Parser)``)."""
    node = at.parent
    while node is not None and node.type != "class_body":
        node = node.parent
    for member in node.named_children if node is not None else ():
        if member.type in ("public_field_definition", "field_definition"):
            key = member.child_by_field_name("name") or member.child_by_field_name("property")
            if _text(key, source) == name:
                return _annotated(member.child_by_field_name("type"), source) or _initial(member.child_by_field_name("value"), source)
        elif member.type == "method_definition" and _text(member.child_by_field_name("name"), source) == "constructor":
            params = member.child_by_field_name("parameters")
            for param in params.named_children if params is not None else ():
                modified = any(c.type in ("accessibility_modifier", "readonly") for c in param.children)
                if modified and _text(param.child_by_field_name("pattern"), source) == name:
                    return _annotated(param.child_by_field_name("type"), source)
    return None


def _text(node: Node | None, source: bytes) -> str:
    return text_of(node, source) if node is not None else ""


def _string(node: Node | None, source: bytes) -> str:
    if node is None or node.type not in ("string", "template_string"):
        return ""
    return text_of(node, source)[1:-1]


def _require_arg(node: Node | None, source: bytes) -> str:
    """The module of ``require("m")``, or ""."""
    if node is None or node.type != "call_expression":
        return ""
    func = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    if func is None or text_of(func, source) != "require" or args is None or not args.named_children:
        return ""
    return _string(args.named_children[0], source)


def imports(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    if node.type == "import_statement":
        return _import_statement(node, source, line)
    if node.type == "export_statement":
        return _export_statement(node, source, line)
    if node.type in ("lexical_declaration", "variable_declaration"):
        return _require_declaration(node, source, line)
    if node.type == "expression_statement":
        return _module_exports(node, source, line)
    return []


def _import_statement(node: Node, source: bytes, line: int) -> list[Import]:
    module = _string(node.child_by_field_name("source"), source)
    out: list[Import] = []
    for child in node.named_children:
        if child.type == "import_require_clause":  # TypeScript: import x = require("m")
            name = child.named_children[0]
            out.append(Import(_string(child.child_by_field_name("source"), source), "", text_of(name, source), line))
        elif child.type == "import_clause":
            for part in child.named_children:
                if part.type == "identifier":
                    out.append(Import(module, "default", text_of(part, source), line))
                elif part.type == "namespace_import" and part.named_children:
                    out.append(Import(module, "", text_of(part.named_children[-1], source), line))
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = text_of(spec.child_by_field_name("name"), source).strip("'\"")
                        alias = spec.child_by_field_name("alias")
                        out.append(Import(module, name, text_of(alias, source) if alias else name, line))
    if not out and module:
        out.append(Import(module, "", "", line))  # import "./side-effect"
    return out


def _export_statement(node: Node, source: bytes, line: int) -> list[Import]:
    module = _string(node.child_by_field_name("source"), source)
    is_default = any(c.type == "default" for c in node.children)
    declaration = node.child_by_field_name("declaration")
    if declaration is not None:
        name = declaration.child_by_field_name("name")
        return [Import("", text_of(name, source), "default", line)] if is_default and name is not None else []
    value = node.child_by_field_name("value")
    if value is not None:
        if is_default and value.type == "identifier":
            return [Import("", text_of(value, source), "default", line)]
        name = value.child_by_field_name("name") if value.type in ("function_expression", "class") else None
        return [Import("", text_of(name, source), "default", line)] if is_default and name is not None else []
    out: list[Import] = []
    for child in node.named_children:
        if child.type == "export_clause":
            for spec in child.named_children:
                if spec.type != "export_specifier":
                    continue
                name = text_of(spec.child_by_field_name("name"), source)
                alias_node = spec.child_by_field_name("alias")
                alias = text_of(alias_node, source) if alias_node else name
                if module:
                    out.append(Import(module, name, alias, line))
                elif alias != name:
                    out.append(Import("", name, alias, line))
            return out
        if child.type == "namespace_export" and module:  # export * as ns from "m"
            return [Import(module, "", text_of(child.named_children[-1], source), line)]
    return [Import(module, "*", "", line)] if module else []


def _require_declaration(node: Node, source: bytes, line: int) -> list[Import]:
    out: list[Import] = []
    for decl in node.named_children:
        if decl.type != "variable_declarator":
            continue
        name, value = decl.child_by_field_name("name"), decl.child_by_field_name("value")
        member = ""
        if value is not None and value.type == "member_expression":  # require("m").x
            prop = value.child_by_field_name("property")
            member, value = (text_of(prop, source) if prop else ""), value.child_by_field_name("object")
        module = _require_arg(value, source)
        if not module or name is None:
            continue
        if name.type == "identifier":
            out.append(Import(module, member, text_of(name, source), line))
        elif name.type == "object_pattern" and not member:
            for part in name.named_children:
                if part.type == "shorthand_property_identifier_pattern":
                    out.append(Import(module, text_of(part, source), text_of(part, source), line))
                elif part.type == "pair_pattern":
                    key, val = part.child_by_field_name("key"), part.child_by_field_name("value")
                    if key is not None and val is not None and val.type == "identifier":
                        out.append(Import(module, text_of(key, source), text_of(val, source), line))
    return out


def _module_exports(node: Node, source: bytes, line: int) -> list[Import]:
    assign = node.named_children[0] if node.named_children else None
    if assign is None or assign.type != "assignment_expression":
        return []
    left, right = assign.child_by_field_name("left"), assign.child_by_field_name("right")
    target = text_of(left, source).replace(" ", "")
    if right is None:
        return []
    if target == "module.exports":
        if right.type == "identifier":
            return [Import("", text_of(right, source), "default", line)]
        if right.type == "object":
            out = []
            for pair in right.named_children:
                key, val = pair.child_by_field_name("key"), pair.child_by_field_name("value")
                if pair.type == "pair" and key is not None and val is not None and val.type == "identifier":
                    if text_of(key, source) != text_of(val, source):
                        out.append(Import("", text_of(val, source), text_of(key, source), line))
            return out
        module = _require_arg(right, source)
        return [Import(module, "*", "", line)] if module else []
    exported = re.match(r"^(?:module\.)?exports\.([A-Za-z_$][\w$]*)$", target)
    if exported and right.type == "identifier" and text_of(right, source) != exported.group(1):
        return [Import("", text_of(right, source), exported.group(1), line)]
    return []


def build_module_map(paths: list[str], index: ResolveIndex) -> dict:
    """Nothing to precompute: specifiers are paths, looked up in ``index.files``."""
    return {}


# --- resolution ----------------------------------------------------------------------


class _Target:
    """What a name stands for: a module file, or a symbol (path, qualname)."""

    __slots__ = ("module", "path", "qualname")

    def __init__(self, module: str | None = None, path: str | None = None, qualname: str | None = None):
        self.module, self.path, self.qualname = module, path, qualname

    @property
    def id(self) -> str:
        return symbol_id(self.module, "") if self.module else symbol_id(self.path, self.qualname)


def module_file(specifier: str, importer: str, index: ResolveIndex) -> str | None:
    """The repository file a relative specifier names, or None (packages, missing files)."""
    if not specifier.startswith((".", "/")):
        return None
    memo = index.cache.setdefault("javascript.specifiers", {})
    is_ts = importer.endswith((".ts", ".tsx", ".mts", ".cts"))
    key = (posixpath.dirname(importer), specifier, is_ts)
    if key not in memo:
        memo[key] = _module_file(specifier, importer, index, _TS_EXTS if is_ts else _JS_EXTS)
    return memo[key]


def _module_file(specifier: str, importer: str, index: ResolveIndex, exts: tuple[str, ...]) -> str | None:
    base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier)).lstrip("/")
    if base.startswith(".."):
        return None
    candidates = [base]
    stem, ext = posixpath.splitext(base)
    candidates += [stem + alt for alt in _COMPILED.get(ext, ())]
    candidates += [base + e for e in exts] + [f"{base}/index{e}" for e in exts]
    for candidate in candidates:
        if candidate in index.files:
            return candidate
    return None


def _lookup(path: str, name: str, index: ResolveIndex, depth: int = 0) -> _Target | None:
    """``name`` as module ``path`` exports it: its own top-level symbol, a binding, or
    a name of an ``export *`` source."""
    if depth > MAX_DEPTH:
        return None
    if "." not in name and index.has(path, name):
        return _Target(path=path, qualname=name)
    if name == "default" and index.has(path, f"{_file_stem(path)}.default"):  # export default function () {}
        return _Target(path=path, qualname=f"{_file_stem(path)}.default")
    pf = index.files.get(path)
    if pf is None:
        return None
    for imp in pf.imports:
        if imp.local == name and imp.name != "*":
            target = _import_target(imp, path, index, depth + 1)
            if target is not None:
                return target
    for imp in pf.imports:
        if imp.name == "*" and imp.module:
            mod = module_file(imp.module, path, index)
            target = _lookup(mod, name, index, depth + 1) if mod else None
            if target is not None:
                return target
    return None


def _import_target(imp: Import, importer: str, index: ResolveIndex, depth: int = 0) -> _Target | None:
    if not imp.module:  # the file's own name, exported under another
        return _lookup(importer, imp.name, index, depth)
    mod = module_file(imp.module, importer, index)
    if mod is None:
        return None
    if imp.name in ("", "*"):
        return _Target(module=mod)
    target = _lookup(mod, imp.name, index, depth)
    if target is None and imp.name == "default":
        return _Target(module=mod)  # a CommonJS module's exports object
    return target


def _bases(index: ResolveIndex):
    """(path, class qualname) → the classes and interfaces it extends or implements,
    memoized on the index."""
    memo = index.cache.setdefault("javascript.bases", {})

    def bases(path: str, qualname: str) -> list[tuple[str, str]]:
        key = (path, qualname)
        if key in memo:
            return memo[key]
        memo[key] = out = []  # filled below; a cycle of extends sees it unfinished
        pf = index.files.get(path)
        for ref in pf.refs if pf is not None else ():
            if ref.kind == "inherit" and ref.scope == qualname:
                target = _resolve_chain(ref.chain, pf, index)
                if target is not None and target.qualname:
                    out.append((target.path, target.qualname))
        return out

    return bases


def _resolve_chain(chain: list[str], pf: ParsedFile, index: ResolveIndex) -> _Target | None:
    """A dotted name through the file's own symbols and its imports (no receivers)."""
    head = chain[0]
    created = _NEW.match(head)
    if created:  # new Foo().bar: a member of the class
        chain = created.group(1).split(".") + chain[1:]
        head = chain[0]
    if not is_identifier(head):
        return None
    if index.has(pf.path, head):
        target: _Target | None = _Target(path=pf.path, qualname=head)
    else:
        target = next(
            (t for imp in pf.imports if imp.local == head and (t := _import_target(imp, pf.path, index))),
            None,
        )
    for part in chain[1:]:
        if target is None or not is_identifier(part):
            return None
        if target.module:
            target = _lookup(target.module, part, index)
        else:
            found = index.member(target.path, target.qualname, part, _bases(index))
            target = _Target(path=found.rpartition(":")[0], qualname=found.rpartition(":")[2]) if found else None
    return target


def _enclosing_class(scope: str, path: str, index: ResolveIndex) -> str | None:
    qual = scope
    while qual:
        sym = index.get(path, qual)
        if sym is not None and sym.kind in _CLASS_KINDS:
            return qual
        qual = qual.rpartition(".")[0]
    return None


def _same_family(ids: list[str], index: ResolveIndex, family: tuple[str, ...]) -> list[str]:
    """Keep candidates written in a language of ``family`` (a Go method is no JS callee)."""
    out = []
    for sid in ids:
        pf = index.files.get(sid.rpartition(":")[0])
        if pf is not None and pf.language in family:
            out.append(sid)
    return out


def resolve(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    file_node = symbol_id(pf.path, "")
    edges: list[Edge] = []
    bases = _bases(index)
    is_module = any(imp.module for imp in pf.imports)

    for imp in pf.imports:
        if not imp.module:
            continue
        target = _import_target(imp, pf.path, index)
        if target is not None:
            edges.append(Edge(file_node, target.id, "import", "import", CONFIDENCE["import"], imp.line))

    for ref in pf.refs:
        src = symbol_id(pf.path, ref.scope) if ref.scope else file_node
        chain, head = ref.chain, ref.chain[0]
        if head in ("this", "super") and len(chain) == 2:
            cls = _enclosing_class(ref.scope, pf.path, index)
            found = None
            owner = ref.scope.rpartition(".")[0]
            if head == "this" and owner and index.has(pf.path, f"{owner}.{chain[1]}"):
                found = symbol_id(pf.path, f"{owner}.{chain[1]}")  # a sibling: of a class, or of an object literal
            elif cls and head == "this":
                found = index.member(pf.path, cls, chain[1], bases)
            elif cls:
                found = next((f for b in bases(pf.path, cls) if (f := index.member(*b, chain[1], bases))), None)
            if found:
                edges.append(Edge(src, found, ref.kind, "self", CONFIDENCE["self"], ref.line))
            elif chain[1] not in _COMMON_METHODS:
                candidates = _same_family(index.by_name(chain[1], members=True), index, FAMILY)
                edges.extend(name_edges(src, candidates, ref.kind, ref.line))
            continue
        target = _resolve_chain(chain, pf, index)
        if target is not None:
            if target.qualname:
                if len(chain) > 1 or _NEW.match(head):
                    method = "qualified"
                else:
                    method = "local" if target.path == pf.path else "import"
                edges.append(Edge(src, target.id, ref.kind, method, CONFIDENCE[method], ref.line))
            continue  # a module is not a callee
        base = re.sub(r"^new\s+|\(\)$|\[\]$", "", head).split(".")[0]
        if base in _GLOBALS or any(imp.local == base for imp in pf.imports):
            continue  # a global, or made by something imported from outside the repository
        if len(chain) == 1:
            # In a module, a bare name that is neither defined nor imported is a global
            # or a local; only scripts share names across files.
            if not is_module and is_identifier(head):
                candidates = _same_family(index.by_name(head, exclude_path=pf.path), index, FAMILY)
                edges.extend(name_edges(src, candidates, ref.kind, ref.line))
        elif is_identifier(chain[-1]) and chain[-1] not in _COMMON_METHODS:
            # obj.method() with an unknown receiver: a method of that name, if rare.
            candidates = _same_family(index.by_name(chain[-1], members=True), index, FAMILY)
            edges.extend(name_edges(src, candidates, ref.kind, ref.line))
    return edges
