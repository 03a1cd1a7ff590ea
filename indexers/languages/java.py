"""Java hooks: packages, imports of classes, and calls through receivers' declared types.

The plug-in contract is in ``indexers/languages/__init__.py``. Imports split before the
last name: ``import a.b.C;`` → ``Import("a.b", "C", "C")``, ``import a.b.*;`` →
``Import("a.b", "*", "")``, ``import static a.b.C.m;`` → ``Import("a.b.C", "m", "m")``.
Classes are found by (package, name), from every file's ``package`` declaration, not by
directory.

A method_invocation keeps receiver and name in separate nodes; ``ref_text`` joins them
and replaces a receiver variable whose type the code declares (local, parameter, field)
by that type: ``parser.read()`` with ``Parser parser`` is recorded as ``Parser.read``.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from ..lookup import CONFIDENCE, ResolveIndex, name_edges
from ..syntax import Owner, is_identifier, text_of
from ..types import Edge, Import, ParsedFile, symbol_id

# A definition line, for fold_file's focus on one that is no symbol (a local class, or a
# method of an anonymous class no field holds): class C, or a return type then m(.
DEFINITION = (
    r"^\s*(?:(?:public|private|protected|static|final|abstract|synchronized|native|default)\s+)*"
    r"(?:(?:class|interface|enum|record)\s+{0}\b|(?:<[^>]*>\s*)?(?!(?:return|new|throw|else)\b)[\w<>\[\],.?]+\s+{0}\s*\()"
)
_FUNCTION_TYPES = {
    "method_declaration",
    "constructor_declaration",
    "compact_constructor_declaration",
    "lambda_expression",
    "static_initializer",
}
_TYPE_KINDS = ("class", "interface", "enum")
# Test code: Maven and Gradle keep it under src/test/; JUnit classes end in Test or Tests.
_TEST_PATH = re.compile(r"(^|/)src/test/|(^|/)tests?/|Tests?\.java$")
_BLOCKS = {"block", "constructor_body", "switch_block_statement_group", "switch_rule"}
_NEW = re.compile(r"^new\s+([A-Za-z_$][\w$.]*)\(\)$")
_NOT_CLASSES = {"void", "boolean", "byte", "char", "short", "int", "long", "float", "double", "var"}
# Methods of Object and the collections: on a receiver of unknown type they are almost
# never the repository's own.
_COMMON_METHODS = frozenset(
    "equals hashCode toString getClass get set add addAll put putAll remove contains containsKey "
    "size isEmpty iterator stream map filter forEach collect length charAt append build close "
    "compareTo clone of valueOf".split()
)


# --- parsing hooks ---------------------------------------------------------------


def is_function_scope(node: Node) -> bool:
    return node.type in _FUNCTION_TYPES


def body(node: Node) -> Node | None:
    """A field's anonymous class body or lambda body is the field's body."""
    if node.type == "field_declaration":
        declarator = node.child_by_field_name("declarator")
        value = declarator.child_by_field_name("value") if declarator is not None else None
        if value is not None and value.type == "lambda_expression":
            return value.child_by_field_name("body")
        return next((c for c in value.named_children if c.type == "class_body"), None) if value is not None else None
    return node.child_by_field_name("body")


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def owner(node: Node, source: bytes, path: str) -> Owner | None:
    """A method of an anonymous class that no field holds (a field's is named through
    the field: ``TypeAdapters.CURRENCY.read``) belongs to the method it is written in,
    after the variable it is bound to or the method it is passed to:
    ``Gson.toJson.writer.write``, ``Cache.load.submit.call``."""
    body = node.parent
    creation = body.parent if body is not None and body.type == "class_body" else None
    if creation is None or creation.type != "object_creation_expression":
        return None
    place = creation.parent
    while place is not None and place.type == "parenthesized_expression":
        creation, place = place, place.parent
    if place is None:
        return None
    if place.type == "variable_declarator":
        if place.parent is not None and place.parent.type == "field_declaration":
            return None  # the field is a symbol: the usual walk names it
        name = text_of(place.child_by_field_name("name"), source)
    elif place.type == "assignment_expression":
        name = text_of(place.child_by_field_name("left"), source).removeprefix("this.")
    elif place.type == "argument_list" and place.parent is not None:
        callee = place.parent.child_by_field_name("name") or place.parent.child_by_field_name("type")
        name = _type_text(callee, source) or text_of(callee, source) if callee is not None else ""
    else:
        name = ""  # return new Iterator<T>() {…}
    if name and not all(is_identifier(p) for p in name.split(".")):
        return None
    where, field = _enclosing(creation, source)
    return Owner(where, ".".join(p for p in (field, name) if p))


def _enclosing(node: Node, source: bytes) -> tuple[Node | None, str]:
    """The method, constructor or type a node is in; in a field's initializer, the type
    and the field's name."""
    parent = node.parent
    while parent is not None:
        if parent.type in ("method_declaration", "constructor_declaration", "compact_constructor_declaration",
                           "class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
                           "enum_constant"):
            return parent, ""
        if parent.type == "field_declaration":
            declarator = parent.child_by_field_name("declarator")
            name = declarator.child_by_field_name("name") if declarator is not None else None
            owner = parent.parent.parent if parent.parent is not None else None
            return owner, text_of(name, source) if name is not None else ""
        parent = parent.parent
    return None, ""


