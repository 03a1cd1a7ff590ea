"""Python hooks: imports, docstrings, module names and reference resolution.

The plug-in contract (what every language module provides, and the optional parts) is
``LanguagePlugin`` and ``Hooks`` in ``indexers/languages/__init__.py``.
"""

from __future__ import annotations

import builtins
import posixpath
import re

from tree_sitter import Node

from ..lookup import CONFIDENCE, MAX_NAME_CANDIDATES, ResolveIndex, name_edges
from ..syntax import MAX_SIGNATURE_CHARS, is_identifier, text_of
from ..types import Edge, Import, ParsedFile, symbol_id

_BUILTINS = set(dir(builtins))
MODULE_MAP_FROM_PATHS = True  # build_module_map reads paths only, never symbols
_FUNCTION_TYPES = {"function_definition", "lambda"}
# A definition line, for fold_file's focus on a def that is no symbol (nested in a function).
DEFINITION = r"^\s*(?:async\s+)?(?:def|class|type)\s+{}\b"
# Test code: tests/ and testing/ folders, test_*.py, *_test.py, conftest.py.
_TEST_PATH = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_tests?\.pyi?$|(^|/)conftest\.py$")
# The class a function returns, from the end of its one-line signature:
# -> Cart, -> "Cart", -> Optional[Cart], -> Cart | None, -> None | Cart
_RETURNS = re.compile(r'\)\s*->\s*(?:Optional\[\s*([\w.]+)\s*\]|"([\w.]+)"|([\w.]+)(?:\s*\|\s*None)?|None\s*\|\s*([\w.]+))$')


def is_function_scope(node: Node) -> bool:
    return node.type in _FUNCTION_TYPES


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def span_node(node: Node) -> Node:
    """A decorated definition starts at its first decorator."""
    parent = node.parent
    return parent if parent is not None and parent.type == "decorated_definition" else node


