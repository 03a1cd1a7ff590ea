"""Go hooks: a package is a directory, a method is ``Type.Method`` after its receiver.

The plug-in contract is in ``indexers/languages/__init__.py``. Imports become
``Import(path, "", local)`` where ``local`` is the alias, or the path's last element
when there is none (``_`` imports bind nothing; ``import . "p"`` has name ``"*"``).
Import paths map to directories through the ``module`` line of the nearest ``go.mod``
when the index knows the repository root, and otherwise by matching the paths' tails
against the repository's Go directories.

A variable whose type the function states (``func f(s *store.Store)``, ``var s Store``,
``s := &Store{}``) is replaced by that type in call chains: ``s.Name()`` is recorded as
``store.Store.Name``; one assigned from a call by the call (``s := store.New()`` makes
``store.New().Put``), which resolution follows through the callee's declared result. The
method's own receiver is kept, so that resolution can say "self".
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from pathlib import Path

from tree_sitter import Node

from ..lookup import CONFIDENCE, ResolveIndex, name_edges
from ..syntax import is_identifier, text_of
from ..types import Edge, Import, ParsedFile, symbol_id

# A definition line, for fold_file's focus on one that is no symbol: func (r *T) M,
# type T, and a function literal bound to a name (f := func).
DEFINITION = r"^\s*(?:(?:func|type)\s+(?:\([^)]*\)\s*)?{0}\b|(?:var\s+)?{0}\s*:?=\s*func\b)"
_FUNCTION_TYPES = {"function_declaration", "method_declaration", "func_literal"}
_FUNC_DECLS = {"function_declaration", "method_declaration"}
_RECEIVER = re.compile(r"^func\s*\(\s*([A-Za-z_]\w*)\s+\*?\s*([A-Za-z_]\w*)")
_MODULE_LINE = re.compile(r"^\s*module\s+\"?([^\s\"]+)\"?", re.M)
_VERSION = re.compile(r"^v\d+$")
_TYPE_KINDS = ("struct", "interface", "type")
MAX_EMBED_DEPTH = 5
# Methods that standard interfaces name (Stringer, error, io, sync, sort, context): on a
# receiver of unknown type they are almost never the repository's own.
_COMMON_METHODS = frozenset(
    "String Error Close Read Write Flush Len Less Swap Lock Unlock RLock RUnlock Done Err Value "
    "Deadline Wait Add Get Set Del Next Scan Seek Unwrap Is As".split()
)


# --- parsing hooks ---------------------------------------------------------------


def is_function_scope(node: Node) -> bool:
    return node.type in _FUNCTION_TYPES


def is_test_path(path: str) -> bool:
    """``go test`` builds the files named ``*_test.go``, and only those, as tests."""
    return path.endswith("_test.go")


def _type_name(node: Node | None, source: bytes, qualified: bool = False) -> str | None:
    """``*List[T]`` → ``List``; with ``qualified``, ``*store.Store`` → ``store.Store``."""
    while node is not None and node.type in ("pointer_type", "generic_type", "parenthesized_type"):
        node = node.child_by_field_name("type") if node.type == "generic_type" else (node.named_children or [None])[0]
    if node is None:
        return None
    if node.type == "type_identifier" or (qualified and node.type == "qualified_type"):
        return text_of(node, source)
    return None


def qualifier(node: Node, source: bytes) -> str | None:
    """A method's receiver type: ``func (s *Store) Put()`` → ``Store``."""
    if node.type != "method_declaration":
        return None
    receiver = node.child_by_field_name("receiver")
    for param in receiver.named_children if receiver is not None else ():
        if param.type == "parameter_declaration":
            return _type_name(param.child_by_field_name("type"), source)
    return None


def span_node(node: Node) -> Node:
    """``type X struct`` alone in its declaration starts at ``type`` (where its comment is)."""
    parent = node.parent
    if node.type == "type_spec" and parent is not None and parent.type == "type_declaration":
        if sum(1 for c in parent.named_children if c.type in ("type_spec", "type_alias")) == 1:
            return parent
    return node


