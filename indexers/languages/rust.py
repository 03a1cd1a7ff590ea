"""Rust hooks: modules from files, ``use`` trees, and ``Type.method`` from impl blocks.

The plug-in contract is in ``indexers/languages/__init__.py``. An ``impl`` block is a
container named after its type (the query captures it as ``@definition.impl``), so
``impl Transport for Client { fn send }`` yields the method ``Client.send`` and an
inherit reference from ``Client`` to ``Transport``. Imports, one per bound name, split
the path before its last segment:

  use crate::a::{b, c as d};   Import("crate::a", "b", "b"), Import("crate::a", "c", "d")
  use super::x::*;             Import("super::x", "*", "")
  mod net;                     Import("self", "net", "net")

A crate is the directory holding ``lib.rs`` or ``main.rs``; a module is ``x.rs`` or
``x/mod.rs`` under it (``#[path]`` attributes are not followed). Other crates of a
workspace are known by their directory name (``crates/my-util/src`` → ``my_util``).

A local variable in a call chain is replaced by its declared type, or by the call it was
initialized with (``let c = Client::new(); c.send()`` → ``Client::new().send``), and
resolution follows a called part through the return type its signature names
(``-> Self``, ``-> Client``).
"""

from __future__ import annotations

import posixpath
import re

from tree_sitter import Node

from ..lookup import CONFIDENCE, ResolveIndex, name_edges
from ..syntax import is_identifier, text_of
from ..types import Edge, Import, ParsedFile, symbol_id

# A definition line, for fold_file's focus on one that is no symbol (an fn inside an fn).
DEFINITION = (
    r"^\s*(?:(?:pub(?:\([^)]*\))?|async|const|unsafe|extern\s+\"[^\"]*\")\s+)*"
    r"(?:fn|struct|enum|trait|type|mod|union|macro_rules!)\s+{0}\b"
)
_FUNCTION_TYPES = {"function_item", "closure_expression", "const_block", "async_block"}
_TYPE_KINDS = ("struct", "enum", "trait", "type")
_ROOT_FILES = ("lib.rs", "main.rs")
_TEST_PATH = re.compile(r"(^|/)(tests|benches)/")
_EXTERNAL_ROOTS = {"std", "core", "alloc"}
_PATH_KEYWORDS = {"crate", "self", "super", "Self"}
MAX_DEPTH = 6  # `use` hops followed before giving up (also ends cycles)
# Methods of std's traits and types: on a receiver of unknown type they are almost never
# the repository's own.
_COMMON_METHODS = frozenset(
    "unwrap expect unwrap_or unwrap_or_else unwrap_or_default map map_err and_then ok err ok_or "
    "ok_or_else is_some is_none is_ok is_err clone cloned copied to_owned to_string into from "
    "try_into try_from as_ref as_mut as_str as_slice borrow borrow_mut iter iter_mut into_iter next "
    "collect filter fold count push pop insert remove get get_mut contains len is_empty extend "
    "append clear join split trim lines chars bytes fmt eq ne cmp partial_cmp hash default drop "
    "lock read write flush send recv take replace".split()
)
# A signature's return type when it is one plain path: `-> Self`, `-> &mut a::Command`.
_RETURNS = re.compile(r"->\s*&?\s*(?:'\w+\s+)?(?:mut\s+)?([A-Za-z_][\w:]*)\s*(?:where\b.*)?;?$")


# --- parsing hooks ---------------------------------------------------------------


def is_function_scope(node: Node) -> bool:
    return node.type in _FUNCTION_TYPES


def is_test_path(path: str) -> bool:
    """Integration tests and benchmarks: crates' ``tests/`` and ``benches/`` folders."""
    return bool(_TEST_PATH.search(path))