def docstring(node: Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    if body is None or not body.named_children:
        return ""
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_children and first.named_children[0].type == "string":
        raw = text_of(first.named_children[0], source)
        return raw.strip("rRbBuU").strip("\"'").strip()
    return ""


def imports(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    out: list[Import] = []
    if node.type == "import_statement":
        for child in node.named_children:
            if child.type == "aliased_import":
                module = text_of(child.child_by_field_name("name"), source)
                out.append(Import(module, "", text_of(child.child_by_field_name("alias"), source), line))
            elif child.type == "dotted_name":
                module = text_of(child, source)
                out.append(Import(module, "", module, line))  # binds the dotted path itself
        return out
    module_node = node.child_by_field_name("module_name")
    module = text_of(module_node, source).replace(" ", "") if module_node else ""
    if any(c.type == "wildcard_import" for c in node.named_children):
        return [Import(module, "*", "", line)]
    for child in node.children_by_field_name("name"):
        if child.type == "aliased_import":
            name = text_of(child.child_by_field_name("name"), source)
            out.append(Import(module, name, text_of(child.child_by_field_name("alias"), source), line))
        else:
            name = text_of(child, source)
            out.append(Import(module, name, name, line))
    return out


def build_module_map(paths: list[str], index: ResolveIndex) -> dict[str, str]:
    """Dotted module name → file, both from the top package root (walking up
    ``__init__.py``) and from the repository root, with ``src/``-style roots stripped."""
    path_set = set(paths)
    modules: dict[str, str] = {}
    # A repository whose root is itself a package (indexing django/ inside the checkout)
    # imports its modules by the root folder's name.
    root_package = index.root.name if index.root is not None and "__init__.py" in path_set else ""
    if root_package:
        modules[root_package] = "__init__.py"
    for path in sorted(paths, key=lambda p: (p.count("/"), p)):
        if not path.endswith((".py", ".pyi")):
            continue
        stem = path.rsplit(".", 1)[0]
        parts = stem.split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not parts:
            continue
        names = {".".join(parts)}
        # Walk up while the directory is a package.
        top = len(parts) - 1
        while top > 0 and "/".join(parts[:top]) + "/__init__.py" in path_set:
            top -= 1
        names.add(".".join(parts[top:]))
        if root_package and top == 0:
            names.add(f"{root_package}.{'.'.join(parts)}")
        if parts[0] in ("src", "lib", "python") and len(parts) > 1:
            names.add(".".join(parts[1:]))
        for name in names:
            if path.endswith(".pyi") and name in modules:
                continue  # prefer the implementation over its stub
            modules.setdefault(name, path)
    return modules


def _relative_base(path: str, module: str) -> tuple[str, str]:
    """For ``from ..a.b import x`` in pkg/sub/m.py: (directory "pkg", rest "a.b")."""
    level = len(module) - len(module.lstrip("."))
    directory = posixpath.dirname(path)
    for _ in range(level - 1):
        directory = posixpath.dirname(directory)
    return directory, module[level:]


def _module_file(module: str, importer: str, index: ResolveIndex) -> str | None:
    if not module.startswith("."):
        return index.module_map("python").get(module)
    memo = index.cache.setdefault("python.relative", {})
    key = (module, posixpath.dirname(importer))
    if key not in memo:
        directory, rest = _relative_base(importer, module)
        base = posixpath.join(directory, *rest.split(".")) if rest else directory
        memo[key] = next(
            (c for c in (base + ".py", base + "/__init__.py", base + ".pyi", base + "/__init__.pyi") if c in index.files),
            None,
        )
    return memo[key]


class _Target:
    """What a local name stands for: a module file, or a symbol (path, qualname)."""

    __slots__ = ("module", "path", "qualname")

    def __init__(self, module: str | None = None, path: str | None = None, qualname: str | None = None):
        self.module, self.path, self.qualname = module, path, qualname


def _member_of_module(mod_path: str, name: str, index: ResolveIndex, depth: int = 0) -> _Target | None:
    """``name`` as seen from module ``mod_path``: its own def, a re-export, or a submodule.
    Memoized on the index: star-import chains (``from .core import *``) otherwise make
    every lookup walk the same modules again."""
    memo = index.cache.setdefault("python.member", {})
    key = (mod_path, name)
    if key in memo:
        return memo[key]
    memo[key] = None  # a cycle of re-exports resolves to nothing
    memo[key] = found = _find_member(mod_path, name, index, depth)
    return found


def _find_member(mod_path: str, name: str, index: ResolveIndex, depth: int) -> _Target | None:
    if index.has(mod_path, name):
        return _Target(path=mod_path, qualname=name)
    if depth < 6 and mod_path in index.files:
        for imp in index.files[mod_path].imports:
            if imp.local == name or (imp.name == "*" and imp.local == ""):
                target = _import_target(imp, mod_path, index, depth + 1, want=name)
                if target is not None:
                    return target
    if mod_path.endswith(("__init__.py", "__init__.pyi")):
        sub = _module_file("." + name, mod_path, index)
        if sub:
            return _Target(module=sub)
    return None


def _import_target(imp: Import, importer: str, index: ResolveIndex, depth: int = 0, want: str | None = None) -> _Target | None:
    if not imp.name:  # import a.b [as x]
        mod = _module_file(imp.module, importer, index)
        return _Target(module=mod) if mod else None
    if imp.name == "*":
        mod = _module_file(imp.module, importer, index)
        return _member_of_module(mod, want, index, depth) if mod and want else None
    mod = _module_file(imp.module, importer, index) if imp.module.strip(".") or imp.module.startswith(".") else None
    if mod is not None:
        target = _member_of_module(mod, imp.name, index, depth)
        if target is not None:
            return target
    # `from pkg import submodule`
    joined = f"{imp.module}.{imp.name}" if not imp.module.endswith(".") else imp.module + imp.name
    sub = _module_file(joined, importer, index)
    return _Target(module=sub) if sub else None


def _bases(index: ResolveIndex):
    """A function (path, class qualname) → resolved base classes, memoized on the index."""
    memo = index.cache.setdefault("python.bases", {})

    def bases(path: str, qualname: str):
        key = (path, qualname)
        if key in memo:
            return memo[key]
        memo[key] = []  # guards against inheritance cycles while resolving
        pf = index.files.get(path)
        out = []
        if pf is not None:
            for ref in pf.refs:
                if ref.kind == "inherit" and ref.scope == qualname:
                    target = _resolve_chain(ref.chain, pf, qualname, index)
                    if target is not None and target.path and target.qualname:
                        out.append((target.path, target.qualname))
        memo[key] = out
        return out

    return bases


def _resolve_chain(chain: list[str], pf: ParsedFile, scope: str, index: ResolveIndex) -> _Target | None:
    """Resolve a dotted chain through local definitions and imports (no receivers)."""
    head = chain[0]
    if not is_identifier(head):
        return None
    target: _Target | None = None
    # Enclosing classes see their own nested names first (Outer.Inner), then the module.
    if index.has(pf.path, head):
        target = _Target(path=pf.path, qualname=head)
    else:
        # A dotted import binds its whole path: `import os.path` then `os.path.join`.
        imported = _imports_by_local(pf, index)
        for n in range(len(chain), 0, -1):
            local = ".".join(chain[:n])
            for imp in imported.get(local, ()):
                target = _import_target(imp, pf.path, index)
                if target is not None:
                    chain = [local] + chain[n:]
                    break
            if target is not None:
                break
    if target is None:
        return None
    for part in chain[1:]:
        if not is_identifier(part):
            return None
        if target.module:
            target = _member_of_module(target.module, part, index)
        elif target.path and target.qualname:
            found = index.member(target.path, target.qualname, part, _bases(index))
            target = _Target(path=found.rpartition(":")[0], qualname=found.rpartition(":")[2]) if found else None
        else:
            return None
        if target is None:
            return None
    return target


def _enclosing_class(pf: ParsedFile, scope: str, index: ResolveIndex) -> str | None:
    qual = scope
    while qual:
        sym = index.get(pf.path, qual)
        if sym is not None and sym.kind == "class":
            return qual
        qual = qual.rpartition(".")[0]
    return None


def _py_only(ids: list[str]) -> list[str]:
    """Bare-name candidates in Python files only: a name never links across languages.
    A name defined in many places links to none of them, so long lists stop early."""
    if len(ids) > 4 * MAX_NAME_CANDIDATES:
        return ids
    return [i for i in ids if i.split(":", 1)[0].endswith((".py", ".pyi"))]


def _imports_by_local(pf: ParsedFile, index: ResolveIndex) -> dict[str, list[Import]]:
    memo = index.cache.setdefault("python.imports", {})
    table = memo.get(pf.path)
    if table is None:
        table = {}
        for imp in pf.imports:
            table.setdefault(imp.local, []).append(imp)
        memo[pf.path] = table
    return table


def _aliased_class(target: _Target | None, index: ResolveIndex) -> _Target | None:
    """The class a resolved name stands for: itself, or what an alias (``Eq = Equality``)
    names, through at most three aliases."""
    for _ in range(4):
        if target is None or not target.path or not target.qualname:
            return None
        sym = index.get(target.path, target.qualname)
        if sym is None or sym.kind not in ("class", "alias"):
            return None
        if sym.kind == "class":
            return target
        owner = index.files.get(target.path)
        named = _alias_names(owner, index).get(sym.qualname) if owner else None
        target = _resolve_chain(named, owner, "", index) if named else None
    return None


def _returned_class(target: _Target | None, index: ResolveIndex) -> _Target | None:
    """The class that a resolved function says it returns (``def make() -> Cart``)."""
    if target is None or not target.path or not target.qualname:
        return None
    sym = index.get(target.path, target.qualname)
    if sym is None or sym.kind not in ("function", "method") or len(sym.signature) >= MAX_SIGNATURE_CHARS:
        return None  # a signature cut at the limit may have lost its annotation's end
    m = _RETURNS.search(sym.signature)
    owner = index.files.get(target.path)
    if m is None or owner is None:
        return None
    name = next(g for g in m.groups() if g)
    return _aliased_class(_resolve_chain(name.split("."), owner, sym.qualname, index), index)


def _instance_class(chain: list[str], pf: ParsedFile, scope: str, index: ResolveIndex) -> _Target | None:
    """The class of what ``chain(...)`` makes: the class it names (through aliases), or
    the class the function it names returns."""
    resolved = _resolve_chain(chain, pf, scope, index)
    return _aliased_class(resolved, index) or _returned_class(resolved, index)


def _alias_names(pf: ParsedFile, index: ResolveIndex) -> dict[str, list[str]]:
    """Alias qualname → the chain it names, per file (memoized on the index)."""
    memo = index.cache.setdefault("python.aliases", {})
    table = memo.get(pf.path)
    if table is None:
        aliases = {s.qualname for s in pf.symbols if s.kind == "alias"}
        table = {}
        for ref in pf.refs:
            if ref.kind == "type" and ref.scope in aliases:
                table.setdefault(ref.scope, ref.chain)
        memo[pf.path] = table
    return table


def _receiver_types(pf: ParsedFile, index: ResolveIndex) -> dict[tuple[str, str], tuple[str, str]]:
    """(scope, bound name) → (path, class qualname) for names bound to a class's
    instance (``x = Cls(...)``, ``x = make()`` after ``def make() -> Cls``, a parameter
    ``x: Cls`` or ``x: Cls = ...`` in a function; ``self.x = Cls(...)``, ``self.x: Cls``,
    ``self.x = x`` after one of those, or ``x: Cls`` in the class body, keyed by the class).
    A name bound to a class and to its subclasses (``self.lang: Base = Sub()``) is typed
    as that class; to two unrelated ones, not at all."""
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    copies = []  # self.x = x: typed once the names of its function are
    for ref in pf.refs:
        self_attr = ref.target.startswith("self.") and ref.target.count(".") == 1
        if ref.kind == "copy" and self_attr:
            copies.append(ref)
        if ref.kind != "assign":
            continue
        # A function is named here only as the callee of ``x = make(...)``: the annotation
        # forms name classes.
        target = _instance_class(ref.chain, pf, ref.scope, index)
        if target is not None:
            for key in _bound_keys(ref, self_attr, pf, index):
                found.setdefault(key, set()).add((target.path, target.qualname))
    for ref in copies:
        types = found.get((ref.scope, ref.chain[0]))
        if types is None:
            # A name, not a call: a function named here has no return value to type it by.
            target = _aliased_class(_resolve_chain(ref.chain, pf, ref.scope, index), index)
            types = {(target.path, target.qualname)} if target is not None else None
        for key in _bound_keys(ref, True, pf, index) if types else ():
            found.setdefault(key, set()).update(types)
    bases = _bases(index)
    typed = {}
    for key, types in found.items():
        common = types if len(types) == 1 else [t for t in types if all(o == t or t in _ancestors(o, bases) for o in types)]
        if common:
            typed[key] = next(iter(common))
    return typed


def _ancestors(cls: tuple[str, str], bases, depth: int = 6) -> set[tuple[str, str]]:
    seen: set[tuple[str, str]] = set()
    frontier = [cls]
    for _ in range(depth):
        frontier = [b for c in frontier for b in bases(*c) if b not in seen]
        seen.update(frontier)
    return seen


def _bound_keys(ref, self_attr: bool, pf: ParsedFile, index: ResolveIndex) -> list[tuple[str, str]]:
    """Where an assignment binds its name: (class, "self.x") for an attribute of the
    instance (also ``x: Cls`` in a class body), (scope, name) for a local name."""
    if self_attr:
        owner = _enclosing_class(pf, ref.scope, index)
        return [(owner, ref.target)] if owner is not None else []
    if not is_identifier(ref.target):
        return []
    keys = [(ref.scope, ref.target)]
    if ref.scope and getattr(index.get(pf.path, ref.scope), "kind", "") == "class":
        keys.append((ref.scope, f"self.{ref.target}"))
    return keys


def _typed_receiver(chain, scope, receivers, pf, index) -> tuple[str, str] | None:
    """The class of the receiver of a chain's last part: a typed name (``cart.add``), a
    typed attribute of self (``self.client.send``), or a property of either annotated to
    return a class (``self.variable.copy`` after ``def variable(self) -> Variable``)."""
    if len(chain) == 2 and (scope, chain[0]) in receivers:
        return receivers[(scope, chain[0])]
    if len(chain) != 3:
        return None
    if chain[0] == "self":
        owner = _enclosing_class(pf, scope, index)
        if owner is None:
            return None
        typed = receivers.get((owner, f"self.{chain[1]}"))
        if typed is not None:
            return typed
        holder = (pf.path, owner)
    elif (scope, chain[0]) in receivers:
        holder = receivers[(scope, chain[0])]
    else:
        return None
    # Many calls go through the same few attributes (self.args, self.env): memoized per index.
    memo = index.cache.setdefault("python.properties", {})
    key = (*holder, chain[1])
    if key not in memo:
        found = index.member(*holder, chain[1], _bases(index))
        path, _, qualname = (found or "").rpartition(":")
        returned = _returned_class(_Target(path=path, qualname=qualname), index) if found else None
        memo[key] = (returned.path, returned.qualname) if returned is not None else None
    return memo[key]


def resolve(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    file_node = symbol_id(pf.path, "")
    edges: list[Edge] = []
    bases = _bases(index)
    imported = _imports_by_local(pf, index)

    for imp in pf.imports:
        target = _import_target(imp, pf.path, index, want=None)
        if target is None:
            continue
        dst = symbol_id(target.module, "") if target.module else symbol_id(target.path, target.qualname)
        edges.append(Edge(file_node, dst, "import", "import", CONFIDENCE["import"], imp.line))

    receivers = _receiver_types(pf, index)
    for ref in pf.refs:
        if ref.kind in ("assign", "copy"):
            continue
        src = symbol_id(pf.path, ref.scope) if ref.scope else file_node
        chain = ref.chain
        head = chain[0]
        kind = ref.kind
        # cart.add() after cart = Cart(...); self.client.send() after self.client = Client(...)
        typed = _typed_receiver(chain, ref.scope, receivers, pf, index)
        if typed is not None:
            found = index.member(typed[0], typed[1], chain[-1], bases)
            if found:
                edges.append(Edge(src, found, kind, "qualified", CONFIDENCE["qualified"], ref.line))
                continue
        # self.method() / cls.method() / super().method()
        if head in ("self", "cls", "super()") and len(chain) == 2:
            cls_qual = _enclosing_class(pf, ref.scope, index)
            if cls_qual:
                if head == "super()":
                    found = None
                    for bpath, bqual in bases(pf.path, cls_qual):
                        found = index.member(bpath, bqual, chain[1], bases)
                        if found:
                            break
                else:
                    found = index.member(pf.path, cls_qual, chain[1], bases)
                if found:
                    edges.append(Edge(src, found, kind, "self", CONFIDENCE["self"], ref.line))
                    continue
            edges.extend(name_edges(src, _py_only(index.by_name(chain[-1], members=True)), kind, ref.line, most=1))
            continue
        target = _resolve_chain(chain, pf, ref.scope, index)
        if target is not None and target.path and target.qualname:
            # A type edge goes to a class; an alias (pprint = pretty_print) may name anything.
            if (kind == "type" and getattr(index.get(target.path, target.qualname), "kind", "") != "class"
                    and getattr(index.get(pf.path, ref.scope), "kind", "") != "alias"):
                continue
            method = "local" if target.path == pf.path and len(chain) == 1 else ("import" if len(chain) == 1 else "qualified")
            edges.append(Edge(src, symbol_id(target.path, target.qualname), kind, method, CONFIDENCE[method], ref.line))
            continue
        if target is not None:
            continue  # resolved to a module: not a call edge
        if len(chain) == 1:
            if head in _BUILTINS or not is_identifier(head):
                continue
            if head in imported:
                continue  # imported from outside the repository
            edges.extend(name_edges(src, _py_only(index.by_name(head, exclude_path=pf.path)), kind, ref.line, most=1))
        # obj.method() with a receiver of unknown type gets no edge: against jedi, guesses by
        # method name were right 11-50% of the time (benchmarks/call_precision.py).
    return edges