def package(root: Node, source: bytes) -> str:
    for child in root.named_children:
        if child.type == "package_clause" and child.named_children:
            return text_of(child.named_children[0], source)
    return ""


def default_local(path: str) -> str:
    """The name an unaliased import binds, by convention: the last element of its path
    (``gopkg.in/yaml.v2`` → yaml, ``x/y/v2`` → y, ``go-isatty`` → isatty)."""
    parts = path.split("/")
    last = parts[-1]
    if _VERSION.match(last) and len(parts) > 1:
        last = parts[-2]
    last = re.sub(r"\.v\d+$", "", last)
    return last.rsplit("-", 1)[-1].replace(".", "_")


def imports(node: Node, source: bytes) -> list[Import]:
    out: list[Import] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in ("import_declaration", "import_spec_list"):
            stack.extend(reversed(current.named_children))
            continue
        if current.type != "import_spec":
            continue
        path_node = current.child_by_field_name("path")
        if path_node is None:
            continue
        path = text_of(path_node, source).strip("\"`")
        name = current.child_by_field_name("name")
        line = current.start_point[0] + 1
        if name is None:
            out.append(Import(path, "", default_local(path), line))
        elif name.type == "dot":
            out.append(Import(path, "*", "", line))
        elif name.type == "blank_identifier":
            out.append(Import(path, "", "", line))
        else:
            out.append(Import(path, "", text_of(name, source), line))
    return out


def ref_text(node: Node, source: bytes) -> str:
    """The callee with arguments elided (``a.B(x).C`` → ``a.B().C``) and a variable
    replaced by what it was declared as (see the module docstring)."""
    kind = node.type
    if kind == "selector_expression":
        operand, field = node.child_by_field_name("operand"), node.child_by_field_name("field")
        if operand is not None and field is not None:
            head = None
            if operand.type == "identifier":
                head = _declared_type(operand, source)
            return f"{head or ref_text(operand, source)}.{text_of(field, source)}"
    elif kind == "call_expression":
        func = node.child_by_field_name("function")
        if func is not None:
            return f"{ref_text(func, source)}()"
    elif kind in ("index_expression", "type_assertion_expression"):
        operand = node.child_by_field_name("operand")
        if operand is not None:
            return f"{ref_text(operand, source)}[]"
    elif kind == "parenthesized_expression" and node.named_children:
        return ref_text(node.named_children[0], source)
    return text_of(node, source)


def _declared_type(ident: Node, source: bytes) -> str | None:
    """What a local variable or parameter was declared as, when the code says: its
    type, or the call it was assigned from."""
    name = text_of(ident, source)
    child, node = ident, ident.parent
    while node is not None:
        if node.type == "statement_list":
            found = None
            for stmt in node.named_children:
                if stmt.start_byte >= child.start_byte:
                    break
                found = _type_from_statement(stmt, name, source) or found
            if found:
                return found
        elif node.type in _FUNCTION_TYPES:
            params = node.child_by_field_name("parameters")
            for param in params.named_children if params is not None else ():
                names = [text_of(n, source) for n in param.children_by_field_name("name")]
                if name in names:
                    return _type_name(param.child_by_field_name("type"), source, qualified=True)
            if node.type in _FUNC_DECLS:
                return None
        child, node = node, node.parent
    return None