def package(root: Node, source: bytes) -> str:
    for child in root.named_children:
        if child.type == "package_declaration":
            for part in child.named_children:
                if part.type in ("scoped_identifier", "identifier"):
                    return text_of(part, source)
    return ""


def imports(node: Node, source: bytes) -> list[Import]:
    line = node.start_point[0] + 1
    path = next((text_of(c, source) for c in node.named_children if c.type in ("scoped_identifier", "identifier")), "")
    if not path:
        return []
    if any(c.type == "asterisk" for c in node.children):
        return [Import(path, "*", "", line)]
    module, _, name = path.rpartition(".")
    return [Import(module, name, name, line)]


def _type_text(node: Node | None, source: bytes) -> str | None:
    """A declared type's class name: ``List<Parser>`` → List, ``a.B`` → a.B; none for
    primitives, arrays and ``var``."""
    if node is None:
        return None
    if node.type == "generic_type" and node.named_children:
        node = node.named_children[0]
    if node.type == "type_identifier":
        name = text_of(node, source)
        return None if name == "var" else name
    if node.type == "scoped_type_identifier":
        return text_of(node, source)
    return None


def ref_text(node: Node, source: bytes) -> str:
    if node.type == "method_invocation":
        obj, name = node.child_by_field_name("object"), node.child_by_field_name("name")
        if name is None:
            return text_of(node, source)
        return f"{_receiver(obj, source)}.{text_of(name, source)}" if obj is not None else text_of(name, source)
    return text_of(node, source)


def _receiver(node: Node, source: bytes) -> str:
    kind = node.type
    if kind == "identifier":
        return _declared_type(node, text_of(node, source), source) or text_of(node, source)
    if kind == "method_invocation":
        return f"{ref_text(node, source)}()"
    if kind == "field_access":
        obj, field = node.child_by_field_name("object"), node.child_by_field_name("field")
        if obj is not None and field is not None:
            if obj.type == "this":
                return _declared_type(node, text_of(field, source), source, fields_only=True) or f"this.{text_of(field, source)}"
            return f"{_receiver(obj, source)}.{text_of(field, source)}"
    if kind == "object_creation_expression":
        typ = _type_text(node.child_by_field_name("type"), source)
        return f"new {typ}()" if typ else "new ?()"
    if kind == "parenthesized_expression" and node.named_children:
        return _receiver(node.named_children[0], source)
    return text_of(node, source)


_UNDECLARED = object()  # the name is not declared here: look further out


