"""Recall's ranking rules, each on a small repository built for it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tree import write_tree

from mcp_server.fold import fold_file
from mcp_server.recall import rank, recall
from mcp_server.search import search_symbols
from mcp_server.seeds import collect_seeds, strip_boilerplate
from mcp_server.settings import SETTINGS
from mcp_server.textindex import TextIndex, ignored_words
from mcp_server.workspace import Workspace

# Unrelated files, so that the words of a test are rare enough for BM25 to count them.
FILLER = {f"misc/m{i}.py": f"def helper_{i}(value):\n    return value + {i}\n" for i in range(12)}


def make_repo(root: Path, files: dict[str, str], filler: bool = True) -> Workspace:
    write_tree(root, {**FILLER, **files} if filler else files)
    ws = Workspace(root)
    ws.refresh()
    return ws


def first_files(result) -> list[str]:
    seen: list[str] = []
    for item in result.items:
        if item.path not in seen:
            seen.append(item.path)
    return seen


def test_a_file_name_many_files_share_seeds_each_of_them_weakly(tmp_path):
    files = {f"site{i}/conf.py": "def setting():\n    return 1\n" for i in range(4)}
    files["lib/loader.py"] = "def setting():\n    return 2\n"
    ws = make_repo(tmp_path, files)
    v = ws.fresh_views()
    seeds = collect_seeds(v, "values in conf.py and in lib/loader.py are ignored", [], []).seeds
    named = {sid: seed.weight for sid, seed in seeds.items() if any("file named" in r for r in seed.reasons)}
    assert named["lib/loader.py:setting"] == 1.5
    conf = [w for sid, w in named.items() if sid.endswith("conf.py:setting")]
    assert len(conf) == 3 and all(w == 1.5 / 4 for w in conf)  # at most three, a quarter each


def test_package_dot_name_seeds_top_level_definitions_not_methods(tmp_path):
    ws = make_repo(tmp_path, {
        "reqs/__init__.py": "",
        "reqs/api.py": "def get(url):\n    return url\n",
        "reqs/structures.py": "class Lookup:\n    def get(self, key):\n        return key\n",
    })
    seeds = collect_seeds(ws.fresh_views(), "reqs.get hangs", [], []).seeds
    dotted = {sid for sid, seed in seeds.items() if "named in the task (reqs.get)" in seed.reasons}
    assert dotted == {"reqs/api.py:get"}
    assert seeds["reqs/api.py:get"].weight > seeds["reqs/structures.py:Lookup.get"].weight


def test_docs_and_examples_rank_below_library_code_with_the_same_words(tmp_path):
    body = "def render_invoice_total(invoice):\n    '''Sum the invoice lines and round the invoice total.'''\n    return round(sum(invoice), 2)\n"
    ws = make_repo(tmp_path, {"docs/example_invoice.py": body, "billing/invoice.py": body.replace("render_", "compute_")})
    r = recall(ws, "the invoice total is rounded wrongly", budget=1000)
    assert first_files(r)[0] == "billing/invoice.py"


def test_files_behind_a_full_pack_still_show_as_signatures(tmp_path):
    # Many strong matches in one file fill the budget; a weaker file still gets a line.
    parse = "".join(f"def parse_widget_{i}(widget):\n" + "    widget = widget.strip()\n" * 30 + "    return widget\n\n" for i in range(30))
    render = "def render(item):\n    '''Draw one item.'''\n" + "    item = str(item).center(80)\n" * 40 + "    return item\n"
    ws = make_repo(tmp_path, {"widgets/parse.py": parse, "widgets/render.py": render})
    task = "parse_widget_0 parse_widget_1 parse_widget_2 parse_widget_3 bug when we draw"
    r = recall(ws, task, budget=1200)
    assert first_files(r) == ["widgets/parse.py", "widgets/render.py"]
    assert [(i.symbol, i.level) for i in r.items if i.path == "widgets/render.py"] == [("render", "signature")]
    crowded = recall(ws, task, budget=1200, settings=replace(SETTINGS, signature_new_files=0))
    assert first_files(crowded) == ["widgets/parse.py"]


def test_file_level_text_search_counts_words_spread_over_a_file(tmp_path):
    ws = make_repo(tmp_path, {
        "a/cache.py": "def evict(entry):\n    return entry\n\ndef expire(entry):\n    return entry\n\ndef lru(entry):\n    return entry\n",
        "a/other.py": "def evict_expire_lru_misc(x):\n    return x\n",
    })
    ws.fresh_views()
    text: TextIndex = ws.text
    scores = text.search_files("evict expire lru")
    assert set(scores) == {"a/cache.py", "a/other.py"}
    (ws.repo / "a/cache.py").write_text("def unrelated(x):\n    return x\n")
    ws.fresh_views()
    assert set(ws.text.search_files("evict expire lru")) == {"a/other.py"}  # the index of the new version
    assert set(ws.text.search_files("unrelated")) == {"a/cache.py"}
    assert [sid for sid, _, _ in ws.text.search("evict")] == ["a/other.py:evict_expire_lru_misc"]


def test_in_a_small_repository_a_word_several_symbols_share_is_still_searched(tmp_path):
    # Seven symbols, three of them about invoices: a share-of-documents cut-off alone
    # would drop "invoice" as too common, at the symbol and at the file level.
    files = {
        "shop/cart.py": "class Cart:\n    def add(self, item):\n        return item\n\n    def total(self):\n        return 0\n",
        "shop/invoice.py": (
            "def render_invoice(cart):\n    return cart\n\n"
            "def email_invoice(invoice):\n    return invoice\n\n"
            "def void_invoice(invoice):\n    return None\n"
        ),
        "shop/tax.py": "def tax_rate(region):\n    return 0.2\n",
    }
    ws = make_repo(tmp_path, files, filler=False)
    v = ws.fresh_views()
    hits = {sid for sid, _, _ in ws.text.search("invoice")}
    assert hits == {"shop/invoice.py:render_invoice", "shop/invoice.py:email_invoice", "shop/invoice.py:void_invoice"}
    assert set(ws.text.search_files("invoice")) == {"shop/invoice.py"}
    ranked = rank(ws, v, "The invoice is sent twice", [])
    assert ranked[0].sym.path == "shop/invoice.py"
    assert any(r.startswith("text match: invoice") for r in ranked[0].why)


def test_tests_that_echo_the_task_do_not_lift_what_they_all_call(tmp_path):
    # Eight tests repeat the task's words and all call one helper; the library function
    # the task is about must still outrank that helper.
    tests = "from lib.helpers import build\n\n" + "".join(
        f"def test_rounding_{i}():\n    '''Rounding of negative invoice totals.'''\n    assert build({i})\n\n" for i in range(8)
    )
    ws = make_repo(tmp_path, {
        "lib/__init__.py": "",
        "lib/helpers.py": "def build(value):\n    return [value]\n",
        "lib/invoice.py": "def total(lines):\n    '''Sum of an invoice, rounded.'''\n    return round(sum(lines), 2)\n",
        "tests/test_invoice.py": tests,
        **{f"misc/more{i}.py": f"def other_{i}(value):\n    return value * {i}\n" for i in range(20)},
    })
    task = "Rounding of negative invoice totals is wrong"
    order = [c.sym.id for c in rank(ws, ws.fresh_views(), task, [])]
    assert order[0] == "lib/invoice.py:total" and order.index("lib/helpers.py:build") > 8
    loud = [c.sym.id for c in rank(ws, ws.fresh_views(), task, [], replace(SETTINGS, side_seed_factor=1.0))]
    assert loud[0] == "lib/helpers.py:build"


def test_issue_template_matter_is_not_searched_but_its_traceback_still_seeds(tmp_path):
    ws = make_repo(tmp_path, {
        "pkg/show.py": "def show_versions():\n    # installed versions of numpy, pandas, platform\n    return 'numpy pandas platform'\n",
        "pkg/merge.py": "def merge_frames(left, right):\n    return left | right\n",
        "pkg/core.py": "def explode(x):\n    raise ValueError(x)\n",
    })
    task = (
        "merging frames drops rows\n"
        "<!-- Please describe the bug; include installed versions -->\n"
        "- [x] I searched for installed versions problems\n"
        "<details>\nINSTALLED VERSIONS numpy pandas platform\n"
        'Traceback (most recent call last):\n  File "pkg/core.py", line 2, in explode\n</details>\n'
    )
    result = recall(ws, task, 2000)
    paths = first_files(result)
    assert "pkg/show.py" not in paths  # only the template's words match it
    assert paths[0] in ("pkg/core.py", "pkg/merge.py") and {"pkg/core.py", "pkg/merge.py"} <= set(paths)
    kept = rank(ws, ws.fresh_views(), task, [], replace(SETTINGS, strip_boilerplate=False))
    assert "pkg/show.py" in {c.sym.path for c in kept[:3]}  # the same task, searched whole


def test_a_version_report_is_not_searched_but_output_and_code_are():
    report = '```json\r\n{\r\n  "urllib3": {\r\n    "version": "1.26.7"\r\n  },\r\n  "chardet": {\r\n    "version": null\r\n  }\r\n}\r\n```\r\n'
    pip_list = "```\n$ pip list\nPackage    Version\n---------- -------\nattrs      21.4.0\niniconfig  1.1.1\n```\n"
    output = "```\n>>> wcs.world_to_pixel(pt, 1.05)\n(1.5, 2.25)\n>>> wcs.pixel_to_world(1.5, 2.25)\n(0.5, 1.0)\n```\n"
    stripped = strip_boilerplate("Proxy auth fails\r\n" + report + pip_list + output)
    assert "urllib3" not in stripped and "iniconfig" not in stripped
    assert "Proxy auth fails" in stripped and "world_to_pixel(pt, 1.05)" in stripped


def test_environment_sections_of_a_template_are_not_searched():
    task = (
        "Index entry with parens for a property\n### Describe the bug\nThe py:method index entry has parens.\n"
        "### OS\n\nMac\n### Sphinx version\n\nHEAD of 4.x\n### Sphinx extensions\n\n_No response_\n"
        "### Additional context\nOnly with :property:\n"
        "**Environment info**\n- OS: Windows\n- Python version: 3.9.1\n"
        "### Environment variables are ignored\nSPHINXOPTS is not read\n"
        "### Versions\n" + "".join(f"pkg{i}: 1.{i}\n" for i in range(20)) + "tail line\n"
    )
    kept = strip_boilerplate(task)
    assert "Mac" not in kept and "HEAD of 4.x" not in kept and "_No response_" not in kept and "Windows" not in kept
    assert "The py:method index entry has parens." in kept and "Only with :property:" in kept
    assert "SPHINXOPTS is not read" in kept  # a heading that only starts like an environment one
    assert "pkg3" not in kept and "pkg19" in kept and "tail line" in kept  # a section is at most 15 lines
    assert "Mac" in strip_boilerplate(task, environment=False)


def test_a_version_report_does_not_pull_in_the_code_that_prints_versions(tmp_path):
    ws = make_repo(tmp_path, {
        "pkg/help.py": "def info():\n    return {'urllib3': urllib3_version, 'chardet': chardet_version, 'idna': idna_version}\n",
        "pkg/proxy.py": "def proxy_headers(proxy):\n    '''Proxy-Authorization header for a proxy url.'''\n    return {}\n",
    })
    report = '```\n{\n  "urllib3": {\n    "version": "1.26.7"\n  },\n  "chardet": {\n    "version": null\n  },\n  "idna": {\n    "version": "3.3"\n  }\n}\n```\n'
    task = "Proxy authorization header is dropped\n## System Information\n" + report
    assert first_files(recall(ws, task, 2000)) == ["pkg/proxy.py"]
    whole = rank(ws, ws.fresh_views(), task, [], replace(SETTINGS, strip_boilerplate=False))
    assert "pkg/help.py" in {c.sym.path for c in whole}  # the same task, searched whole


def test_a_link_to_a_line_of_the_repository_points_at_the_code_there(tmp_path):
    ws = make_repo(tmp_path, {
        "pkg/scale.py": "def ticks(n):\n    step = 1\n    return [i * step for i in range(n)]\n\n\ndef labels(n):\n    return []\n",
        "pkg/web.py": "def fetch(url):\n    '''Open an https url on github.com and follow its issues.'''\n    return url\n",
    })
    v = ws.fresh_views()
    task = ("Offsets are lost on large ranges, see "
            "https://github.com/acme/pkg/blob/0a1b2c/pkg/scale.py#L2-L3 and https://github.com/acme/pkg/blob/main/pkg/web.py")
    seeds = collect_seeds(v, task, [], []).seeds
    assert seeds["pkg/scale.py:ticks"].reasons == ["linked in the task (pkg/scale.py#L2)"]
    assert "pkg/scale.py:labels" not in seeds
    assert seeds["pkg/web.py:fetch"].reasons == ["file linked in the task (pkg/web.py)"]
    assert first_files(recall(ws, task, 2000))[0] == "pkg/scale.py"


def test_the_words_of_links_are_not_searched(tmp_path):
    ws = make_repo(tmp_path, {
        "pkg/web.py": "def fetch(url):\n    '''Open an https url on github.com and follow its issues.'''\n    return url\n",
        "pkg/bases.py": "def base_names(cls):\n    '''The bases of a mocked class, by name.'''\n    return [b.__name__ for b in cls.__bases__]\n",
    })
    task = ("Bases of a mocked class are cut short\nThe bases section of https://github.com/acme/issues/org/com/338 "
            "and https://readthedocs.org/projects/github/issues/com shows `torch.nn.` for a mocked class")
    assert first_files(recall(ws, task, 2000)) == ["pkg/bases.py"]
    kept = rank(ws, ws.fresh_views(), task, [], replace(SETTINGS, drop_links=False))
    assert "pkg/web.py" in {c.sym.path for c in kept}  # the same task with its links searched


def test_a_snake_case_name_points_at_the_longer_names_that_contain_it(tmp_path):
    ws = make_repo(tmp_path, {
        "alg/add.py": "class Add:\n    def _eval_is_zero(self):\n        return all(a == 0 for a in self.args)\n",
        "alg/mul.py": "class Mul:\n    def _eval_is_zero(self):\n        return any(a == 0 for a in self.args)\n",
        "alg/expr.py": "class Expr:\n    @property\n    def is_zero(self):\n        return self._eval_is_zero()\n",
    })
    v = ws.fresh_views()
    task = "`is_zero` gives a wrong answer on `Add`"
    seeds = collect_seeds(v, task, [], [], contained=2.0).seeds
    assert seeds["alg/mul.py:Mul._eval_is_zero"].reasons == ["name contains is_zero"]
    assert "alg/expr.py:Expr.is_zero" not in {sid for sid, s in seeds.items() if "name contains is_zero" in s.reasons}
    in_path = collect_seeds(v, "see alg/eval_is.py", [], [], contained=2.0).seeds  # a path's words are no name
    assert not any("name contains" in r for s in in_path.values() for r in s.reasons)
    ranked = [c.sym.id for c in rank(ws, v, task, [])]
    assert ranked.index("alg/add.py:Add._eval_is_zero") < ranked.index("alg/mul.py:Mul._eval_is_zero")
    # Without full-text search (which finds "zero" in it too), only this seed leads there.
    no_text = replace(SETTINGS, text_hits=0, file_text_prior=0.0)
    assert "alg/mul.py:Mul._eval_is_zero" in [c.sym.id for c in rank(ws, v, task, [], no_text)]
    off = [c.sym.id for c in rank(ws, v, task, [], replace(no_text, contained_name_seed=0.0))]
    assert "alg/mul.py:Mul._eval_is_zero" not in off

    (tmp_path / "alg/pow.py").write_text("class Pow:\n    def _eval_is_zero(self):\n        return False\n")
    ws.refresh()
    seeds = collect_seeds(ws.fresh_views(), task, [], [], contained=2.0).seeds
    assert "name contains is_zero" in seeds["alg/pow.py:Pow._eval_is_zero"].reasons  # names seen after an update


def test_a_constant_the_task_names_is_recalled_found_and_folded(tmp_path):
    table = "".join(f'    "code_{i}": {i},\n' for i in range(40))
    ws = make_repo(tmp_path, {
        "app/config.py": f"MAX_RETRIES = 3\nERROR_CODES = {{\n{table}}}\n",
        "app/net.py": "from app.config import MAX_RETRIES\n\ndef fetch(url):\n    return [url] * MAX_RETRIES\n",
    })
    result = recall(ws, "Raise MAX_RETRIES from 3 to 5", 1000)
    assert (result.items[0].symbol, result.items[0].kind) == ("MAX_RETRIES", "constant")
    hits = search_symbols(ws, "codes", kind="constant").hits
    assert [(h.symbol, h.location) for h in hits] == [("ERROR_CODES", "app/config.py:2-43")]
    folded = fold_file(ws, "app/config.py")
    assert folded.folded and folded.folded[0][:2] == (3, 43)  # the table's body, its first line kept
    assert "1\tMAX_RETRIES = 3" in folded.text and "2\tERROR_CODES = {" in folded.text


def test_a_task_naming_an_alias_recalls_the_class_it_stands_for(tmp_path):
    ws = make_repo(tmp_path, {
        "core/relational.py": "class Equality:\n    def as_set(self):\n        return self\n\n\nEq = Equality\n",
        "core/other.py": "class Equation:\n    def as_set(self):\n        return self\n",
    })
    result = recall(ws, "Eq(x, 0).as_set() raises instead of returning a set", 1000)
    assert result.items[0].path == "core/relational.py"
    order = [i.symbol for i in result.items]
    assert order.index("Eq") < order.index("Equation") and "Equality" in order
    assert [h.symbol for h in search_symbols(ws, "Eq", kind="alias").hits] == ["Eq"]



def test_many_callers_do_not_starve_a_named_functions_callee(tmp_path):
    # Fifty pages call render_receipt and nothing calls audit_trail; each calls one helper.
    # Most of what a function spreads goes to what it calls, however many call it.
    files = {f"views/page{i}.py": f"from billing.receipt import render_receipt\n\ndef page_{i}(order):\n    return render_receipt(order)\n"
             for i in range(50)}
    files["billing/receipt.py"] = "from billing.layout import align_cells\n\ndef render_receipt(order):\n    return align_cells(order)\n"
    files["billing/layout.py"] = "def align_cells(rows):\n    return [str(r).ljust(20) for r in rows]\n"
    files["billing/audit.py"] = "from billing.sink import write_line\n\ndef audit_trail(order):\n    return write_line(order)\n"
    files["billing/sink.py"] = "def write_line(entry):\n    return repr(entry)\n"
    ws = make_repo(tmp_path, files)
    cands = rank(ws, ws.fresh_views(), "render_receipt and audit_trail disagree", [])
    score = {c.sym.name: c.score for c in cands}
    assert score["align_cells"] >= 0.5 * score["write_line"]
    assert score["align_cells"] > 10 * max(s for name, s in score.items() if name.startswith("page_"))


def test_a_string_the_task_quotes_recalls_what_code_registers_under_it(tmp_path):
    ws = make_repo(tmp_path, {
        "docs/directives.py": (
            "class Include:\n    def run(self):\n        return self.read_lines()\n\n\n"
            "class Literal:\n    def run(self):\n        return []\n\n\n"
            "def setup(app):\n    app.add_directive('include', Include)\n    app.add_directive('literalinclude', Literal)\n"
        ),
        "docs/domains.py": "class PyDomain:\n    name = 'py'\n\n    def resolve(self, target):\n        return target\n",
        "lint/imports.py": (
            "class ImportsChecker:\n    msgs = {'W0611': ('Unused import %s', 'unused-import', 'Used when...')}\n\n"
            "    def leave_module(self, node):\n        return node\n"
        ),
        "docs/events.py": (
            "def on_source_read(app, source):\n    return source\n\n\n"
            "def setup(app):\n    app.connect('source-read', on_source_read)\n"
        ),
        "docs/reader.py": "def read_source(path):\n    with open(path) as f:\n        return f.read()\n",
    })
    v = ws.fresh_views()
    assert [s.id for s in v.by_label["include"]] == ["docs/directives.py:Include"]
    assert [s.id for s in v.by_label["py"]] == ["docs/domains.py:PyDomain"]
    assert [s.id for s in v.by_label["source-read"]] == ["docs/events.py:on_source_read"]
    assert "unused-import" not in v.by_label  # a message a linter prints is no registration
    assert "setup" not in {s.name for syms in v.by_label.values() for s in syms}  # the caller is not labelled

    task = "Replacements are not applied to files pulled in with\n\n.. include:: other.rst\n"
    result = recall(ws, task, 1000)
    assert result.items[0].symbol.startswith("Include")
    assert "registered as 'include'" in result.items[0].why
    assert "docs/directives.py:Literal" not in collect_seeds(v, task, [], [], label_weight=2.0).seeds
    assert "docs/directives.py:Include" not in collect_seeds(v, task, [], []).seeds  # off by default
    seeds = collect_seeds(v, "source-read misses a name used in a `py:class` role", [], [], label_weight=2.0).seeds
    assert {"docs/events.py:on_source_read", "docs/domains.py:PyDomain"} <= seeds.keys()
    for query in ("source-read", "'source-read'"):
        hits = search_symbols(ws, query).hits
        assert (hits[0].symbol, hits[0].match) == ("on_source_read", "label")

    # Labels are stored with the index, and follow an edit.
    assert [s.id for s in Workspace(tmp_path).fresh_views().by_label["include"]] == ["docs/directives.py:Include"]
    (tmp_path / "docs/directives.py").write_text(
        "class Include:\n    pass\n\n\ndef setup(app):\n    app.add_directive('insert', Include)\n")
    ws.refresh()
    v = ws.fresh_views()
    assert "include" not in v.by_label or not v.by_label["include"]
    assert [s.id for s in v.by_label["insert"]] == ["docs/directives.py:Include"]


def test_a_builtin_exception_the_task_repeats_is_not_searched_for_unless_the_code_defines_it(tmp_path):
    # The example repeats ValueError, which checks.py raises and catches everywhere: only
    # the words of the message (unknown unit) may pull code in.
    checks = "".join(f"def check_{i}(x):\n    try:\n        return int(x)\n    except ValueError:\n        raise ValueError(x)\n\n"
                     for i in range(4))
    units = ("FACTORS = {'m': 1.0, 'km': 1000.0}\n\n\n"
             "def to_metres(amount, unit):\n    '''Convert an amount to metres.'''\n"
             "    if unit not in FACTORS:\n        raise ValueError(f'unknown unit {unit}')\n    return amount * FACTORS[unit]\n")
    task = ("Confusing message for an unknown unit\n\n```\n" + "try:\n    convert(3, 'furlong')\nexcept ValueError:\n    pass\n" * 3
            + "ValueError: unknown unit furlong\n```\nThe ValueError should list the known units.")
    ws = make_repo(tmp_path, {"app/checks.py": checks, "app/units.py": units})
    result = recall(ws, task, budget=1000)
    assert first_files(result) == ["app/units.py"]
    assert not any("valueerror" in why for why in result.items[0].why)

    # A repository with its own ConnectionError means its own class by that name.
    ws = make_repo(tmp_path / "net", {"net/errors.py": "class ConnectionError(Exception):\n    '''The peer hung up.'''\n"})
    v = ws.fresh_views()
    assert "connectionerror" in ignored_words({}) and "connectionerror" not in ignored_words(v.by_name)
    assert "valueerror" in ignored_words(v.by_name) and "exception" not in ignored_words({})


def test_a_role_of_a_domain_is_looked_for_in_that_domain_and_a_field_is_no_label(tmp_path):
    ws = make_repo(tmp_path, {
        "docs/pydomain.py": "class PyDomain:\n    name = 'py'\n\n\nclass PyClass:\n    name = 'class'\n\n\nclass PyType:\n    name = 'type'\n",
        "docs/cdomain.py": "class CDomain:\n    name = 'c'\n\n\nclass CClass:\n    name = 'class'\n",
    })
    v = ws.fresh_views()
    assert {s.id for s in v.by_label["class"]} == {"docs/pydomain.py:PyClass", "docs/cdomain.py:CClass"}
    task = "A :py:class:`Point` reference does not resolve in\n\n    :param p: the origin\n    :type p: Point\n"
    seeds = collect_seeds(v, task, [], [], label_weight=2.0).seeds
    labelled = {sid for sid, seed in seeds.items() if any(r.startswith("registered as") for r in seed.reasons)}
    assert labelled == {"docs/pydomain.py:PyDomain", "docs/pydomain.py:PyClass"}
    # A bare name is looked for everywhere.
    seeds = collect_seeds(v, "Every `class` directive is rendered twice", [], [], label_weight=2.0).seeds
    assert {"docs/pydomain.py:PyClass", "docs/cdomain.py:CClass"} <= seeds.keys()