def _type_from_statement(stmt: Node, name: str, source: bytes) -> str | None:
    if stmt.type == "var_declaration":
        for spec in stmt.named_children:
            names = [text_of(n, source) for n in spec.children_by_field_name("name")]
            if spec.type == "var_spec" and name in names:
                typed = _type_name(spec.child_by_field_name("type"), source, qualified=True)
                if typed:
                    return typed
                value = spec.child_by_field_name("value")
                values = value.named_children if value is not None else []
                return _type_of_value(values[names.index(name)], source) if len(values) == len(names) else None
    elif stmt.type == "short_var_declaration":
        left, right = stmt.child_by_field_name("left"), stmt.child_by_field_name("right")
        if left is None or right is None:
            return None
        names = [text_of(n, source) for n in left.named_children]
        values = right.named_children
        if name in names and len(values) == len(names):
            return _type_of_value(values[names.index(name)], source)
        if names and name == names[0] and len(values) == 1 and values[0].type == "call_expression":
            return ref_text(values[0], source)  # s, err := store.Open(): the first result
    return None


def _type_of_value(value: Node, source: bytes) -> str | None:
    """``&T{}``, ``T{}`` and ``new(T)`` say their type; a call stands for its result."""
    if value.type == "unary_expression":
        operand = value.child_by_field_name("operand")
        value = operand if operand is not None else value
    if value.type == "composite_literal":
        return _type_name(value.child_by_field_name("type"), source, qualified=True)
    if value.type == "call_expression":
        func, args = value.child_by_field_name("function"), value.child_by_field_name("arguments")
        if func is not None and text_of(func, source) == "new" and args is not None and args.named_children:
            return _type_name(args.named_children[0], source, qualified=True)
        return ref_text(value, source)  # s := store.New(): what New returns
    return None


# --- the module map ------------------------------------------------------------------


def build_module_map(paths: list[str], index: ResolveIndex) -> dict:
    """Go's lookups, built once per index:
    ``dirs`` directory → files; ``symbols`` (directory, qualname) → symbol id;
    ``packages`` directory → package name; ``imports`` import path → directory;
    ``embeds`` (directory, type) → (file, chain) of each embedded type;
    ``implements`` type symbol id → ids of interfaces whose methods it has."""
    dirs: dict[str, list[str]] = {}
    symbols: dict[tuple[str, str], str] = {}
    packages: dict[str, str] = {}
    embeds: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
    for path in sorted(paths):
        pf = index.files[path]
        directory = posixpath.dirname(path)
        dirs.setdefault(directory, []).append(path)
        if pf.package and not path.endswith("_test.go"):
            packages.setdefault(directory, pf.package)
        for sym in pf.symbols:
            symbols.setdefault((directory, sym.qualname), sym.id)
        for ref in pf.refs:
            if ref.kind == "inherit":
                embeds.setdefault((directory, ref.scope), []).append((path, ref.chain))
    wanted = {imp.module for path in paths for imp in index.files[path].imports}
    import_dirs = _from_go_mod(Path(index.root), dirs) if index.root else {}
    missing = wanted - set(import_dirs)
    if missing:
        for path, directory in _inferred(missing, set(dirs)).items():
            import_dirs.setdefault(path, directory)
    return {
        "dirs": dirs,
        "symbols": symbols,
        "packages": packages,
        "imports": import_dirs,
        "embeds": embeds,
        "implements": _implementations(paths, index),
    }


def _from_go_mod(root: Path, dirs: dict[str, list[str]]) -> dict[str, str]:
    """Import path → directory, from the ``module`` line of each directory's nearest go.mod."""
    modules: dict[str, str | None] = {}  # directory → module path declared there

    def module_of(directory: str) -> tuple[str, str] | None:
        probe = directory
        while True:
            if probe not in modules:
                try:
                    found = _MODULE_LINE.search((root / probe / "go.mod").read_text(encoding="utf-8", errors="replace"))
                    modules[probe] = found.group(1) if found else None
                except OSError:
                    modules[probe] = None
            if modules[probe]:
                return probe, modules[probe]
            if not probe:
                return None
            probe = posixpath.dirname(probe)

    out: dict[str, str] = {}
    for directory in dirs:
        found = module_of(directory)
        if found:
            mod_dir, mod_path = found
            rel = directory[len(mod_dir) :].strip("/")
            out[f"{mod_path}/{rel}" if rel else mod_path] = directory
    return out