def _declared_type(at: Node, name: str, source: bytes, fields_only: bool = False) -> str | None:
    """The declared type of the variable ``name`` visible at ``at``: the nearest local,
    parameter or field declaration (None when that declaration gives no class)."""
    child, node = at, at.parent
    while node is not None:
        kind = node.type
        declared = _UNDECLARED
        if fields_only:
            pass
        elif kind in _BLOCKS:
            for stmt in node.named_children:
                if stmt.start_byte >= child.start_byte:
                    break
                if stmt.type == "local_variable_declaration":
                    got = _from_declaration(stmt, name, source)
                    declared = declared if got is _UNDECLARED else got
        elif kind in ("for_statement", "try_with_resources_statement", "enhanced_for_statement"):
            declared = _from_loop_or_try(node, name, source)
        elif kind in ("method_declaration", "constructor_declaration", "lambda_expression", "catch_clause"):
            declared = _from_parameters(node, name, source)
        if declared is _UNDECLARED and kind in ("class_body", "interface_body", "enum_body_declarations"):
            for member in node.named_children:
                if member.type in ("field_declaration", "constant_declaration"):
                    got = _from_declaration(member, name, source)
                    declared = declared if got is _UNDECLARED else got
        if declared is _UNDECLARED and kind == "record_declaration":
            declared = _from_parameters(node, name, source)
        if declared is not _UNDECLARED:
            return declared
        child, node = node, node.parent
    return None


def _field_text(node: Node, field: str, source: bytes) -> str:
    found = node.child_by_field_name(field)
    return text_of(found, source) if found is not None else ""


def _from_declaration(decl: Node, name: str, source: bytes):
    """``T x = …`` (or ``var x = new T()``) declaring ``name``: T, None, or _UNDECLARED."""
    for declarator in decl.children_by_field_name("declarator"):
        if _field_text(declarator, "name", source) == name:
            typed = _type_text(decl.child_by_field_name("type"), source)
            value = declarator.child_by_field_name("value")
            if typed is None and value is not None and value.type == "object_creation_expression":
                typed = _type_text(value.child_by_field_name("type"), source)
            return typed
    return _UNDECLARED


def _from_loop_or_try(node: Node, name: str, source: bytes):
    if node.type == "enhanced_for_statement":
        if _field_text(node, "name", source) == name:
            return _type_text(node.child_by_field_name("type"), source)
        return _UNDECLARED
    for part in node.named_children:
        if part.type == "local_variable_declaration":  # for (T x = …; …)
            got = _from_declaration(part, name, source)
            if got is not _UNDECLARED:
                return got
        elif part.type == "resource_specification":  # try (T x = …)
            for res in part.named_children:
                if _field_text(res, "name", source) == name:
                    return _type_text(res.child_by_field_name("type"), source)
    return _UNDECLARED


def _from_parameters(node: Node, name: str, source: bytes):
    """A parameter of a method, constructor, lambda, record or catch clause."""
    if node.type == "catch_clause":
        params = [c for c in node.named_children if c.type == "catch_formal_parameter"]
    else:
        holder = node.child_by_field_name("parameters")
        params = [] if holder is None else [holder] if holder.type == "identifier" else holder.named_children
    for param in params:
        if param.type == "identifier":  # an untyped lambda parameter
            if text_of(param, source) == name:
                return None
            continue
        pname = param.child_by_field_name("name")
        if pname is None:  # Bar... b
            declarator = next((c for c in param.named_children if c.type == "variable_declarator"), None)
            pname = declarator.child_by_field_name("name") if declarator is not None else None
        if pname is None or text_of(pname, source) != name:
            continue
        ptype = param.child_by_field_name("type") or next(
            (c for c in param.named_children if c.type in ("type_identifier", "generic_type", "scoped_type_identifier", "catch_type")), None
        )
        if ptype is not None and ptype.type == "catch_type":  # one exception class, not a union
            ptype = ptype.named_children[0] if len(ptype.named_children) == 1 else None
        return _type_text(ptype, source)
    return _UNDECLARED


# --- the module map ------------------------------------------------------------------


def build_module_map(paths: list[str], index: ResolveIndex) -> dict:
    """``classes`` (package, top-level type name) → file."""
    classes: dict[tuple[str, str], str] = {}
    for path in sorted(paths):
        pf = index.files[path]
        for sym in pf.symbols:
            if "." not in sym.qualname and sym.kind in _TYPE_KINDS:
                classes.setdefault((pf.package, sym.qualname), path)
    return {"classes": classes}


# --- resolution ----------------------------------------------------------------------