def in_test(node: Node, source: bytes) -> bool:
    """A ``#[test]`` function, or anything inside a ``#[cfg(test)]`` module."""
    if any(a == "test" or a.endswith("::test") or _cfg_test(a) for a in _attributes(node, source)):
        return True  # #[test], #[tokio::test]
    parent = node.parent
    while parent is not None:
        if parent.type == "mod_item" and any(_cfg_test(a) for a in _attributes(parent, source)):
            return True
        parent = parent.parent
    return False


def _cfg_test(attribute: str) -> bool:
    """``cfg(test)``, ``cfg(all(test, unix))``; not ``cfg(not(test))``."""
    return attribute.startswith("cfg(") and bool(re.search(r"\btest\b", attribute)) and "not(test)" not in attribute


def _attributes(item: Node, source: bytes) -> set[str]:
    """The attributes right above an item, spaces removed: ``test``, ``cfg(test)``."""
    out = set()
    prev = item.prev_named_sibling
    while prev is not None and prev.type in ("attribute_item", "line_comment", "block_comment"):
        if prev.type == "attribute_item":
            out.add(re.sub(r"\s+", "", text_of(prev, source))[2:-1])
        prev = prev.prev_named_sibling
    return out


def span_node(node: Node) -> Node:
    """An item starts at its first attribute (``#[derive]``), below its doc comment."""
    first = node
    prev = node.prev_named_sibling
    while prev is not None and prev.type == "attribute_item":
        first, prev = prev, prev.prev_named_sibling
    return first