def _inferred(import_paths: set[str], dirs: set[str]) -> dict[str, str]:
    """Import path → directory without go.mod: an import ``M/rel`` and a directory
    ``R/rel`` with the longest common tail vote for module ``M`` living at ``R``. A vote
    counts when ``M`` looks like a module path (a dot in its first element, as go.mod
    paths outside the standard library have) or when two imports agree on it."""
    votes: Counter[tuple[str, str]] = Counter()
    split_dirs = {d: (d.split("/") if d else []) for d in dirs}
    by_last: dict[str, list[str]] = {}
    for directory, dparts in split_dirs.items():
        if dparts:
            by_last.setdefault(dparts[-1], []).append(directory)
    for path in import_paths:
        parts = path.split("/")
        best, best_k = [], 0
        for directory in by_last.get(parts[-1], ()):
            dparts = split_dirs[directory]
            k = 0
            while k < min(len(parts), len(dparts)) and parts[-1 - k] == dparts[-1 - k]:
                k += 1
            if k > best_k:
                best, best_k = [directory], k
            elif k and k == best_k:
                best.append(directory)
        if best_k and best_k < len(parts) and len(best) == 1:
            dparts = split_dirs[best[0]]
            votes["/".join(parts[:-best_k]), "/".join(dparts[: len(dparts) - best_k])] += 1
    roots = [(m, r) for (m, r), n in votes.items() if "." in m.split("/")[0] or n >= 2]
    roots.sort(key=lambda mr: -len(mr[0]))
    out: dict[str, str] = {}
    for path in import_paths:
        for mod, root in roots:
            if path == mod or path.startswith(mod + "/"):
                rel = path[len(mod) :].strip("/")
                directory = "/".join(p for p in (root, rel) if p)
                if directory in dirs:
                    out[path] = directory
                    break
    return out


def _implementations(paths: list[str], index: ResolveIndex) -> dict[str, list[str]]:
    """Types whose methods include every method an interface declares (by name)."""
    methods_of: dict[tuple[str, str], set[str]] = {}  # (dir, type) → method names
    owners: dict[tuple[str, str], str] = {}  # (dir, type) → symbol id
    interfaces: dict[str, set[str]] = {}  # interface id → method names
    for path in paths:
        directory = posixpath.dirname(path)
        for sym in index.files[path].symbols:
            if "." not in sym.qualname and sym.kind in _TYPE_KINDS:
                owners[directory, sym.qualname] = sym.id
                if sym.kind == "interface":
                    interfaces.setdefault(sym.id, set())
    for path in paths:
        directory = posixpath.dirname(path)
        for sym in index.files[path].symbols:
            owner, _, method = sym.qualname.partition(".")
            owner_id = owners.get((directory, owner))
            if not method or owner_id is None:
                continue
            if owner_id in interfaces and owner_id.rpartition(":")[0] == path:
                interfaces[owner_id].add(method)
            elif owner_id not in interfaces:
                methods_of.setdefault((directory, owner), set()).add(method)
    by_method: dict[str, set[tuple[str, str]]] = {}
    for key, names in methods_of.items():
        for name in names:
            by_method.setdefault(name, set()).add(key)
    out: dict[str, list[str]] = {}
    for iface, names in interfaces.items():
        if not names:
            continue
        types = set.intersection(*(by_method.get(n, set()) for n in names))
        for key in types:
            out.setdefault(owners[key], []).append(iface)
    return out


# --- resolution ----------------------------------------------------------------------