class _Resolver:
    def __init__(self, index: ResolveIndex):
        self.index = index
        self.classes: dict[tuple[str, str], str] = index.module_map("java")["classes"]
        self._bases: dict[tuple[str, str], list[tuple[str, str]]] = index.cache.setdefault("java.bases", {})

    def is_type(self, path: str, qualname: str) -> bool:
        sym = self.index.get(path, qualname)
        return sym is not None and sym.kind in _TYPE_KINDS

    def nested(self, found: tuple[str, str] | None, rest: list[str]) -> tuple[str, str] | None:
        """Walk ``Outer.Inner`` from a resolved type."""
        for part in rest:
            if found is None or not self.is_type(found[0], f"{found[1]}.{part}"):
                return None
            found = (found[0], f"{found[1]}.{part}")
        return found

    def qualified_class(self, parts: list[str]) -> tuple[tuple[str, str], int] | None:
        """The longest ``package.Class`` prefix of ``parts``: ((path, Class), parts used)."""
        for i in range(len(parts) - 1, -1, -1):
            path = self.classes.get((".".join(parts[:i]), parts[i]))
            if path is not None:
                return (path, parts[i]), i + 1
        return None

    def type_of(self, parts: list[str], pf: ParsedFile, scope: str) -> tuple[tuple[str, str], str, int] | None:
        """A type name as ``pf`` sees it at ``scope``: ((path, qualname), resolution, parts used)."""
        head = parts[0]
        # Nested and top-level types of this file, innermost scope first.
        qual = scope
        while True:
            candidate = f"{qual}.{head}" if qual else head
            if self.is_type(pf.path, candidate):
                return (pf.path, candidate), "local", 1
            if not qual:
                break
            qual = qual.rpartition(".")[0]
        for imp in pf.imports:
            if imp.local == head:
                found = self.qualified_class(imp.module.split(".") + [imp.name])
                if found is not None:
                    (path, cls), used = found
                    extra = (imp.module.split(".") + [imp.name])[used:]
                    target = self.nested((path, cls), extra)
                    if target is not None:
                        return target, "import", 1
        path = self.classes.get((pf.package, head))
        if path is not None:  # the package is one scope, as a Go package is
            return (path, head), "local", 1
        for imp in pf.imports:
            if imp.name == "*":
                path = self.classes.get((imp.module, head))
                if path is not None:
                    return (path, head), "import", 1
                outer = self.qualified_class(imp.module.split("."))
                if outer is not None:
                    target = self.nested(outer[0], imp.module.split(".")[outer[1] :] + [head])
                    if target is not None:
                        return target, "import", 1
        found = self.qualified_class(parts)
        if found is not None:
            return found[0], "qualified", found[1]
        return None

    def bases(self, path: str, qualname: str) -> list[tuple[str, str]]:
        """The classes and interfaces a type extends or implements, memoized on the index."""
        key = (path, qualname)
        if key in self._bases:
            return self._bases[key]
        self._bases[key] = out = []  # filled below; a cycle of extends sees it unfinished
        pf = self.index.files.get(path)
        for ref in pf.refs if pf is not None else ():
            if ref.kind == "inherit" and ref.scope == qualname:
                found = self.type_of(ref.chain, pf, qualname)
                if found is not None:
                    target = self.nested(found[0], ref.chain[found[2] :])
                    if target is not None:
                        out.append(target)
        return out

    def member(self, cls: tuple[str, str], name: str) -> str | None:
        return self.index.member(cls[0], cls[1], name, self.bases)

    def walk(self, owner: tuple[str, str] | None, parts: list[str]) -> str | None:
        """Follow ``parts`` from a type: nested types, then a method; a part written
        ``m()`` continues from the type ``m`` returns (``Foo.builder().build``)."""
        for i, part in enumerate(parts):
            called = part.endswith("()")
            name = part[:-2] if called else part
            if owner is None or not is_identifier(name):
                return None
            if i == len(parts) - 1:
                return self.member(owner, name)
            owner = self.returns(self.member(owner, name)) if called else self.nested(owner, [name])
        return None

    def returns(self, sid: str | None) -> tuple[str, str] | None:
        """The class a method's signature says it returns (``static Builder builder()``)."""
        path, _, qualname = sid.rpartition(":") if sid else ("", "", "")
        sym = self.index.get(path, qualname)
        if sym is None:
            return None
        found = re.search(r"([A-Za-z_$][\w$.]*)\s*(?:<[^()]*>)?\s+" + re.escape(sym.name) + r"\s*\(", sym.signature)
        if found is None or found.group(1) in _NOT_CLASSES:
            return None
        parts = found.group(1).split(".")
        typed = self.type_of(parts, self.index.files[path], qualname)
        return self.nested(typed[0], parts[typed[2] :]) if typed else None

    def enclosing_classes(self, pf: ParsedFile, scope: str) -> list[str]:
        out, qual = [], scope
        while qual:
            if self.is_type(pf.path, qual):
                out.append(qual)
            qual = qual.rpartition(".")[0]
        return out


