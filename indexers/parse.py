"""Parse one file with tree-sitter into symbols, references and imports.

Query captures, shared by every language's ``queries/<lang>.scm``:
  @definition.<kind> + @name   a symbol (kind: function, class, struct, interface, ...)
  @reference.call              the callee expression of a call
  @reference.inherit           a base class / implemented interface
  @reference.type              a type named without a call (annotation, isinstance check)
  @assign.target + @assign.value   a name bound to an instance: ``target = Callee(...)``,
                               or a parameter annotated ``target: Type``
  @copy.target + @copy.value   a name bound to another name: ``self.client = client``
  @import                      an import statement, handed to the language's hooks
  @label.attr + @label.string  a class attribute's string naming the class: ``name = 'py'``
  @label.args                  arguments that pass one string along with names defined in the
                               file: ``register_directive('include', Include)``
tree-sitter gives bytes and 0-based rows; everything leaving this module is 1-based lines.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

from tree_sitter import Node, Parser, Query, QueryCursor

from .languages import hooks, query_source, ts_language
from .syntax import MAX_DOC_CHARS, MAX_SIGNATURE_CHARS, leading_comment, split_chain, text_of
from .tokens import count_many
from .types import ParsedFile, Ref, Symbol

# Definitions nested in these may be symbols; a def inside a function body is not.
CONTAINER_KINDS = {"class", "struct", "interface", "trait", "enum", "impl", "module"}
_WS = re.compile(r"\s+")
_OVERLOAD = re.compile(r"@(?:\w+\.)*overload\b")  # a decorator, as a signature holds it
# What a label may be: a short name, or a slug such as ``source-read`` or ``py:class``.
_LABEL = re.compile(r"[A-Za-z][\w.:-]{0,39}\w")
# Class attributes whose string names the class: name = 'py', alias = 'EX', event = ...
_NAMING_ATTR = re.compile(r"(?:^|_)(?:name|names|alias|aliases|key|id|tag|kind|label|command|event|prefix|type)$", re.I)
# Calls that pass a string and a name without registering one under the other.
_NOT_REGISTRY = {"getattr", "setattr", "hasattr", "delattr", "print"}


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@lru_cache(maxsize=None)
def _parser(language: str) -> Parser:
    return Parser(ts_language(language))


@lru_cache(maxsize=None)
def _query(language: str) -> Query:
    return Query(ts_language(language), query_source(language))


def _error_ranges(root: Node) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    if not root.has_error:
        return ranges
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            ranges.append((node.start_point[0] + 1, node.end_point[0] + 1))
            continue
        if node.has_error:
            stack.extend(node.children)
    return sorted(ranges)


def _inside_error(node: Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.is_error:
            return True
        parent = parent.parent
    return False


def parse_source(path: str, language: str, data: bytes, text: str) -> ParsedFile:
    """Symbols, references and imports of one decoded file."""
    lang = hooks(language)
    tree = _parser(language).parse(data)
    root = tree.root_node
    parsed = ParsedFile(
        path=path,
        language=language,
        hash=content_hash(data),
        lines=text.count("\n") + (0 if text.endswith("\n") or not text else 1),
        errors=_error_ranges(root),
    )

    defs: dict[int, tuple[Node, Node, str]] = {}  # node id -> (node, name node, kind)
    call_nodes: list[Node] = []
    inherit_nodes: list[Node] = []
    type_nodes: list[Node] = []
    import_nodes: list[Node] = []
    label_nodes: dict[str, list[Node]] = {"label.string": [], "label.args": []}  # .string: (attribute, string)
    assigns: list[tuple[Node, Node, str]] = []  # (target, callee or name, "assign" | "copy")
    for _, caps in QueryCursor(_query(language)).matches(root):
        bound = next((k for k in ("assign", "copy") if f"{k}.target" in caps and f"{k}.value" in caps), None)
        if bound:
            assigns.append((caps[f"{bound}.target"][0], caps[f"{bound}.value"][0], bound))
            continue
        for cap_name, nodes in caps.items():
            if cap_name.startswith("definition."):
                name_nodes = caps.get("name")
                if name_nodes:
                    for node in nodes:
                        defs[node.id] = (node, name_nodes[0], cap_name.split(".", 1)[1])
            elif cap_name == "reference.call":
                call_nodes.extend(nodes)
            elif cap_name == "reference.inherit":
                inherit_nodes.extend(nodes)
            elif cap_name == "reference.type":
                type_nodes.extend(nodes)
            elif cap_name == "import":
                import_nodes.extend(nodes)
            elif cap_name == "label.string" and "label.attr" in caps:
                label_nodes[cap_name].append((caps["label.attr"][0], nodes[0]))
            elif cap_name == "label.args":
                label_nodes[cap_name].extend(nodes)

    # Qualified names: walk up from each definition to the container or definition it is in.
    qualified: dict[int, tuple[str | None, bool, str]] = {}  # def node id -> qualify(node)
    anchored: dict[int, tuple[int, str]] = {}  # def node id -> (its owner's def node id, the owner's name)

    def full_name(node: Node) -> str | None:
        """The qualified name of a definition (a symbol or a container), None when it is
        not one (it is inside a function)."""
        prefix, nested, _ = qualify(node)
        if nested:
            return None
        name = text_of(defs[node.id][1], data)
        return f"{prefix}.{name}" if prefix else name

    def qualify(node: Node) -> tuple[str | None, bool, str]:
        """(prefix, nested_in_function, kind of the innermost container); prefix None
        means the def is not a symbol."""
        if node.id not in qualified:
            qualified[node.id] = (None, True, "")  # a cycle of owners names nothing
            qualified[node.id] = _qualify(node)
        return qualified[node.id]

    def _qualify(node: Node) -> tuple[str | None, bool, str]:
        # A member of a value with no name of its own (an object literal, an anonymous
        # class): the plug-in names it after where the value is.
        owned = lang.owner(node, data, path)
        if owned is not None:
            member = "object" if owned.member else ""
            if owned.definition is None:
                return owned.names, False, member
            if owned.definition.id not in defs:
                return None, True, ""
            outer = full_name(owned.definition)
            if outer is None:
                return None, True, ""
            anchored[node.id] = (owned.definition.id, outer)
            return ".".join(p for p in (outer, owned.names) if p), False, member
        parts: list[str] = []
        owner = ""
        explicit = lang.qualifier(node, data)
        if explicit:
            parts.append(explicit)
            owner = "type"
        parent = node.parent
        while parent is not None:
            if parent.id in defs:
                pnode, pname, pkind = defs[parent.id]
                if pkind not in CONTAINER_KINDS:
                    return None, True, owner
                outer = full_name(pnode)
                if outer is None:
                    return None, True, owner
                parts.append(outer)
                return ".".join(reversed(parts)), False, owner or pkind
            container = lang.container_name(parent, data)
            if container:
                parts.append(container)
                owner = owner or "type"
            elif lang.is_function_scope(parent):
                return None, True, owner
            parent = parent.parent
        return ".".join(reversed(parts)), False, owner

    file_is_test = lang.is_test_path(path)
    symbols: list[Symbol] = []
    texts: list[str] = []
    sigs: list[str] = []
    def_qualnames: dict[int, str] = {}  # def node id -> qualified name, containers too
    def_symbols: dict[int, Symbol] = {}
    for node_id, (node, name_node, kind) in defs.items():
        if _inside_error(node):
            continue  # error recovery can invent definitions; report the region, not phantoms
        prefix, nested, owner = qualify(node)
        if nested:
            continue
        name = text_of(name_node, data)
        qualname = f"{prefix}.{name}" if prefix else name
        span = lang.span_node(node)
        if kind == "function" and owner and owner != "module":  # a fn in a Rust mod / TS namespace stays a function
            kind = "method"
        if kind in ("impl", "module"):
            def_qualnames[node_id] = qualname
            continue
        body = lang.body(node)
        sig_end = body.start_byte if body is not None else node.end_byte
        if kind == "constant":  # its first line: DEFAULTS = {
            newline = data.find(b"\n", span.start_byte, sig_end)
            sig_end = newline if newline != -1 else sig_end
        signature = _WS.sub(" ", data[span.start_byte : sig_end].decode("utf-8", "replace")).strip()
        signature = signature.rstrip("{:= ").strip()[:MAX_SIGNATURE_CHARS]
        full = data[span.start_byte : node.end_byte]
        doc = lang.docstring(node, data) if lang.docstring is not None else leading_comment(span, data)
        symbols.append(
            Symbol(
                path=path,
                qualname=qualname,
                name=name,
                kind=kind,
                start_line=span.start_point[0] + 1,
                end_line=node.end_point[0] + 1,
                signature=signature,
                doc=doc[:MAX_DOC_CHARS],
                hash=content_hash(full),
                body_line=(body.start_point[0] + 1) if body is not None else 0,
                test=file_is_test or lang.in_test(node, data),
            )
        )
        texts.append(full.decode("utf-8", "replace"))
        sigs.append(signature)
        def_symbols[node_id] = symbols[-1]

    # Duplicate qualified names: the n-th definition of a name is ``name#n``, except the
    # one that keeps the plain name, which a call to the name resolves to: the first that
    # is not an ``@overload`` stub (Python calls the implementation after its stubs), so
    # of a getter and its setter, the getter.
    anchored = {i: a for i, a in anchored.items() if i in def_qualnames or i in def_symbols}
    anchored_syms = {id(def_symbols[i]) for i in anchored if i in def_symbols}
    by_name: dict[str, list[Symbol]] = {}
    for sym in sorted(symbols, key=lambda s: s.start_line):
        if id(sym) not in anchored_syms:
            by_name.setdefault(sym.qualname, []).append(sym)
    for same in by_name.values():
        if len(same) > 1:
            primary = next((s for s in same if not _OVERLOAD.search(s.signature)), same[0])
            for n, sym in enumerate(same, 1):
                if sym is not primary:
                    sym.qualname = f"{sym.qualname}#{n}"
    # Members of unnamed values take their owner's final name (``toJson#2.writer.write``),
    # outer before inner, then a number of their own if another member has that name.
    def_qualnames.update((node_id, sym.qualname) for node_id, sym in def_symbols.items())
    taken = {sym.qualname for sym in symbols if id(sym) not in anchored_syms}
    for node_id in sorted(anchored, key=lambda i: (defs[i][0].start_byte, -defs[i][0].end_byte)):
        owner_id, old = anchored[node_id]
        qualname = def_qualnames.get(owner_id, old) + def_qualnames[node_id][len(old):]
        n, base = 1, qualname
        while qualname in taken:
            n += 1
            qualname = f"{base}#{n}"
        taken.add(qualname)
        def_qualnames[node_id] = qualname
        if node_id in def_symbols:
            def_symbols[node_id].qualname = qualname
    counts = count_many(texts + sigs)
    for i, sym in enumerate(symbols):
        sym.tokens_full, sym.tokens_sig = counts[i], counts[len(symbols) + i]
    symbols.sort(key=lambda s: (s.start_line, s.end_line))
    parsed.symbols = symbols

    def scope_of(node: Node, decorated: bool = False) -> str:
        """The symbol a node is in; with ``decorated``, a decorator's argument belongs to
        the definition it decorates (``@dispatch(A, B)`` is a use of A by that function)."""
        parent = node.parent
        while parent is not None:
            if parent.id in def_qualnames:
                return def_qualnames[parent.id]
            if decorated and parent.type == "decorated_definition":
                definition = parent.child_by_field_name("definition")
                if definition is not None and definition.id in def_qualnames:
                    return def_qualnames[definition.id]
            parent = parent.parent
        return ""

    for kind, nodes in (("call", call_nodes), ("inherit", inherit_nodes), ("type", type_nodes)):
        for node in nodes:
            # A hook may say what a node names when no single node spells it (Java's
            # method_invocation keeps receiver and name apart).
            chain = split_chain(lang.ref_text(node, data))
            if chain and len(chain) <= 8:
                parsed.refs.append(Ref(chain=chain, line=node.start_point[0] + 1, scope=scope_of(node, kind == "type"), kind=kind))
    for target, value, kind in assigns:
        chain = split_chain(text_of(value, data))
        if chain and len(chain) <= 8:
            parsed.refs.append(Ref(chain, value.start_point[0] + 1, scope_of(value), kind, text_of(target, data)))
    _add_labels(symbols, label_nodes, scope_of, data)
    for node in import_nodes:
        parsed.imports.extend(lang.imports(node, data))
    parsed.package = lang.package(root, data)
    return parsed


def _add_labels(symbols: list[Symbol], nodes: dict[str, list], scope_of, data: bytes) -> None:
    """The strings a symbol is registered under in its own file, which tasks quote (a
    directive's ``.. include::``, ``domain='EX'``, an event ``source-read``) and code names
    nowhere else. A string with interpolations (an f-string) is no label."""
    labels: dict[str, dict[str, None]] = {}  # qualname -> labels, in order

    def add(qualname: str, string: Node) -> None:
        parts = string.named_children
        if qualname and [c.type for c in parts] == ["string_start", "string_content", "string_end"]:
            text = text_of(parts[1], data)
            if _LABEL.fullmatch(text):
                labels.setdefault(qualname, {})[text] = None

    for attr, string in nodes["label.string"]:
        if _NAMING_ATTR.search(text_of(attr, data)):
            add(scope_of(string), string)
    classes = {s.qualname for s in symbols if s.kind == "class"}
    top_level = classes | {s.qualname for s in symbols if s.kind == "function"}
    for node in nodes["label.args"]:
        callee = node.parent.child_by_field_name("function") if node.parent is not None else None
        if callee is None or split_chain(text_of(callee, data))[-1] in _NOT_REGISTRY:
            continue
        strings = [c for c in node.named_children if c.type == "string"]
        if len(strings) != 1:
            continue
        for arg in node.named_children:
            name = text_of(arg, data) if arg.type == "identifier" else ""
            if arg.type == "call" and not arg.child_by_field_name("arguments").named_children:
                function = arg.child_by_field_name("function")  # a class instantiated bare: XRefRole()
                name = text_of(function, data) if function.type == "identifier" and text_of(function, data) in classes else ""
            if name in top_level:
                add(name, strings[0])
    for sym in symbols:
        if sym.qualname in labels:
            sym.labels = " ".join(labels[sym.qualname])