class _Lookup:
    """Name lookups of one file against the module map."""

    def __init__(self, pf: ParsedFile, index: ResolveIndex):
        self.pf, self.index = pf, index
        self.mm = index.module_map("go")
        self.dir = posixpath.dirname(pf.path)

    def package_dir(self, pf: ParsedFile, local: str) -> str | None:
        """The directory an import of ``pf`` binds to ``local``."""
        for imp in pf.imports:
            directory = self.mm["imports"].get(imp.module)
            if directory is None or imp.name == "*":
                continue
            if imp.local == local:
                return directory
            if imp.local == default_local(imp.module) and self.mm["packages"].get(directory) == local:
                return directory  # unaliased: the package clause names it
        return None

    def is_import(self, local: str) -> bool:
        return any(imp.local == local for imp in self.pf.imports)

    def symbol(self, directory: str, qualname: str) -> str | None:
        return self.mm["symbols"].get((directory, qualname))

    def top(self, name: str, pf: ParsedFile | None = None) -> str | None:
        """A package-level name: this package, then dot imports."""
        pf = pf or self.pf
        directory = posixpath.dirname(pf.path)
        found = self.symbol(directory, name)
        if found is None:
            for imp in pf.imports:
                if imp.name == "*" and imp.module in self.mm["imports"]:
                    found = self.symbol(self.mm["imports"][imp.module], name)
                    if found:
                        break
        return found

    def type_ref(self, chain: list[str], pf: ParsedFile) -> tuple[str, str] | None:
        """``[T]`` or ``[pkg, T]`` as seen from ``pf`` → (directory, T)."""
        if len(chain) == 1:
            sid = self.top(chain[0], pf)
            return (posixpath.dirname(sid.rpartition(":")[0]), chain[0]) if sid else None
        if len(chain) == 2:
            directory = self.package_dir(pf, chain[0])
            if directory is not None and self.symbol(directory, chain[1]):
                return directory, chain[1]
        return None

    def embedded(self, directory: str, type_name: str) -> list[tuple[str, str]]:
        out = []
        for path, chain in self.mm["embeds"].get((directory, type_name), ()):
            found = self.type_ref(chain, self.index.files[path])
            if found:
                out.append(found)
        return out

    def as_type(self, sid: str | None) -> tuple | None:
        """A package-level type symbol as a walk target."""
        sym = self.index.get(*sid.rsplit(":", 1)) if sid else None
        if sym is None or sym.kind not in _TYPE_KINDS:
            return None
        return ("type", posixpath.dirname(sym.path), sym.qualname)

    def walk(self, target: tuple | None, parts: list[str]) -> str | None:
        """Follow ``parts`` from a package ("pkg", dir) or a type ("type", dir, name);
        a part written ``f()`` continues from the type ``f`` returns. The symbol id of
        the last part, or None."""
        found = None
        for i, part in enumerate(parts):
            name, called = _call_part(part)
            if target is None or not is_identifier(name):
                return None
            if target[0] == "pkg":
                found = self.symbol(target[1], name)
            else:
                found = self.method(target[1], target[2], name)
            if i < len(parts) - 1:
                target = self.returns(found) if called else self.as_type(found)
        return found

    def returns(self, sid: str | None) -> tuple | None:
        """The type a function's signature says it returns first (``*Store``, ``store.Store``)."""
        sym = self.index.get(*sid.rsplit(":", 1)) if sid else None
        if sym is None or sym.kind not in ("function", "method"):
            return None
        result = _result_type(sym.signature)
        if result is None:
            return None
        pf = self.index.files[sym.path]
        found = self.type_ref(result.split("."), pf)
        return ("type", *found) if found else None

    def method(self, directory: str, type_name: str, name: str, depth: int = 0) -> str | None:
        """``type_name.name`` in its package, or promoted from an embedded type."""
        found = self.symbol(directory, f"{type_name}.{name}")
        if found or depth >= MAX_EMBED_DEPTH:
            return found
        for sub_dir, sub_type in self.embedded(directory, type_name):
            found = self.method(sub_dir, sub_type, name, depth + 1)
            if found:
                return found
        return None