def _same_language(ids: list[str], index: ResolveIndex) -> list[str]:
    return [i for i in ids if (pf := index.files.get(i.rpartition(":")[0])) is not None and pf.language == "java"]


def resolve(pf: ParsedFile, index: ResolveIndex) -> list[Edge]:
    file_node = symbol_id(pf.path, "")
    res = _Resolver(index)
    edges: list[Edge] = []

    for imp in pf.imports:
        parts = imp.module.split(".") + ([imp.name] if imp.name != "*" else [])
        found = res.qualified_class(parts)
        if found is None:
            continue
        (path, cls), used = found
        dst = symbol_id(path, cls)
        rest = parts[used:]
        if rest:  # a nested type or a static member
            nested = res.nested((path, cls), rest)
            member = res.member((path, cls), rest[0]) if nested is None and len(rest) == 1 else None
            dst = symbol_id(*nested) if nested else (member or dst)
        edges.append(Edge(file_node, dst, "import", "import", CONFIDENCE["import"], imp.line))

    for ref in pf.refs:
        src = symbol_id(pf.path, ref.scope) if ref.scope else file_node
        chain, head = ref.chain, ref.chain[0]
        created = _NEW.match(head)
        if created:  # new Parser().parse(): a method of the class
            chain = created.group(1).split(".") + chain[1:]
            head = chain[0]
        found, method = None, ""
        classes = res.enclosing_classes(pf, ref.scope)
        if ref.kind == "inherit":
            typed = res.type_of(chain, pf, ref.scope)
            target = res.nested(typed[0], chain[typed[2] :]) if typed else None
            if target is not None:
                found, method = symbol_id(*target), typed[1]
        elif head in ("this", "super") and len(chain) == 2 and classes:
            if head == "this":
                found = res.member((pf.path, classes[0]), chain[1])
            else:
                found = next((f for b in res.bases(pf.path, classes[0]) if (f := res.member(b, chain[1]))), None)
            method = "self"
        elif len(chain) == 1 and is_identifier(head):
            # A method of this class, its bases or its outer classes; a static import;
            # else a type (new C()).
            for cls in classes:
                if head == cls.rpartition(".")[2]:
                    break  # `new Outer()` inside Outer names the class, not its constructor
                found = res.member((pf.path, cls), head)
                if found:
                    method = "local" if found == symbol_id(pf.path, f"{cls}.{head}") else "self"
                    break
            if not found:
                for imp in pf.imports:
                    if imp.local == head or imp.name == "*":
                        owner = res.qualified_class(imp.module.split("."))
                        found = res.member(owner[0], head) if owner is not None else None
                        if found:
                            method = "import"
                            break
            if not found:
                typed = res.type_of(chain, pf, ref.scope)
                if typed is not None:
                    found, method = symbol_id(*typed[0]), typed[1]
        elif is_identifier(head):
            typed = res.type_of(chain, pf, ref.scope)
            if typed is not None:
                (path, qual), _, used = typed
                rest = chain[used:]
                found = res.walk((path, qual), rest) if rest else symbol_id(path, qual)  # new a.b.C()
                method = "qualified"
            elif not head[:1].isupper() and is_identifier(chain[-1]) and chain[-1] not in _COMMON_METHODS:
                # value.method() with an unknown receiver: a method of that name, if rare.
                candidates = _same_language(index.by_name(chain[-1], members=True), index)
                edges.extend(name_edges(src, candidates, ref.kind, ref.line))
        if found:
            edges.append(Edge(src, found, ref.kind, method, CONFIDENCE[method], ref.line))
    return edges
