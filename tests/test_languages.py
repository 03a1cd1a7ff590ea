"""Every language indexes the polyglot fixture to the symbols and edges it is known to have.

The fixture (``fixtures/polyglot/``) holds, in each language, two same-named functions in
different modules and callers that import only one of them: resolution must follow the
imports, never the bare name.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from indexers.build import Indexer
from indexers.parse import parse_source
from indexers.resolve import ResolveIndex, resolve_file
from indexers.types import Edge

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "polyglot"
JAVA = "java/src/main/java/com/poly"


@dataclass
class Case:
    """What one language's part of the fixture indexes to."""

    # path → every symbol of the file, in order: (qualname, kind, start line, end line)
    symbols: dict[str, list[tuple[str, str, int, int]]]
    # (src id, kind, dst id, resolution) that must be there
    edges: list[tuple[str, str, str, str]]
    # (src id, kind, dst id) that must not: the same-named definition in the wrong module
    absent: list[tuple[str, str, str]]
    # symbol id → its docstring or leading comment
    docs: dict[str, str] = field(default_factory=dict)


CASES = {
    "python": Case(
        symbols={
            "py/shop/__init__.py": [],
            "py/shop/pricing.py": [("parse", "function", 4, 6), ("total", "function", 9, 10)],
            "py/shop/inventory.py": [("parse", "function", 4, 6)],
            "py/shop/models.py": [
                ("Base", "class", 1, 3),
                ("Base.save", "method", 2, 3),
                ("Order", "class", 6, 17),
                ("Order.__init__", "method", 9, 10),
                ("Order.submit", "method", 12, 14),
                ("Order.validate", "method", 16, 17),
            ],
            "py/shop/checkout.py": [
                ("checkout", "function", 9, 13),
                ("in_stock", "function", 16, 17),
                ("restock", "function", 20, 21),
            ],
        },
        edges=[
            # from .pricing import parse
            ("py/shop/checkout.py:checkout", "call", "py/shop/pricing.py:parse", "import"),
            # from shop import total, re-exported by shop/__init__.py
            ("py/shop/checkout.py:checkout", "call", "py/shop/pricing.py:total", "import"),
            ("py/shop/checkout.py:checkout", "call", "py/shop/models.py:Order", "import"),
            ("py/shop/checkout.py:checkout", "call", "py/shop/checkout.py:in_stock", "local"),
            # from . import inventory; inventory.parse()
            ("py/shop/checkout.py:in_stock", "call", "py/shop/inventory.py:parse", "qualified"),
            # import shop.inventory as inv; inv.parse()
            ("py/shop/checkout.py:restock", "call", "py/shop/inventory.py:parse", "qualified"),
            # self.save() reaches the base class
            ("py/shop/models.py:Order.submit", "call", "py/shop/models.py:Base.save", "self"),
            ("py/shop/models.py:Order.submit", "call", "py/shop/models.py:Order.validate", "self"),
            ("py/shop/models.py:Order", "inherit", "py/shop/models.py:Base", "local"),
            ("py/shop/__init__.py:", "import", "py/shop/pricing.py:total", "import"),
            ("py/shop/checkout.py:", "import", "py/shop/inventory.py:", "import"),
        ],
        absent=[
            ("py/shop/checkout.py:checkout", "call", "py/shop/inventory.py:parse"),
            ("py/shop/checkout.py:in_stock", "call", "py/shop/pricing.py:parse"),
            ("py/shop/checkout.py:restock", "call", "py/shop/pricing.py:parse"),
        ],
        docs={
            "py/shop/pricing.py:parse": 'Price lines, "name=cents", to a list of cents.',
            "py/shop/models.py:Order": "An order of items.",
        },
    ),
    "javascript": Case(
        symbols={
            "js/app.js": [
                ("Base", "class", 8, 12),
                ("Base.log", "method", 9, 11),
                ("App", "class", 15, 25),
                ("App.run", "method", 16, 19),
                ("App.load", "method", 21, 24),  # a class field holding an arrow function
                ("readConfig", "function", 27, 29),
                ("readTable", "function", 31, 33),
                ("main", "function", 35, 35),  # const main = () => …
            ],
            "js/lib/csv.js": [("parse", "function", 2, 4), ("format", "function", 6, 8)],
            "js/lib/json.js": [("parse", "function", 2, 4)],
            "js/lib/index.js": [],
            "js/util.cjs": [("slugify", "function", 1, 3), ("trim", "function", 5, 7), ("shout", "function", 11, 13)],
        },
        edges=[
            # import { parse } from "./lib/json.js"
            ("js/app.js:readConfig", "call", "js/lib/json.js:parse", "import"),
            # import { parseCsv } from "./lib": index.js re-exports csv's parse as parseCsv
            ("js/app.js:readTable", "call", "js/lib/csv.js:parse", "import"),
            # import * as csv; csv.parse()
            ("js/app.js:App.load", "call", "js/lib/csv.js:parse", "qualified"),
            # import format from "./lib/csv.js": the default export
            ("js/app.js:App.load", "call", "js/lib/csv.js:format", "import"),
            # const { slugify, clean } = require(...); clean is trim, renamed in module.exports
            ("js/app.js:App.run", "call", "js/util.cjs:slugify", "import"),
            ("js/app.js:main", "call", "js/util.cjs:trim", "import"),
            # const util = require(...); util.shout(): module.exports.shout = function …
            ("js/app.js:main", "call", "js/util.cjs:shout", "qualified"),
            # this.m() in a class, through extends
            ("js/app.js:App.run", "call", "js/app.js:Base.log", "self"),
            ("js/app.js:App.run", "call", "js/app.js:App.load", "self"),
            # new App() and new App().run()
            ("js/app.js:main", "call", "js/app.js:App", "local"),
            ("js/app.js:main", "call", "js/app.js:App.run", "qualified"),
            ("js/app.js:App", "inherit", "js/app.js:Base", "local"),
            ("js/util.cjs:shout", "call", "js/util.cjs:slugify", "local"),
            ("js/lib/index.js:", "import", "js/lib/csv.js:parse", "import"),
            ("js/app.js:", "import", "js/lib/csv.js:", "import"),
        ],
        absent=[
            ("js/app.js:readConfig", "call", "js/lib/csv.js:parse"),
            ("js/app.js:readTable", "call", "js/lib/json.js:parse"),
            ("js/app.js:App.load", "call", "js/lib/json.js:parse"),
        ],
        docs={
            "js/lib/csv.js:parse": "Split CSV text into rows of cells.",
            "js/lib/json.js:parse": "Parse JSON text.",
            "js/app.js:App": "The application: reads text, prints rows.",
        },
    ),
    "typescript": Case(
        symbols={
            "ts/a/parse.ts": [("parse", "function", 2, 4)],
            "ts/b/parse.ts": [("parse", "function", 2, 4)],
            "ts/shapes.ts": [
                ("Shape", "interface", 2, 4),
                ("Shape.area", "method", 3, 3),
                ("Unit", "enum", 6, 9),
                ("Named", "type", 11, 11),
                ("Base", "class", 13, 19),
                ("Base.describe", "method", 14, 16),
                ("Base.area", "method", 18, 18),
                ("Circle", "class", 21, 29),
                ("Circle.constructor", "method", 22, 24),
                ("Circle.area", "method", 26, 28),
            ],
            "ts/main.ts": [("main", "function", 5, 9), ("report", "function", 11, 14)],
            "ts/view.tsx": [("Props", "type", 3, 3), ("View", "function", 5, 7), ("Item", "function", 9, 9)],
        },
        edges=[
            ("ts/main.ts:main", "call", "ts/a/parse.ts:parse", "import"),
            ("ts/main.ts:main", "call", "ts/shapes.ts:Circle", "import"),
            ("ts/main.ts:main", "call", "ts/view.tsx:View", "import"),
            ("ts/view.tsx:View", "call", "ts/b/parse.ts:parse", "import"),
            ("ts/view.tsx:View", "call", "ts/view.tsx:Item", "local"),  # <Item /> in TSX
            ("ts/shapes.ts:Base.describe", "call", "ts/shapes.ts:Base.area", "self"),
            ("ts/shapes.ts:Circle", "inherit", "ts/shapes.ts:Base", "local"),
            ("ts/shapes.ts:Circle", "inherit", "ts/shapes.ts:Shape", "local"),  # implements
            ("ts/main.ts:", "import", "ts/shapes.ts:Shape", "import"),
            # receivers whose class the code states: shape: Shape, circle = new Circle()
            ("ts/main.ts:report", "call", "ts/shapes.ts:Shape.area", "qualified"),
            ("ts/main.ts:report", "call", "ts/shapes.ts:Base.describe", "qualified"),
        ],
        absent=[
            ("ts/main.ts:main", "call", "ts/b/parse.ts:parse"),
            ("ts/view.tsx:View", "call", "ts/a/parse.ts:parse"),
        ],
        docs={"ts/shapes.ts:Shape": "Anything with an area.", "ts/a/parse.ts:parse": "Sizes from a comma-separated list."},
    ),
    "go": Case(
        symbols={
            "go/main.go": [("main", "function", 10, 14)],
            "go/describe.go": [("describe", "function", 6, 8)],
            "go/config/config.go": [("Parse", "function", 6, 8)],
            "go/store/parse.go": [("Parse", "function", 4, 6)],
            "go/store/store.go": [
                ("Base", "struct", 4, 6),
                ("Base.Name", "method", 9, 11),
                ("Store", "struct", 14, 17),
                ("Saver", "interface", 20, 22),
                ("Saver.Put", "method", 21, 21),
                ("New", "function", 25, 27),
                ("Store.Put", "method", 30, 33),
                ("Store.check", "method", 35, 39),
            ],
        },
        edges=[
            # cfg "example.com/poly/config"; cfg.Parse()
            ("go/main.go:main", "call", "go/config/config.go:Parse", "qualified"),
            ("go/main.go:main", "call", "go/store/store.go:New", "qualified"),
            # s := store.New(); s.Put(): New's signature returns *Store
            ("go/main.go:main", "call", "go/store/store.go:Store.Put", "qualified"),
            # same package, another file
            ("go/main.go:main", "call", "go/describe.go:describe", "local"),
            # bare Parse() inside package store is store's own
            ("go/store/store.go:Store.Put", "call", "go/store/parse.go:Parse", "local"),
            # s.check() on the receiver
            ("go/store/store.go:Store.Put", "call", "go/store/store.go:Store.check", "self"),
            # s.Name() promoted from the embedded Base
            ("go/store/store.go:Store.check", "call", "go/store/store.go:Base.Name", "self"),
            # a parameter typed *store.Store
            ("go/describe.go:describe", "call", "go/store/store.go:Base.Name", "qualified"),
            ("go/store/store.go:New", "call", "go/store/store.go:Store", "local"),  # &Store{…}
            ("go/store/store.go:Store", "inherit", "go/store/store.go:Base", "local"),  # embedding
            ("go/store/store.go:Store", "inherit", "go/store/store.go:Saver", "name"),  # has Put
            ("go/main.go:", "import", "go/config/config.go:", "import"),
        ],
        absent=[
            ("go/main.go:main", "call", "go/store/parse.go:Parse"),
            ("go/store/store.go:Store.Put", "call", "go/config/config.go:Parse"),
            ("go/main.go:main", "call", "go/store/store.go:Saver.Put"),
        ],
        docs={
            "go/store/store.go:Store": "Store is an in-memory key-value store.",
            "go/store/store.go:Base.Name": "Name returns the store's name.",
        },
    ),
    "rust": Case(
        symbols={
            "rust/src/main.rs": [("main", "function", 7, 12), ("raw", "function", 14, 16)],
            "rust/src/config.rs": [("Config", "struct", 2, 5), ("parse", "function", 8, 10)],
            "rust/src/net/mod.rs": [("parse", "function", 4, 6)],
            "rust/src/net/client.rs": [
                ("Transport", "trait", 5, 11),
                ("Transport.send", "method", 6, 6),
                ("Transport.name", "method", 8, 10),
                ("Client", "struct", 13, 15),
                ("Client.new", "method", 18, 20),
                ("Client.with_host", "method", 22, 24),
                ("Client.frame", "method", 26, 28),
                ("Client.send", "method", 32, 36),  # from impl Transport for Client
                ("connect", "function", 39, 41),
                ("tests.local", "function", 47, 49),  # in `mod tests { … }`
                ("tests.sends", "function", 51, 54),
            ],
        },
        edges=[
            # use config::parse  (mod config; → src/config.rs)
            ("rust/src/main.rs:main", "call", "rust/src/config.rs:parse", "import"),
            # use crate::net::client::{connect as open, Client}
            ("rust/src/main.rs:main", "call", "rust/src/net/client.rs:connect", "import"),
            ("rust/src/main.rs:main", "call", "rust/src/net/client.rs:Client.new", "qualified"),
            # let client = Client::new(..); client.send(): new returns Self
            ("rust/src/main.rs:main", "call", "rust/src/net/client.rs:Client.send", "qualified"),
            # local().send(): fn local() -> Client
            ("rust/src/net/client.rs:tests.sends", "call", "rust/src/net/client.rs:Client.send", "qualified"),
            # net::parse()  (mod net; → src/net/mod.rs)
            ("rust/src/main.rs:raw", "call", "rust/src/net/mod.rs:parse", "qualified"),
            # use super::parse
            ("rust/src/net/client.rs:Client.frame", "call", "rust/src/net/mod.rs:parse", "import"),
            ("rust/src/net/client.rs:Client.new", "call", "rust/src/net/client.rs:Client.with_host", "self"),
            ("rust/src/net/client.rs:Client.send", "call", "rust/src/net/client.rs:Client.frame", "self"),
            # self.name(): the trait's default method
            ("rust/src/net/client.rs:Client.send", "call", "rust/src/net/client.rs:Transport.name", "self"),
            ("rust/src/net/client.rs:connect", "call", "rust/src/net/client.rs:Client.with_host", "qualified"),
            ("rust/src/net/client.rs:tests.local", "call", "rust/src/net/client.rs:connect", "local"),
            ("rust/src/net/client.rs:Client", "inherit", "rust/src/net/client.rs:Transport", "local"),
            ("rust/src/main.rs:", "import", "rust/src/net/mod.rs:", "import"),
            ("rust/src/net/client.rs:", "import", "rust/src/config.rs:Config", "import"),
        ],
        absent=[
            ("rust/src/main.rs:main", "call", "rust/src/net/mod.rs:parse"),
            ("rust/src/main.rs:raw", "call", "rust/src/config.rs:parse"),
            ("rust/src/net/client.rs:Client.frame", "call", "rust/src/config.rs:parse"),
        ],
        docs={"rust/src/config.rs:Config": "Settings read from text.", "rust/src/net/mod.rs:parse": "Parse a raw frame."},
    ),
    "java": Case(
        symbols={
            f"{JAVA}/app/Main.java": [("Main", "class", 6, 14), ("Main.main", "method", 7, 13)],
            f"{JAVA}/app/Helper.java": [
                ("Helper", "class", 3, 14),
                ("Helper.log", "method", 4, 6),
                ("Helper.shared", "method", 8, 10),
                ("Helper.quiet", "method", 12, 13),
                ("Level", "enum", 16, 23),
                ("Level.loud", "method", 20, 22),
            ],
            f"{JAVA}/app/Startable.java": [("Startable", "interface", 3, 5), ("Startable.start", "method", 4, 4)],
            f"{JAVA}/app/BaseService.java": [("BaseService", "class", 3, 8), ("BaseService.stop", "method", 5, 7)],
            f"{JAVA}/app/Service.java": [
                ("Service", "class", 6, 20),
                ("Service.start", "method", 9, 12),
                ("Service.run", "method", 14, 19),
            ],
            f"{JAVA}/json/Parser.java": [("Parser", "class", 3, 8), ("Parser.parse", "method", 5, 7)],
            f"{JAVA}/xml/Parser.java": [
                ("Parser", "class", 3, 12),
                ("Parser.parse", "method", 5, 7),
                ("Parser.read", "method", 9, 11),
            ],
        },
        edges=[
            # import com.poly.json.Parser; Parser.parse()
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/json/Parser.java:Parser.parse", "qualified"),
            # import com.poly.xml.Parser; Parser.parse()
            (f"{JAVA}/app/Service.java:Service.run", "call", f"{JAVA}/xml/Parser.java:Parser.parse", "qualified"),
            # a field typed Parser: parser.read()
            (f"{JAVA}/app/Service.java:Service.run", "call", f"{JAVA}/xml/Parser.java:Parser.read", "qualified"),
            # same package, no import: new Service(), a local typed Service, Helper.log()
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/app/Service.java:Service", "local"),
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/app/Service.java:Service.start", "qualified"),
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/app/Helper.java:Helper.log", "qualified"),
            # Helper.shared().quiet(): shared's signature returns a Helper
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/app/Helper.java:Helper.quiet", "qualified"),
            # this.run() and a bare stop() inherited from BaseService
            (f"{JAVA}/app/Service.java:Service.start", "call", f"{JAVA}/app/Service.java:Service.run", "self"),
            (f"{JAVA}/app/Service.java:Service.run", "call", f"{JAVA}/app/BaseService.java:BaseService.stop", "self"),
            (f"{JAVA}/xml/Parser.java:Parser.read", "call", f"{JAVA}/xml/Parser.java:Parser.parse", "local"),
            (f"{JAVA}/app/Service.java:Service", "inherit", f"{JAVA}/app/BaseService.java:BaseService", "local"),
            (f"{JAVA}/app/Service.java:Service", "inherit", f"{JAVA}/app/Startable.java:Startable", "local"),
            (f"{JAVA}/app/Main.java:", "import", f"{JAVA}/json/Parser.java:Parser", "import"),
        ],
        absent=[
            (f"{JAVA}/app/Main.java:Main.main", "call", f"{JAVA}/xml/Parser.java:Parser.parse"),
            (f"{JAVA}/app/Service.java:Service.run", "call", f"{JAVA}/json/Parser.java:Parser.parse"),
            (f"{JAVA}/app/Service.java:", "import", f"{JAVA}/json/Parser.java:Parser"),
        ],
        docs={
            f"{JAVA}/app/Service.java:Service": "A service that reads one document, then stops.",
            f"{JAVA}/xml/Parser.java:Parser.parse": "Parse XML text.",
        },
    ),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of the fixture, so that indexing writes nothing into ``fixtures/``."""
    copy = tmp_path_factory.mktemp("polyglot") / "repo"
    shutil.copytree(FIXTURE, copy)
    return copy


@pytest.fixture(scope="module")
def indexed(repo: Path, tmp_path_factory) -> Indexer:
    ix = Indexer(repo, tmp_path_factory.mktemp("store"))
    ix.update()
    return ix


def _edges(ix: Indexer) -> dict[tuple[str, str, str], Edge]:
    return {(e.src, e.kind, e.dst): e for e in ix.all_edges()}


def _python_edges(sources: dict[str, str], of: str | None = "use.py") -> set[tuple[str, str, str]]:
    """(src, kind, dst) of the edges out of file ``of`` (every file: None), parsed and
    resolved with ``sources``."""
    files = {p: parse_source(p, "python", src.encode(), src) for p, src in sources.items()}
    index = ResolveIndex.build(files)
    return {(e.src, e.kind, e.dst) for p in ([of] if of else files) for e in resolve_file(files[p], index)}


@pytest.mark.parametrize("language", sorted(CASES))
def test_each_language_indexes_to_its_known_symbols_and_edges(indexed: Indexer, language: str):
    case = CASES[language]
    for path, expected in case.symbols.items():
        assert path in indexed.files, f"{path} was not indexed"
        got = [(s.qualname, s.kind, s.start_line, s.end_line) for s in indexed.files[path].symbols]
        assert got == expected, path
    symbols = {s.id: s for s in indexed.all_symbols()}
    for sid, doc in case.docs.items():
        assert symbols[sid].doc == doc, sid

    edges = _edges(indexed)
    for src, kind, dst, resolution in case.edges:
        edge = edges.get((src, kind, dst))
        assert edge is not None, f"missing {kind} edge {src} -> {dst}"
        assert edge.resolution == resolution, f"{src} -> {dst} resolved by {edge.resolution}"
    for src, kind, dst in case.absent:
        assert (src, kind, dst) not in edges, f"{src} is linked to the same-named {dst}"


@pytest.mark.parametrize(
    "path, error_lines, survivors",
    [
        ("py/shop/broken.py", [(5, 5)], ["fine", "also_fine"]),
        ("js/broken.js", [(6, 6)], ["ok", "alsoOk"]),
    ],
)
def test_a_syntax_error_is_reported_and_the_rest_of_the_file_is_indexed(indexed: Indexer, path, error_lines, survivors):
    pf = indexed.files[path]
    assert pf.errors == error_lines
    assert set(survivors) <= {s.qualname for s in pf.symbols}
    callee = f"{path}:{survivors[0]}"
    assert (f"{path}:{survivors[1]}", "call", callee) in _edges(indexed)


def test_git_ignored_files_are_not_indexed(repo: Path, indexed: Indexer):
    # fixtures/polyglot/generated/ is git-ignored by design: it is committed with `git add -f`.
    assert (repo / "generated" / "leak.py").is_file(), "the fixture lost generated/leak.py"
    assert not any(path.startswith("generated/") for path in indexed.files)
    assert not any(e.dst.startswith("generated/") for e in indexed.all_edges())


def test_go_import_paths_come_from_go_mod_when_the_root_is_known(tmp_path: Path):
    # The module's root package, imported from a command below it: no directory name
    # matches the import path, so only go.mod's `module` line can place it.
    repo = tmp_path / "repo"
    (repo / "svc" / "cmd" / "run").mkdir(parents=True)
    (repo / "svc" / "go.mod").write_text("module example.com/tiny\n\ngo 1.22\n")
    (repo / "svc" / "tiny.go").write_text("package tiny\n\nfunc Clean() {}\n")
    (repo / "svc" / "cmd" / "run" / "main.go").write_text(
        'package main\n\nimport "example.com/tiny"\n\nfunc main() {\n\ttiny.Clean()\n}\n'
    )
    ix = Indexer(repo, tmp_path / "store")
    ix.update()

    index = ResolveIndex.build(ix.files, root=repo)
    edges = {(e.src, e.kind, e.dst) for e in resolve_file(ix.files["svc/cmd/run/main.go"], index)}
    assert ("svc/cmd/run/main.go:main", "call", "svc/tiny.go:Clean") in edges
    assert ("svc/cmd/run/main.go:", "import", "svc/tiny.go:") in edges


CONSTANTS = {
    # language: (file name, source, symbols as (qualname, kind, start, end))
    "python": ("m.py",
               'import os\nMAX_RETRIES = 3\nDEFAULTS: dict = {\n    "a": 1,\n}\nlowercase = 5\nclass C:\n    LIMIT = 2\n'
               "def f():\n    INNER = 1\n    return INNER\nif os.name:\n    HIDDEN = 1\n",
               [("MAX_RETRIES", "constant", 2, 2), ("DEFAULTS", "constant", 3, 5), ("C", "class", 7, 8), ("f", "function", 9, 11)]),
    "javascript": ("m.js",
                   "const MAX = 3;\nexport const DEFAULTS = {\n  a: 1,\n};\nconst HANDLER = () => 1;\nconst lower = 2;\n"
                   "function f() { const IN = 1; }\n",
                   [("MAX", "constant", 1, 1), ("DEFAULTS", "constant", 2, 4), ("HANDLER", "function", 5, 5), ("f", "function", 7, 7)]),
    "typescript": ("m.ts", "const MAX = 3 as const;\nexport const DEFAULTS: Record<string, number> = {\n  a: 1,\n};\nconst HANDLER = () => 1;\n",
                   [("MAX", "constant", 1, 1), ("DEFAULTS", "constant", 2, 4), ("HANDLER", "function", 5, 5)]),
    "rust": ("m.rs", 'const MAX: u32 = 3;\nstatic NAME: &str = "x";\nstruct S;\nimpl S { const LIMIT: u8 = 1; }\nfn f() { const IN: u8 = 2; }\n',
             [("MAX", "constant", 1, 1), ("NAME", "constant", 2, 2), ("S", "struct", 3, 3), ("S.LIMIT", "constant", 4, 4), ("f", "function", 5, 5)]),
    "go": ("m.go", "package m\nconst Max = 3\nconst (\n\tA = iota\n\tB\n)\nfunc f() { const in = 1 }\n",
           [("Max", "constant", 2, 2), ("A", "constant", 4, 4), ("B", "constant", 5, 5), ("f", "function", 7, 7)]),
}


@pytest.mark.parametrize("language", sorted(CONSTANTS))
def test_module_level_constants_are_symbols_and_nothing_inside_a_function_is(language: str):
    name, source, expected = CONSTANTS[language]
    parsed = parse_source(name, language, source.encode(), source)
    assert [(s.qualname, s.kind, s.start_line, s.end_line) for s in parsed.symbols] == expected
    # A constant's signature is its first line, not a whole table.
    defaults = [s for s in parsed.symbols if s.name == "DEFAULTS"]
    assert all("1" not in s.signature for s in defaults)


def test_python_types_named_without_a_call_are_type_edges_to_their_classes():
    # Annotations, isinstance/issubclass checks and dispatch decorators depend on a class
    # as much as a call does; a name that is not a class (area) gets no type edge.
    shapes = "class Shape:\n    pass\n\n\nclass Circle(Shape):\n    pass\n\n\ndef area(s):\n    return 0\n"
    use = (
        "from shapes import Circle, Shape, area\n"
        "\n"
        "@dispatch(Circle, Shape)\n"
        "def meet(a, b):\n"
        "    return a\n"
        "\n"
        "def grow(s: Shape, f: area) -> Circle:\n"
        "    return s\n"
        "\n"
        "def check(x):\n"
        "    return isinstance(x, (Circle, Shape)) or issubclass(x, Shape)\n"
    )
    types = {(src, dst) for src, kind, dst in _python_edges({"shapes.py": shapes, "use.py": use}) if kind == "type"}
    assert types == {
        ("use.py:meet", "shapes.py:Circle"), ("use.py:meet", "shapes.py:Shape"),
        ("use.py:grow", "shapes.py:Shape"), ("use.py:grow", "shapes.py:Circle"),
        ("use.py:check", "shapes.py:Circle"), ("use.py:check", "shapes.py:Shape"),
    }


def test_python_module_level_aliases_are_symbols_tied_to_what_they_name():
    # sympy's `Eq = Equality`: a task that says Eq(...) must find the class.
    rel = ("class Equality:\n    pass\n\nEq = Equality\nNe = mod.Unequality\nLIMIT = OTHER\n"
           "def pretty_print(x):\n    return x\n\npprint = pretty_print\ncount = 3\nclass C:\n    alias = Equality\n")
    use = "from rel import Eq, pprint\n\ndef solve():\n    return Eq()\n"
    files = {p: parse_source(p, "python", src.encode(), src) for p, src in (("rel.py", rel), ("use.py", use))}
    kinds = {s.qualname: s.kind for s in files["rel.py"].symbols}
    assert kinds == {"Equality": "class", "Eq": "alias", "Ne": "alias", "LIMIT": "constant",
                     "pretty_print": "function", "pprint": "alias", "C": "class"}
    assert {s.signature for s in files["rel.py"].symbols if s.kind == "alias"} == {"Eq = Equality", "Ne = mod.Unequality", "pprint = pretty_print"}
    index = ResolveIndex.build(files)
    edges = {(e.src, e.kind, e.dst) for p in files for e in resolve_file(files[p], index) if e.kind != "contain"}
    assert ("rel.py:Eq", "type", "rel.py:Equality") in edges
    assert ("rel.py:pprint", "type", "rel.py:pretty_print") in edges
    assert ("use.py:solve", "call", "rel.py:Eq") in edges


def test_python_labels_are_strings_the_file_registers_a_class_or_function_under():
    src = (
        "class PyDomain:\n    name = 'py'\n    encoding = 'utf-8'\n    alias = f'py{3}'\n\n"
        "    def f(self):\n        kind = 'in-a-method'\n\n"
        "class Include:\n    pass\n\nclass Role:\n    pass\n\n"
        "def handler(app):\n    pass\n\ndef cases():\n    return []\n\n"
        "def setup(app):\n"
        "    app.add_directive('include', Include)\n"  # one string and a name: a registration
        "    app.connect('source-read', handler)\n"
        "    app.add_role('ref', Role())\n"  # a class instantiated bare
        "    app.connect('other-event', self.handler)\n"  # an attribute is not the function
        "    app.add('a', 'b', Include)\n"  # two strings: which one?
        "    getattr(app, 'incl', Include)\n"
        "    parametrize('obj', cases())\n"  # a call's result is not the function
        "    show('end:', handler)\n"  # no label ends in punctuation
    )
    labels = {s.qualname: s.labels for s in parse_source("ext.py", "python", src.encode(), src).symbols}
    assert labels == {"PyDomain": "py", "PyDomain.f": "", "Include": "include", "Role": "ref",
                      "handler": "source-read", "cases": "", "setup": ""}


def test_python_annotated_parameters_and_aliases_type_a_receiver():
    # def f(cart: Cart): cart.add() calls Cart.add; so does a forward reference "Cart",
    # Optional[Cart], Cart | None (either way round, annotated assignments too), and a
    # variable bound to an alias's call (e = Eq(); e.as_set()). Cart | Bag types no receiver.
    shop = (
        "class Cart:\n    def add(self):\n        pass\n\n"
        "class Bag:\n    def add(self):\n        pass\n\n"
        "Basket = Cart\n"
    )
    use = (
        "from typing import Optional\n"
        "from shop import Bag, Basket, Cart\n\n"
        "def plain(cart: Cart):\n    cart.add()\n\n"
        "def forward(cart: \"Cart\" = None) -> \"Bag\":\n    cart.add()\n\n"
        "def maybe(bag: Optional[Bag] = None):\n    bag.add()\n\n"
        "def union(bag: Bag | None = None):\n    bag.add()\n\n"
        "def union_after(cart: None | Cart):\n    cart.add()\n\n"
        "def union_assigned():\n    cart: Cart | None = find()\n    cart.add()\n\n"
        "def either(item: Cart | Bag):\n    item.add()\n\n"
        "def through_alias():\n    b = Basket()\n    b.add()\n\n"
        "def untyped(cart):\n    cart.add()\n\n"
        "def generic(carts: list[Cart]):\n    carts.add()\n"
    )
    edges = {e for e in _python_edges({"shop.py": shop, "use.py": use}) if e[1] in ("call", "type")}
    calls = {(src, dst) for src, kind, dst in edges if kind == "call" and dst.endswith(".add")}
    assert calls == {
        ("use.py:plain", "shop.py:Cart.add"),
        ("use.py:forward", "shop.py:Cart.add"),
        ("use.py:maybe", "shop.py:Bag.add"),
        ("use.py:union", "shop.py:Bag.add"),
        ("use.py:union_after", "shop.py:Cart.add"),
        ("use.py:union_assigned", "shop.py:Cart.add"),
        ("use.py:through_alias", "shop.py:Cart.add"),
    }
    # Every member of a union is a type edge.
    assert {("use.py:either", "type", "shop.py:Cart"), ("use.py:either", "type", "shop.py:Bag"),
            ("use.py:union_after", "type", "shop.py:Cart"), ("use.py:union_assigned", "type", "shop.py:Cart")} <= edges
    # A forward reference is a type edge like a plain annotation, return type included.
    assert {("use.py:forward", "type", "shop.py:Cart"), ("use.py:forward", "type", "shop.py:Bag")} <= edges


def test_python_return_annotations_type_what_a_call_binds():
    # x = make() after def make() -> Cart; -> "Cart", Optional[Bag] and a classmethod too;
    # a property so annotated types what follows it (self.owner.greet(), cart.owner.greet()).
    # No annotation, a union of two classes, or a function bound without a call: untyped.
    shop = (
        "from typing import Optional\n\n"
        "class Person:\n    def greet(self):\n        pass\n\n"
        "class Cart:\n    def add(self):\n        pass\n\n"
        "    @classmethod\n    def empty(cls) -> \"Cart\":\n        return cls()\n\n"
        "    @property\n    def owner(self) -> Person:\n        return Person()\n\n"
        "class Trolley(Cart):\n    def push(self):\n        self.owner.greet()\n\n"
        "class Bag:\n    def add(self):\n        pass\n\n"
        "def make_cart() -> Cart:\n    return Cart()\n\n"
        "def find_bag() -> Optional[Bag]:\n    return None\n\n"
        "def untyped():\n    return Cart()\n\n"
        "def either() -> Cart | Bag:\n    return Cart()\n"
    )
    use = (
        "from shop import Cart, either, find_bag, make_cart, untyped\n\n"
        "def made():\n    c = make_cart()\n    c.add()\n\n"
        "def found():\n    bag = find_bag()\n    bag.add()\n\n"
        "def emptied():\n    cart = Cart.empty()\n    cart.add()\n\n"
        "def plain():\n    x = untyped()\n    x.add()\n\n"
        "def union():\n    y = either()\n    y.add()\n\n"
        "def visit(cart: Cart):\n    cart.owner.greet()\n\n"
        "class Holder:\n"
        "    def __init__(self):\n        self.cart = make_cart()\n        self.maker = make_cart\n\n"
        "    def run(self):\n        self.cart.add()\n        self.maker.add()\n"
    )
    edges = _python_edges({"shop.py": shop, "use.py": use}, of=None)
    calls = {(src, dst) for src, kind, dst in edges if kind == "call" and dst.endswith(".add")}
    greets = {(src, dst) for src, kind, dst in edges if kind == "call" and dst.endswith(".greet")}
    assert greets == {("shop.py:Trolley.push", "shop.py:Person.greet"), ("use.py:visit", "shop.py:Person.greet")}
    assert calls == {
        ("use.py:made", "shop.py:Cart.add"),
        ("use.py:found", "shop.py:Bag.add"),
        ("use.py:emptied", "shop.py:Cart.add"),
        ("use.py:Holder.run", "shop.py:Cart.add"),
    }


def test_python_overload_stubs_are_numbered_and_the_implementation_keeps_the_name():
    # Python calls the def after the @overload stubs: it is what the name stands for, in
    # symbols and in call edges. Of a property's getter and setter, the getter does.
    shop = (
        "import typing\nfrom typing import overload\n\n"
        "class Cart:\n"
        "    @overload\n    def get(self, key: int) -> int: ...\n"
        "    @typing.overload\n    def get(self, key: str) -> str: ...\n"
        "    def get(self, key):\n        return self.lookup(key)\n\n"
        "    def lookup(self, key):\n        return key\n\n"
        "    @property\n    def owner(self):\n        return 1\n\n"
        "    @owner.setter\n    def owner(self, value):\n        pass\n"
    )
    use = "from shop import Cart\n\ndef run(cart: Cart):\n    return cart.get(1), cart.owner\n"
    parsed = parse_source("shop.py", "python", shop.encode(), shop)
    spans = {s.qualname: (s.start_line, s.end_line) for s in parsed.symbols if s.parent == "Cart"}
    assert spans == {"Cart.get#1": (5, 6), "Cart.get#2": (7, 8), "Cart.get": (9, 10), "Cart.lookup": (12, 13),
                     "Cart.owner": (15, 17), "Cart.owner#2": (19, 21)}
    edges = _python_edges({"shop.py": shop, "use.py": use}, of=None)
    assert ("use.py:run", "call", "shop.py:Cart.get") in edges
    assert ("shop.py:Cart.get", "call", "shop.py:Cart.lookup") in edges


def test_python_attributes_typed_from_parameters_and_annotations_type_a_receiver():
    # self.client = client after client: Client; self.env: Env = None; env: Env in a
    # class body (dataclass style); a name bound to a class and its subclass is typed as
    # the class; one bound to two unrelated classes stays untyped.
    lib = (
        "class Client:\n    def send(self):\n        pass\n\n"
        "class Env:\n    def get_doc(self):\n        pass\n\n"
        "class Log:\n    def send(self):\n        pass\n\n"
        "class Lang:\n    def stem(self):\n        pass\n\n"
        "class English(Lang):\n    def stem(self):\n        pass\n"
    )
    use = (
        "from lib import Client, English, Env, Lang, Log\n\n"
        "class Session:\n"
        "    def __init__(self, client: Client, log: Log):\n"
        "        self.client = client\n"
        "        self.env: Env = None\n"
        "        self.lang: Lang = English()\n"
        "        self.either = client\n"
        "        self.either = log\n\n"
        "    def run(self):\n        self.client.send()\n        self.env.get_doc()\n        self.lang.stem()\n        self.either.send()\n\n"
        "class Builder:\n"
        "    env: \"Env\"\n\n"
        "    def build(self):\n        self.env.get_doc()\n\n"
        "class Untyped:\n"
        "    def __init__(self, client):\n        self.client = client\n\n"
        "    def run(self):\n        self.client.send()\n"
    )
    edges = _python_edges({"lib.py": lib, "use.py": use})
    calls = {(src, dst) for src, kind, dst in edges if kind == "call" and dst.startswith("lib.py:")}
    assert calls == {
        ("use.py:Session.run", "lib.py:Client.send"),
        ("use.py:Session.run", "lib.py:Env.get_doc"),
        ("use.py:Session.run", "lib.py:Lang.stem"),
        ("use.py:Session.__init__", "lib.py:English"),
        ("use.py:Builder.build", "lib.py:Env.get_doc"),
    }


@dataclass
class Construct:
    """Definitions a plain symbol query misses, and what they must index to."""

    path: str
    # symbols the file must hold: (qualname, kind, start line, end line)
    symbols: list[tuple[str, str, int, int]]
    # (src qualname in the file, dst id): a call edge that leaves the body the call is in
    calls: list[tuple[str, str]] = field(default_factory=list)
    # (src qualname in the file, dst id): call edges that must not be there
    absent: list[tuple[str, str]] = field(default_factory=list)


CONSTRUCTS = {
    "typescript: methods of an object literal a function returns, bound to a variable, or made by a class expression": Construct(
        "ts/plugins/css.ts",
        symbols=[
            ("cssPostPlugin", "function", 4, 15),
            ("cssPostPlugin.transform", "method", 7, 9),  # transform() {}
            ("cssPostPlugin.load", "method", 10, 12),  # load: function () {}
            ("cssPostPlugin.resolveId", "method", 13, 13),  # resolveId: () => …
            ("devServer.configureServer", "method", 18, 20),
            ("Mixin.greet", "method", 25, 27),  # (Base) => class extends Base {…}
        ],
        calls=[
            ("cssPostPlugin.transform", "ts/a/parse.ts:parse"),
            ("cssPostPlugin.transform", "ts/plugins/css.ts:cssPostPlugin.load"),  # this.load(): the object's own
            ("cssPostPlugin.resolveId", "ts/a/parse.ts:parse"),
            ("devServer.configureServer", "ts/plugins/css.ts:cssPostPlugin"),
            ("Mixin.greet", "ts/a/parse.ts:parse"),
        ],
        absent=[("cssPostPlugin", "ts/a/parse.ts:parse")],  # the calls are its methods'
    ),
    "typescript: an anonymous default export is named after its file, and importers call it": Construct(
        "ts/vite.config.ts",
        symbols=[("vite.config.default", "function", 3, 5)],
        calls=[("vite.config.default", "ts/plugins/css.ts:cssPostPlugin")],
    ),
    "typescript: a default import calls the anonymous default export": Construct(
        "ts/build.ts", symbols=[("build", "function", 3, 5)], calls=[("build", "ts/vite.config.ts:vite.config.default")]
    ),
    "javascript: an exported object and an object passed to a call": Construct(
        "js/server.js",
        symbols=[
            ("server.default", "constant", 3, 10),
            ("server.default.fetch", "method", 4, 6),
            ("server.default.routes.health", "method", 8, 8),
            ("app.use.handle", "method", 13, 15),  # app.use({handle() {}})
        ],
        calls=[
            ("server.default.fetch", "js/lib/json.js:parse"),
            ("server.default.routes.health", "js/lib/json.js:parse"),
            ("app.use.handle", "js/lib/json.js:parse"),
        ],
        absent=[("server.default", "js/lib/json.js:parse")],
    ),
    "java: anonymous classes held by fields, lambdas in fields, enum constant bodies, overloads": Construct(
        f"{JAVA}/app/Adapters.java",
        symbols=[
            ("Adapters.UPPER", "class", 7, 16),  # the field: its methods are members
            ("Adapters.UPPER.read", "method", 8, 11),
            ("Adapters.UPPER.write", "method", 13, 15),
            ("Adapters.TICK", "method", 18, 18),  # a lambda
            ("Adapters.Op.PLUS", "class", 21, 25),
            ("Adapters.Op.PLUS.apply", "method", 22, 24),
            ("Adapters.print", "method", 30, 32),
            ("Adapters.print#2", "method", 34, 41),  # the second overload
            ("Adapters.WRAPPED.wrap.run", "method", 44, 46),  # in a call in a field's initializer
            ("Adapters.print#2.later.run", "method", 37, 39),  # an anonymous class in it
        ],
        calls=[
            ("Adapters.UPPER.read", f"{JAVA}/xml/Parser.java:Parser.parse"),
            ("Adapters.UPPER.write", f"{JAVA}/app/Helper.java:Helper.log"),
            ("Adapters.TICK", f"{JAVA}/app/Helper.java:Helper.log"),
            ("Adapters.Op.PLUS.apply", f"{JAVA}/xml/Parser.java:Parser.parse"),
            ("Adapters.print", f"{JAVA}/app/Helper.java:Helper.log"),
            ("Adapters.print#2", f"{JAVA}/app/Helper.java:Helper.quiet"),
            ("Adapters.print#2.later.run", f"{JAVA}/xml/Parser.java:Parser.parse"),
            ("Adapters.WRAPPED.wrap.run", f"{JAVA}/app/Helper.java:Helper.log"),
        ],
        absent=[
            ("Adapters.print", f"{JAVA}/app/Helper.java:Helper.quiet"),  # the overload after it calls quiet
            ("Adapters.print#2", f"{JAVA}/xml/Parser.java:Parser.parse"),  # its anonymous class does
            ("Adapters", f"{JAVA}/xml/Parser.java:Parser.parse"),
        ],
    ),
    "rust: two #[cfg] variants of a function, each with its own calls": Construct(
        "rust/src/platform.rs",
        symbols=[("from_path", "function", 4, 7), ("from_path#2", "function", 10, 14), ("tests.reads_a_path", "function", 20, 23)],
        calls=[
            ("from_path", "rust/src/config.rs:parse"),
            ("from_path#2", "rust/src/net/mod.rs:parse"),
            ("tests.reads_a_path", "rust/src/platform.rs:from_path"),
        ],
        absent=[("from_path", "rust/src/net/mod.rs:parse"), ("from_path#2", "rust/src/config.rs:parse")],
    ),
    "python: a property's setter keeps its own calls": Construct(
        "py/shop/flags.py",
        symbols=[("Flags.on", "method", 5, 7), ("Flags.on#2", "method", 9, 11)],
        calls=[("Flags.on", "py/shop/pricing.py:total"), ("Flags.on#2", "py/shop/pricing.py:parse")],
        absent=[("Flags.on", "py/shop/pricing.py:parse")],
    ),
}


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_each_construct_is_a_symbol_whose_calls_leave_its_own_body(indexed: Indexer, construct: str):
    case = CONSTRUCTS[construct]
    got = {(s.qualname, s.kind, s.start_line, s.end_line) for s in indexed.files[case.path].symbols}
    assert set(case.symbols) <= got, sorted(got)
    calls = {(e.src, e.dst) for e in indexed.all_edges() if e.kind == "call"}
    for src, dst in case.calls:
        assert (f"{case.path}:{src}", dst) in calls, f"missing call {src} -> {dst}"
    for src, dst in case.absent:
        assert (f"{case.path}:{src}", dst) not in calls, f"{src} -> {dst} belongs to another body"


@pytest.fixture(scope="module")
def polyglot_workspace(repo: Path, indexed: Indexer):
    from mcp_server.workspace import Workspace

    ws = Workspace(repo)
    ws.refresh()
    return ws


@pytest.mark.parametrize("construct", sorted(CONSTRUCTS))
def test_each_construct_is_found_recalled_and_kept_whole_by_fold(polyglot_workspace, construct: str):
    from mcp_server.fold import fold_file
    from mcp_server.recall import recall
    from mcp_server.search import search_symbols

    case = CONSTRUCTS[construct]
    qualname, kind, start, end = case.symbols[-1]
    hit = search_symbols(polyglot_workspace, qualname).hits[0]
    assert (hit.symbol, hit.path, hit.start_line, hit.end_line) == (qualname, case.path, start, end)
    items = recall(polyglot_workspace, "What does it do, and who calls it?", budget=3000, focus=[f"{case.path}:{qualname}"]).items
    assert any(i.symbol == qualname and i.path == case.path and i.level == "full" for i in items)
    folded = fold_file(polyglot_workspace, case.path, focus=qualname).text
    source = (polyglot_workspace.repo / case.path).read_text().splitlines()
    for n in range(start, end + 1):
        assert f"{n}\t{source[n - 1]}" in folded.splitlines(), f"line {n} of {qualname} was folded"


TEST_CODE = {
    # language: (path, qualname, is test code)
    "python": [("py/tests/test_pricing.py", "test_total", True), ("py/shop/pricing.py", "total", False)],
    "javascript": [("js/server.js", "server.default.fetch", False)],
    "typescript": [("ts/plugins/__tests__/css.spec.ts", "transformsCss", True), ("ts/plugins/css.ts", "cssPostPlugin", False)],
    "go": [("go/store/store_test.go", "TestPut", True), ("go/store/store.go", "Store.Put", False)],
    "rust": [("rust/src/platform.rs", "tests.reads_a_path", True), ("rust/src/platform.rs", "from_path", False),
             ("rust/src/net/client.rs", "tests.sends", True), ("rust/src/net/client.rs", "connect", False)],
    "java": [("java/src/test/java/com/poly/app/AdaptersTest.java", "AdaptersTest.readsUpperCase", True),
             (f"{JAVA}/app/Adapters.java", "Adapters.UPPER.read", False)],
}


@pytest.mark.parametrize("language", sorted(TEST_CODE))
def test_test_code_is_marked_by_its_file_or_its_module(indexed: Indexer, language: str):
    stored = {s.id: s for s in indexed.all_symbols()}
    for path, qualname, is_test in TEST_CODE[language]:
        assert stored[f"{path}:{qualname}"].test is is_test, f"{path}:{qualname}"


def test_recall_weighs_an_inline_test_module_down_as_it_does_test_files(polyglot_workspace):
    from dataclasses import replace

    from mcp_server.recall import recall
    from mcp_server.settings import SETTINGS

    def score(settings) -> float:
        items = recall(polyglot_workspace, "reads a path", budget=1500, settings=settings).items
        return next(i.score for i in items if i.symbol == "tests.reads_a_path")

    assert score(SETTINGS) < 0.6 * score(replace(SETTINGS, test_factor=1.0))


DEFINITION_LINES = {
    # language: (lines that define `helper`, lines that only use it); fold_file reads them
    # to find a definition that is no symbol (one nested in a function)
    "python": (["    def helper(x):", "async def helper():", "class helper:"], ["    helper()", "    x = helper"]),
    "javascript": (["  function helper() {", "  const helper = () => 1", "  const helper = async (a) => 1", "  let helper = function () {}"],
                   ["  const helper = 5", "  helper()"]),
    "typescript": (["  const helper: Fn = (a) => 1", "export interface helper {"], ["  helper<T>()"]),
    "go": (["func (s *Store) helper() {", "\thelper := func() {", "type helper struct {"], ["\thelper()", "\tx := helper"]),
    "rust": (["    fn helper() {", "pub(crate) async fn helper(", "    struct helper;"], ["    helper();", "    let helper = 1;"]),
    "java": (["    int helper(int a) {", "        class helper {", "    public static <T> List<T> helper(T a) {"],
             ["        helper(a);", "        return helper(a);", "        x = new helper(a);"]),
}


@pytest.mark.parametrize("language", sorted(DEFINITION_LINES))
def test_each_plugin_knows_its_definition_lines_and_code_fence(language: str):
    from indexers.languages import fence, hooks

    defining, using = DEFINITION_LINES[language]
    pattern = hooks(language).definition_line("helper")
    assert [line for line in defining if not pattern.match(line)] == []
    assert [line for line in using if pattern.match(line)] == []
    assert fence(language) == {"javascript": "js", "typescript": "ts"}.get(language, language)


@pytest.mark.parametrize("language", sorted(DEFINITION_LINES))
def test_each_plugin_meets_the_contract_and_imports_nothing_from_its_loaders(language: str):
    import ast
    import importlib
    import inspect

    from indexers.languages import LANGUAGES, Hooks, LanguagePlugin

    module = importlib.import_module(f"indexers.languages.{LANGUAGES[language].module}")
    required = [name for name in vars(LanguagePlugin) if not name.startswith("_")]
    assert required and all(callable(getattr(module, name, None)) for name in required)
    assert isinstance(Hooks.of(module), Hooks)
    imported = {node.module for node in ast.walk(ast.parse(inspect.getsource(module))) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"parse", "resolve", "indexers.parse", "indexers.resolve"}, imported