def _call_part(part: str) -> tuple[str, bool]:
    """``New()`` → ("New", True): a chain part that is called."""
    return (part[:-2], True) if part.endswith("()") else (part, False)


def _result_type(signature: str) -> str | None:
    """The first result type of ``func (r *T) Name(params) (*Store, error)`` → Store."""
    start = signature.find("(")
    if signature.startswith("func (") or signature.startswith("func("):
        start = signature.find("(", _closing(signature, start) + 1)
    end = _closing(signature, start) if start >= 0 else -1
    if end < 0:
        return None
    result = signature[end + 1 :].strip()
    if result.startswith("("):
        result = result[1:].split(",")[0].rstrip(")").split()[-1:]  # named results: (s *Store, err error)
        result = result[0] if result else ""
    result = result.lstrip("*")
    return result if result and all(is_identifier(p) for p in result.split(".")) else None


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return -1


def _same_language(ids: list[str], index: ResolveIndex) -> list[str]:
    return [i for i in ids if (pf := index.files.get(i.rpartition(":")[0])) is not None and pf.language == "go"]


def resolve(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    file_node = symbol_id(pf.path, "")
    look = _Lookup(pf, index)
    edges: list[Edge] = []
    used: dict[str, set[str]] = {}  # imported directory → its files this file uses

    for ref in pf.refs:
        src = symbol_id(pf.path, ref.scope) if ref.scope else file_node
        chain, head = ref.chain, ref.chain[0]
        found, method = None, ""
        name, called = _call_part(head)
        scope_sym = index.get(pf.path, ref.scope) if ref.scope else None
        receiver = _RECEIVER.match(scope_sym.signature) if scope_sym is not None else None
        if not is_identifier(name):
            pass
        elif len(chain) == 1:
            found, method = look.top(name), "local"
        elif not called and (directory := look.package_dir(pf, name)) is not None:
            found, method = look.walk(("pkg", directory), chain[1:]), "qualified"
            if found:
                used.setdefault(directory, set()).add(found.rpartition(":")[0])
        elif not called and receiver and receiver.group(1) == name:
            found, method = look.walk(("type", look.dir, receiver.group(2)), chain[1:]), "self"
        elif (top := look.top(name)) is not None:  # Type.Method, New().Put, a typed variable's type
            first = look.returns(top) if called else look.as_type(top)
            found, method = look.walk(first, chain[1:]), "qualified"
        if found:
            edges.append(Edge(src, found, ref.kind, method, CONFIDENCE[method], ref.line))
            continue
        last = chain[-1]
        if len(chain) > 1 and is_identifier(last) and last not in _COMMON_METHODS and not look.is_import(name) and not look.top(name):
            # recv.Method() on a variable of unknown type: a method of that name, if rare.
            candidates = _same_language(index.by_name(last, members=True), index)
            edges.extend(name_edges(src, candidates, ref.kind, ref.line))

    for imp in pf.imports:
        directory = look.mm["imports"].get(imp.module)
        if directory is None:
            continue
        files = sorted(used.get(directory, ())) or _package_file(directory, look)
        for path in files:
            edges.append(Edge(file_node, symbol_id(path, ""), "import", "import", CONFIDENCE["import"], imp.line))

    for sym in pf.symbols:
        for iface in look.mm["implements"].get(sym.id, []):
            edges.append(Edge(sym.id, iface, "inherit", "name", CONFIDENCE["name"], sym.start_line))
    return edges


def _package_file(directory: str, look: _Lookup) -> list[str]:
    """The file that stands for a package nobody's symbols were used from: the one named
    after the package, else doc.go, else the first."""
    files = [p for p in look.mm["dirs"].get(directory, []) if not p.endswith("_test.go")]
    if not files:
        return []
    name = look.mm["packages"].get(directory, "")
    for wanted in (f"{name}.go", "doc.go"):
        for path in files:
            if posixpath.basename(path) == wanted:
                return [path]
    return [files[0]]