def imports(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    if node.type == "mod_item":
        name = node.child_by_field_name("name")
        return [Import("self", text_of(name, source), text_of(name, source), line)] if name is not None else []
    argument = node.child_by_field_name("argument")
    out: list[Import] = []
    if argument is not None:
        _use_tree(argument, [], source, line, out)
    # Inside `mod tests { use super::*; }` super is the file's own module: a file's
    # imports are resolved from the file's module, so drop one `super` per inline level.
    depth, parent = 0, node.parent
    while parent is not None:
        depth += parent.type == "mod_item"
        parent = parent.parent
    if depth:
        for imp in out:
            parts = imp.module.split("::")
            while depth and parts and parts[0] == "super":
                parts, depth = parts[1:], depth - 1
            imp.module = "::".join(parts) or "self"
    return out


def _path_parts(node: Node, source: bytes) -> list[str]:
    return [p for p in text_of(node, source).replace(" ", "").split("::") if p]


def _bind(parts: list[str], local: str, line: int, out: list[Import]) -> None:
    if not parts:
        return
    if parts[-1] == "self":  # use a::b::{self} binds b
        parts = parts[:-1]
        local = parts[-1] if local == "self" and parts else local
    if len(parts) == 1:
        out.append(Import("self", parts[0], local, line))
    else:
        out.append(Import("::".join(parts[:-1]), parts[-1], local, line))


def _use_tree(node: Node, prefix: list[str], source: bytes, line: int, out: list[Import]) -> None:
    kind = node.type
    if kind in ("identifier", "scoped_identifier", "self", "crate", "super"):
        parts = prefix + _path_parts(node, source)
        _bind(parts, parts[-1] if parts else "", line, out)
    elif kind == "use_as_clause":
        path, alias = node.child_by_field_name("path"), node.child_by_field_name("alias")
        if path is not None and alias is not None:
            _bind(prefix + _path_parts(path, source), text_of(alias, source), line, out)
    elif kind == "use_wildcard":
        inner = node.named_children[0] if node.named_children else None
        parts = prefix + (_path_parts(inner, source) if inner is not None else [])
        out.append(Import("::".join(parts) or "self", "*", "", line))
    elif kind == "scoped_use_list":
        path = node.child_by_field_name("path")
        inner = prefix + (_path_parts(path, source) if path is not None else [])
        lst = node.child_by_field_name("list")
        for child in lst.named_children if lst is not None else ():
            _use_tree(child, inner, source, line, out)
    elif kind == "use_list":
        for child in node.named_children:
            _use_tree(child, prefix, source, line, out)


# --- the module map ------------------------------------------------------------------


def _crate_dir(path: str, files: set[str]) -> str | None:
    """The nearest directory above ``path`` holding a crate root file."""
    directory = posixpath.dirname(path)
    while True:
        if any(posixpath.join(directory, root) in files for root in _ROOT_FILES):
            return directory
        if not directory:
            return None
        directory = posixpath.dirname(directory)


def build_module_map(paths: list[str], index: ResolveIndex) -> dict:
    """``modules`` (crate dir, module path) → file; ``file_module`` file → (crate dir,
    module path); ``crates`` crate name → crate dir."""
    files = set(paths)
    modules: dict[tuple[str, tuple[str, ...]], str] = {}
    file_module: dict[str, tuple[str, tuple[str, ...]]] = {}
    crates: dict[str, str] = {}
    for path in sorted(paths):
        crate = _crate_dir(path, files)
        if crate is None:
            continue
        rel = path[len(crate) :].lstrip("/")[: -len(".rs")]
        parts = rel.split("/")
        if parts[-1] == "mod" or (len(parts) == 1 and parts[0] in ("lib", "main")):
            parts = parts[:-1]
        key = (crate, tuple(parts))
        if key not in modules or path.endswith("lib.rs"):
            modules[key] = path
        file_module[path] = key
        base = posixpath.basename(posixpath.dirname(crate)) if posixpath.basename(crate) == "src" else posixpath.basename(crate)
        if base:
            crates.setdefault(base.replace("-", "_"), crate)
    return {"modules": modules, "file_module": file_module, "crates": crates}


# --- resolution ----------------------------------------------------------------------


class _Target:
    """A module (crate dir, path) or a symbol (file, qualname)."""

    __slots__ = ("crate", "module", "path", "qualname")

    def __init__(self, crate=None, module=None, path=None, qualname=None):
        self.crate, self.module, self.path, self.qualname = crate, module, path, qualname

    @property
    def is_module(self) -> bool:
        return self.module is not None


class _Resolver:
    def __init__(self, index: ResolveIndex):
        self.index = index
        self.mm = index.module_map("rust")
        # Memos on the index: glob imports make name lookups costly to repeat.
        self._names = index.cache.setdefault("rust.names", {})
        self._traits = index.cache.setdefault("rust.traits", {})

    def module_file(self, crate: str, module: tuple[str, ...]) -> str | None:
        return self.mm["modules"].get((crate, module))

    def module_of(self, path: str) -> tuple[str, tuple[str, ...]] | None:
        return self.mm["file_module"].get(path)

    def in_module(self, crate: str, module: tuple[str, ...], name: str, depth: int = 0) -> _Target | None:
        """``name`` inside a module: an item, a child module, a ``use`` binding, a glob."""
        key = (crate, module, name)
        memo = self._names
        if key in memo:
            return memo[key]
        if depth > MAX_DEPTH:
            return None
        memo[key] = None  # a cycle of globs asks again: no answer there
        memo[key] = self._in_module(crate, module, name, depth)
        return memo[key]

    def _in_module(self, crate: str, module: tuple[str, ...], name: str, depth: int) -> _Target | None:
        path = self.module_file(crate, module)
        if path is not None and self.index.has(path, name):
            return _Target(path=path, qualname=name)
        if self.module_file(crate, module + (name,)) is not None:
            return _Target(crate=crate, module=module + (name,))
        pf = self.index.files.get(path) if path else None
        if pf is not None:
            for imp in pf.imports:
                if imp.local == name and not (imp.module == "self" and imp.name == name):  # `mod x;` was seen above
                    target = self.path_target(imp.module.split("::") + [imp.name], crate, module, depth + 1)
                    if target is not None:
                        return target
            for imp in pf.imports:
                if imp.name == "*":
                    base = self.path_target(imp.module.split("::"), crate, module, depth + 1)
                    target = self.in_module(base.crate, base.module, name, depth + 1) if base and base.is_module else None
                    if target is not None:
                        return target
        if name in self.mm["crates"]:  # other crates of the workspace are in every module's scope
            return _Target(crate=self.mm["crates"][name], module=())
        return None

    def path_target(self, parts: list[str], crate: str, module: tuple[str, ...], depth: int = 0, self_type: str = "") -> _Target | None:
        """A path (``crate::a::f``, ``super::x``, ``Type::new``) seen from a module; parts
        written ``f()`` stand for what ``f`` returns (``Command::new().arg``)."""
        if not parts or depth > MAX_DEPTH:
            return None
        head, rest = parts[0], parts[1:]
        name, called = _call_part(head)
        if name == "crate":
            target = _Target(crate=crate, module=())
        elif name == "self":
            target = _Target(crate=crate, module=module)
        elif name == "super":
            target = _Target(crate=crate, module=module[:-1])
            while rest and rest[0] == "super":
                target, rest = _Target(crate=crate, module=target.module[:-1]), rest[1:]
        elif name == "Self" and self_type:
            target = self.in_module(crate, module, self_type, depth)
        elif name in self.mm["crates"] and self.in_module(crate, module, name, depth) is None:
            target = _Target(crate=self.mm["crates"][name], module=())
        else:
            target = self.in_module(crate, module, name, depth)
        if called:
            target = self.returns(target, depth)
        return self.walk(target, rest, depth)

    def walk(self, target: _Target | None, parts: list[str], depth: int = 0) -> _Target | None:
        """Follow ``parts`` from a module or a type: items, associated functions, methods."""
        for part in parts:
            name, called = _call_part(part)
            if target is None or not is_identifier(name):
                return None
            if target.is_module:
                target = self.in_module(target.crate, target.module, name, depth + 1)
            else:
                found = self.associated(target, name)
                target = _Target(path=found.rpartition(":")[0], qualname=found.rpartition(":")[2]) if found else None
            if called:
                target = self.returns(target, depth)
        return target

    def returns(self, fn: _Target | None, depth: int = 0) -> _Target | None:
        """The type a function's signature says it returns, when that is a plain type
        (``-> Self``, ``-> Config``, ``-> &mut Command``); not ``Result<…>`` and the like."""
        sym = self.index.get(fn.path, fn.qualname) if fn is not None and not fn.is_module else None
        if sym is None or sym.kind not in ("function", "method") or depth > MAX_DEPTH:
            return None
        found = _RETURNS.search(sym.signature)
        if found is None:
            return None
        ret = found.group(1)
        where = self.module_of(sym.path)
        owner = sym.qualname.rpartition(".")[0]
        if ret == "Self" and owner:
            return self.type_in(sym.path, owner)
        if where is None or not all(is_identifier(p) for p in ret.split("::")):
            return None
        target = self.path_target(ret.split("::"), where[0], where[1], depth + 1)
        return target if target is not None and not target.is_module else None

    def type_in(self, path: str, type_name: str) -> _Target | None:
        """A type named in a file: defined there, or brought in by its module."""
        if self.index.has(path, type_name):
            return _Target(path=path, qualname=type_name)
        where = self.module_of(path)
        target = self.in_module(where[0], where[1], type_name) if where else None
        return target if target is not None and not target.is_module else _Target(path=path, qualname=type_name)

    def associated(self, type_target: _Target, name: str) -> str | None:
        """``Type::name``: in the type's file, then any impl of it in the same crate,
        then the traits it implements (default methods)."""
        return self.member(type_target.path, type_target.qualname, name, 0)

    def member(self, path: str, type_name: str, name: str, depth: int) -> str | None:
        qual = f"{type_name}.{name}"
        if self.index.has(path, qual):
            return symbol_id(path, qual)
        where = self.module_of(path)
        if where is not None:
            for sid in self.index.by_name(name, members=True):
                spath, _, squal = sid.rpartition(":")
                if squal == qual and self.module_of(spath) is not None and self.module_of(spath)[0] == where[0]:
                    return sid
        if depth >= 4:
            return None
        for trait_path, trait_name in self.traits(path, type_name):
            found = self.member(trait_path, trait_name, name, depth + 1)
            if found:
                return found
        return None

    def traits(self, path: str, type_name: str) -> list[tuple[str, str]]:
        """Traits implemented by (or supertraits of) the type, from inherit references
        in its own file."""
        if (path, type_name) in self._traits:
            return self._traits[path, type_name]
        pf = self.index.files.get(path)
        where = self.module_of(path)
        out: list[tuple[str, str]] = []
        self._traits[path, type_name] = out  # also ends cycles of supertraits
        for ref in pf.refs if pf is not None and where is not None else ():
            if ref.kind == "inherit" and ref.scope == type_name:
                target = self.path_target(ref.chain, where[0], where[1])
                if target is not None and not target.is_module:
                    out.append((target.path, target.qualname))
        return out

    def local_name(self, pf: ParsedFile, scope: str, name: str) -> _Target | None:
        """A bare name in a function: an item of an enclosing inline module, then the
        file's module."""
        qual = scope
        while qual:
            qual = qual.rpartition(".")[0]
            if qual and self.index.get(pf.path, qual) is None and self.index.has(pf.path, f"{qual}.{name}"):
                return _Target(path=pf.path, qualname=f"{qual}.{name}")  # mod tests { fn helper }
        where = self.module_of(pf.path)
        return self.in_module(where[0], where[1], name) if where else None


def _impl_type(scope: str, pf: ParsedFile, index: ResolveIndex) -> str:
    """The type of the impl block a scope is in: ``Client.send`` → ``Client``."""
    qual = scope
    while qual:
        qual, _, _ = qual.rpartition(".")
        sym = index.get(pf.path, qual) if qual else None
        if qual and (sym is None or sym.kind in _TYPE_KINDS):
            return qual.rpartition(".")[2]
    return ""


def _same_language(ids: list[str], index: ResolveIndex) -> list[str]:
    return [i for i in ids if (pf := index.files.get(i.rpartition(":")[0])) is not None and pf.language == "rust"]


def resolve(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    file_node = symbol_id(pf.path, "")
    res = _Resolver(index)
    where = res.module_of(pf.path)
    edges: list[Edge] = []
    if where is None:
        return edges
    crate, module = where

    for imp in pf.imports:
        parts = imp.module.split("::") + ([imp.name] if imp.name != "*" else [])
        target = res.path_target(parts, crate, module)
        if target is None:
            continue
        dst = symbol_id(res.module_file(target.crate, target.module), "") if target.is_module else symbol_id(target.path, target.qualname)
        edges.append(Edge(file_node, dst, "import", "import", CONFIDENCE["import"], imp.line))

    for ref in pf.refs:
        chain, head = ref.chain, ref.chain[0]
        src = symbol_id(pf.path, ref.scope) if ref.scope else file_node
        self_type = _impl_type(ref.scope, pf, index) if ref.scope else ""
        if ref.kind == "inherit":
            # impl Trait for Type: the edge leaves the type, wherever it is defined.
            owner = res.local_name(pf, "", ref.scope) if ref.scope and not index.has(pf.path, ref.scope) else None
            if owner is not None and not owner.is_module:
                src = symbol_id(owner.path, owner.qualname)
            self_type = ref.scope
        found, method = None, ""
        target = None
        name, called = _call_part(head)
        if not is_identifier(name):
            pass
        elif len(chain) == 1:
            target = res.local_name(pf, ref.scope, name)
            method = "local" if target is not None and target.path == pf.path else "import"
        elif name == "self":
            target = res.walk(res.type_in(pf.path, self_type), chain[1:]) if self_type else None
            method = "self"
        elif name in _PATH_KEYWORDS:  # crate::, super::, Self::
            target = res.path_target(chain, crate, module, self_type=self_type)
            method = "self" if name == "Self" else "qualified"
        else:
            # The first name is looked up as a bare name (it sees inline modules too).
            first = res.local_name(pf, ref.scope, name)
            target, method = res.walk(res.returns(first) if called else first, chain[1:]), "qualified"
        if target is not None and not target.is_module:
            found = symbol_id(target.path, target.qualname)
        if found:
            edges.append(Edge(src, found, ref.kind, method, CONFIDENCE[method], ref.line))
            continue
        last = chain[-1]
        if len(chain) > 1 and is_identifier(last) and last not in _COMMON_METHODS and head not in _EXTERNAL_ROOTS and not head[:1].isupper():
            if head == "self" or not any(imp.local == head for imp in pf.imports):
                # value.method() with an unknown receiver: a method of that name, if rare.
                candidates = _same_language(index.by_name(last, members=True), index)
                edges.extend(name_edges(src, candidates, ref.kind, ref.line))
    return edges


def _call_part(part: str) -> tuple[str, bool]:
    """``new()`` → ("new", True): a chain part that is called."""
    return (part[:-2], True) if part.endswith("()") else (part, False)


def ref_text(node: Node, source: bytes) -> str:
    """The callee with arguments elided (``a.b(x).c`` → ``a.b().c``) and a local
    variable replaced by its declared type or its initializer (``let c = Client::new();
    c.send()`` → ``Client::new().send``)."""
    kind = node.type
    if kind == "field_expression":
        value, field = node.child_by_field_name("value"), node.child_by_field_name("field")
        if value is not None and field is not None:
            head = _declared(value, source) if value.type == "identifier" else None
            return f"{head or ref_text(value, source)}.{text_of(field, source)}"
    elif kind == "call_expression":
        func = node.child_by_field_name("function")
        if func is not None:
            return f"{ref_text(func, source)}()"
    elif kind in ("try_expression", "reference_expression", "await_expression", "parenthesized_expression") and node.named_children:
        return ref_text(node.named_children[0], source)
    elif kind == "index_expression" and node.named_children:
        return f"{ref_text(node.named_children[0], source)}[]"
    return text_of(node, source)


def _type_path(node: Node | None, source: bytes) -> str | None:
    """``&mut a::Command<'_>`` → ``a::Command``; none for tuples, slices, primitives."""
    while node is not None and node.type in ("reference_type", "generic_type"):
        node = node.child_by_field_name("type")
    if node is not None and node.type in ("type_identifier", "scoped_type_identifier"):
        return text_of(node, source)
    return None


def _declared(ident: Node, source: bytes) -> str | None:
    """What the variable ``ident`` was declared as: a parameter's or a ``let``'s type,
    else the ``let``'s value when it says its type (``Client::new(..)``, ``Client {..}``)."""
    name = text_of(ident, source)
    child, node = ident, ident.parent
    while node is not None:
        if node.type == "block":
            found = None
            for stmt in node.named_children:
                if stmt.start_byte >= child.start_byte:
                    break
                pattern = stmt.child_by_field_name("pattern") if stmt.type == "let_declaration" else None
                if pattern is not None and pattern.type == "identifier" and text_of(pattern, source) == name:
                    found = _type_path(stmt.child_by_field_name("type"), source) or _value_type(stmt.child_by_field_name("value"), source)
            if found:
                return found
        elif node.type in ("function_item", "closure_expression"):
            params = node.child_by_field_name("parameters")
            for param in params.named_children if params is not None else ():
                pattern = param.child_by_field_name("pattern")
                if param.type == "parameter" and pattern is not None and text_of(pattern, source) == name:
                    return _type_path(param.child_by_field_name("type"), source)
            if node.type == "function_item":
                return None
        child, node = node, node.parent
    return None


def _value_type(value: Node | None, source: bytes) -> str | None:
    if value is None:
        return None
    if value.type == "struct_expression":
        return _type_path(value.child_by_field_name("name"), source)
    if value.type == "call_expression":
        rendered = ref_text(value, source)
        return rendered if "(" not in rendered[:-2] else None  # one call: Type::new()
    return None
