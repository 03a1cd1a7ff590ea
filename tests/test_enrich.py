"""Enrichment: clusters of stable code go to a provider (a local fake API here), and the
answers come back as validated, hash-stamped semantic edges, cached by content."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest
from llm_server import FakeLLMServer, Received, Reply, answer, error, ids_in, text_reply

from indexers.enrich import (
    CACHE_TABLE,
    Cluster,
    EnrichSettings,
    MalformedAnswer,
    build_clusters,
    cache_key,
    enrich,
    parse_answer,
    render_prompt,
    validate_edges,
)
from indexers.providers import AnthropicProvider, OpenAIProvider, RetryPolicy
from indexers.tokens import count_tokens
from indexers.types import Symbol

REPO = {
    "app/codec.py": '''\
import json

MAGIC = b"CF1"


def encode(record: dict) -> bytes:
    """Serialize a record behind the CF1 header and a length."""
    body = json.dumps(record).encode()
    return MAGIC + len(body).to_bytes(4, "big") + body


def decode(blob: bytes) -> dict:
    """Parse what encode wrote."""
    if blob[:3] != MAGIC:
        raise ValueError("not a CF1 record")
    size = int.from_bytes(blob[3:7], "big")
    return json.loads(blob[7 : 7 + size])
''',
    "app/store.py": '''\
from app.codec import decode, encode


class Store:
    """Records on disk, with an in-memory cache."""

    def __init__(self, root):
        self.root = root
        self._cache = {}

    def save(self, key, record):
        (self.root / key).write_bytes(encode(record))
        self._cache.pop(key, None)

    def load(self, key):
        if key not in self._cache:
            self._cache[key] = decode((self.root / key).read_bytes())
        return self._cache[key]
''',
    "app/config.py": '''\
import json


def write_settings(path, ttl):
    """Write the settings file that the reader service loads."""
    path.write_text(json.dumps({"cache_ttl": ttl}))


def default_ttl():
    return 60
''',
    "svc/reader.py": '''\
import json


def read_ttl(path):
    """The cache TTL from the settings file."""
    return json.loads(path.read_text()).get("cache_ttl", 60)
''',
}

ENCODE, DECODE = "app/codec.py:encode", "app/codec.py:decode"
SAVE, LOAD = "app/store.py:Store.save", "app/store.py:Store.load"
WRITE, READ = "app/config.py:write_settings", "svc/reader.py:read_ttl"
CALLS = [(SAVE, ENCODE), (LOAD, DECODE)]
# Small enough caps that this repository makes two clusters: codec+config+reader, and store.
SPLIT = EnrichSettings(cluster_symbols=5, small_cluster=2)


def python_symbols(files: dict[str, str]) -> list[Symbol]:
    """Symbols of Python sources, as the indexer would give them (enough for these tests)."""
    symbols = []
    for path, text in files.items():
        lines = text.splitlines()

        def visit(node, prefix, in_class):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    qualname = prefix + child.name
                    kind = "class" if isinstance(child, ast.ClassDef) else "method" if in_class else "function"
                    span = "\n".join(lines[child.lineno - 1 : child.end_lineno])
                    symbols.append(
                        Symbol(
                            path=path,
                            qualname=qualname,
                            name=child.name,
                            kind=kind,
                            start_line=child.lineno,
                            end_line=child.end_lineno,
                            signature=lines[child.lineno - 1].strip(),
                            doc=ast.get_docstring(child) or "",
                            hash=hashlib.sha256(span.encode()).hexdigest()[:16],
                        )
                    )
                    visit(child, qualname + ".", isinstance(child, ast.ClassDef))

        visit(ast.parse(text), "", False)
    return symbols


def couplings(request: Received) -> Reply:
    """A model that sees the real couplings, plus every kind of mistake validation drops."""
    shown = set(ids_in(request.prompt))
    edges = []

    def propose(src, dst, relation, confidence, reason="They must agree."):
        if src in shown and dst in shown:
            edges.append({"src": src, "dst": dst, "relation": relation, "reason": reason, "confidence": confidence})

    propose(ENCODE, DECODE, "encode/decode pair", 0.9, "decode parses the CF1 header and length that encode writes.")
    propose(DECODE, ENCODE, "encode/decode pair", 0.4)  # the same pair again, less sure
    propose(WRITE, READ, "shares config key", 1.7, "Both use the 'cache_ttl' key of the settings file.")
    propose(SAVE, ENCODE, "calls", 0.8)  # a direct call: the graph has it already
    propose(ENCODE, ENCODE, "self", 0.5)
    propose(SAVE, LOAD, "cache and its invalidation", -0.2, "save drops the entry that load caches.")
    if shown:
        edges.append({"src": "app/nowhere.py:ghost", "dst": next(iter(shown)), "relation": "x", "reason": "", "confidence": 1})
    return text_reply(request, json.dumps({"edges": edges}))


@pytest.fixture
def symbols() -> list[Symbol]:
    return python_symbols(REPO)


def provider_for(server: FakeLLMServer, **kw) -> AnthropicProvider:
    kw.setdefault("retry", RetryPolicy(attempts=2))
    return AnthropicProvider("claude-test", api_key="sk-test", base_url=server.url, sleep=lambda s: None, **kw)


def run(symbols, server, store, **kw):
    kw.setdefault("settings", EnrichSettings())
    provider = kw.pop("provider", None) or provider_for(server)
    return enrich(symbols, REPO.__getitem__, CALLS, provider, store, **kw)


# --- the whole flow ----------------------------------------------------------------------


def test_enrich_turns_answers_into_validated_hash_stamped_edges(symbols, tmp_path):
    with FakeLLMServer(default=couplings) as server:
        report = run(symbols, server, tmp_path / "store")

    by_pair = {(e.src, e.dst): e for e in report.edges}
    assert set(by_pair) == {(ENCODE, DECODE), (WRITE, READ), (SAVE, LOAD)}
    codec = by_pair[(ENCODE, DECODE)]
    assert (codec.relation, codec.confidence) == ("encode/decode pair", 0.9)  # the surer duplicate
    assert codec.reason == "decode parses the CF1 header and length that encode writes."
    assert by_pair[(WRITE, READ)].confidence == 1.0  # clamped
    assert by_pair[(SAVE, LOAD)].confidence == 0.0
    hashes = {s.id: s.hash for s in symbols}
    for edge in report.edges:
        assert edge.provenance == "llm:anthropic/claude-test-20990101"
        assert (edge.src_hash, edge.dst_hash) == (hashes[edge.src], hashes[edge.dst])
        assert datetime.fromisoformat(edge.created_at).tzinfo is not None
    # Dropped: the weaker duplicate, the known call, the self-edge, the unknown id.
    assert report.rejected == 4
    assert (report.requests, report.cached, report.skipped, report.degraded) == (1, 0, [], None)
    assert (report.est_input_tokens, report.est_output_tokens) == (120, 30)  # as the API reported


def test_the_request_shows_code_with_ids_known_calls_and_the_json_contract(symbols, tmp_path):
    with FakeLLMServer(default=answer('{"edges": []}')) as server:
        run(symbols, server, tmp_path / "store")
    [request] = server.requests
    prompt = request.prompt
    assert set(ids_in(prompt)) == {s.id for s in symbols}
    assert "### app/codec.py" in prompt
    assert 'return MAGIC + len(body).to_bytes(4, "big") + body' in prompt
    assert f"{SAVE} -> {ENCODE}" in prompt  # so that the model does not report it
    assert '{"edges": [{"src": "<id>"' in prompt
    assert "JSON" in request.system
    # The class is shown without the bodies of its methods, which have their own entries.
    store_class = prompt.split("[app/store.py:Store]")[1].split("[app/store.py:Store.__init__]")[0]
    assert "… Store.save (below)" in store_class
    assert "write_bytes" not in store_class


def test_a_second_run_on_unchanged_code_sends_no_request(symbols, tmp_path):
    store = tmp_path / "store"
    with FakeLLMServer(default=couplings) as server:
        first = run(symbols, server, store)
        second = run(symbols, server, store)
    assert len(server.requests) == 1
    assert (second.requests, second.cached) == (0, first.requests)
    assert second.edges == first.edges  # created_at included: the time it was derived


def test_a_changed_symbol_re_asks_only_its_cluster(symbols, tmp_path):
    store = tmp_path / "store"
    settings = SPLIT
    with FakeLLMServer(default=couplings) as server:
        first = run(symbols, server, store, settings=settings)
        assert first.requests == 2
        changed = [dataclasses.replace(s, hash="edited") if s.id == READ else s for s in symbols]
        again = run(changed, server, store, settings=settings)
    assert (again.requests, again.cached) == (1, first.requests - 1)
    assert len(server.requests) == first.requests + 1
    assert READ in ids_in(server.requests[-1].prompt)


def test_cache_entries_belong_to_one_provider_and_model(symbols, tmp_path):
    store = tmp_path / "store"
    with FakeLLMServer(default=couplings) as server:
        run(symbols, server, store)
        other = AnthropicProvider("claude-other", api_key="k", base_url=server.url, sleep=lambda s: None)
        report = run(symbols, server, store, provider=other)
    assert (report.requests, report.cached) == (1, 0)


def test_json_in_a_fence_with_prose_around_it_is_accepted(symbols, tmp_path):
    fenced = f'Here is what I found:\n```json\n{{"edges": [{{"src": "{ENCODE}", "dst": "{DECODE}", "relation": "pair", "reason": "r", "confidence": 0.7}}]}}\n```\nHope this helps.'
    with FakeLLMServer(default=answer(fenced)) as server:
        report = run(symbols, server, tmp_path / "store")
    assert [(e.src, e.dst) for e in report.edges] == [(ENCODE, DECODE)]


def test_malformed_json_is_asked_again_once_with_a_short_follow_up(symbols, tmp_path):
    with FakeLLMServer(answer('{"edges": [{"src": '), default=couplings) as server:
        report = run(symbols, server, tmp_path / "store")
    assert len(server.requests) == 2
    assert "could not be read as JSON" in server.requests[1].prompt
    assert server.requests[1].prompt.startswith(server.requests[0].prompt)
    assert report.requests == 2
    assert len(report.edges) == 3
    assert report.skipped == []


def test_malformed_twice_skips_the_cluster_reports_it_and_caches_nothing(symbols, tmp_path):
    store = tmp_path / "store"
    with FakeLLMServer(default=answer("I could not find anything interesting, sorry.")) as server:
        report = run(symbols, server, store)
        assert len(server.requests) == 2
        [(cluster, why)] = report.skipped
        assert isinstance(cluster, Cluster) and ENCODE in cluster.ids
        assert "no valid JSON" in why
        assert report.edges == [] and report.degraded is None
        server.default = couplings
        report = run(symbols, server, store)
    assert (report.requests, report.cached) == (1, 0)


def test_an_unavailable_provider_degrades_the_run_and_keeps_what_was_derived(symbols, tmp_path):
    settings = EnrichSettings(cluster_symbols=3, small_cluster=2)  # three clusters
    with FakeLLMServer(couplings, default=error(503, "upstream down")) as server:
        report = run(symbols, server, tmp_path / "store", settings=settings)  # must not raise
        sent = len(server.requests)
    assert report.requests == 1
    assert sent == 1 + 2  # the answer, then two attempts at the next cluster; none after
    assert report.degraded is not None
    assert "unavailable" in report.degraded and "HTTP 503: upstream down" in report.degraded
    assert "Heuristic semantic edges need no LLM" in report.degraded
    assert len(report.skipped) == report.clusters - 1
    assert any("not sent" in why for _, why in report.skipped)
    first_cluster_ids = set(ids_in(server.requests[0].prompt))
    assert report.edges and all({e.src, e.dst} <= first_cluster_ids for e in report.edges)


def test_after_an_outage_cached_clusters_are_still_served(symbols, tmp_path):
    store = tmp_path / "store"
    settings = SPLIT
    with FakeLLMServer(default=couplings) as server:
        full = run(symbols, server, store, settings=settings)
    with FakeLLMServer(default=error(500)) as down:
        report = run(symbols, down, store, settings=settings)
    assert down.requests == []
    assert report.cached == full.requests and report.degraded is None
    assert report.edges == full.edges


def test_a_missing_api_key_degrades_without_any_request(symbols, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FakeLLMServer(default=couplings) as server:
        provider = AnthropicProvider("claude-test", base_url=server.url)
        report = run(symbols, server, tmp_path / "store", provider=provider)
    assert server.requests == []
    assert report.requests == 0 and report.edges == []
    assert "set ANTHROPIC_API_KEY" in report.degraded
    assert report.degraded.count("still run") == 1


def test_rate_limited_throughout_degrades(symbols, tmp_path):
    with FakeLLMServer(default=error(429, "rate_limit_error", {"retry-after": "1"})) as server:
        report = run(symbols, server, tmp_path / "store")
    assert "rate limiting" in report.degraded
    assert len(server.requests) == 2


def test_requests_refused_again_and_again_stop_the_run(symbols, tmp_path):
    settings = EnrichSettings(cluster_symbols=3, small_cluster=2, max_consecutive_failures=2)
    with FakeLLMServer(default=error(404, "model: claude-nope not found", kind="not_found_error")) as server:
        report = run(symbols, server, tmp_path / "store", settings=settings)
    assert len(server.requests) == 2
    assert "refused" in report.degraded and "claude-nope not found" in report.degraded


def test_dry_run_sends_nothing_and_estimates_requests_and_tokens(symbols, tmp_path):
    store = tmp_path / "store"
    with FakeLLMServer(default=couplings) as server:
        estimate = run(symbols, server, store, dry_run=True)
        assert server.requests == []
        assert estimate.requests == 1 and estimate.cached == 0
        assert estimate.est_input_tokens > 200
        assert estimate.est_output_tokens == EnrichSettings().expected_output_tokens
        assert estimate.edges == []
        run(symbols, server, store)
        after = run(symbols, server, store, dry_run=True)
    assert (after.requests, after.cached, after.est_input_tokens) == (0, 1, 0)
    assert len(after.edges) == 3  # cached answers cost nothing, so they are served


def test_dry_run_without_a_key_still_estimates(symbols, tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = AnthropicProvider("claude-test", base_url="http://127.0.0.1:9")
    report = enrich(symbols, REPO.__getitem__, CALLS, provider, tmp_path / "store", dry_run=True)
    assert report.requests == 1 and report.degraded is None


def test_only_ids_limits_the_run_to_clusters_holding_them(symbols, tmp_path):
    settings = SPLIT
    with FakeLLMServer(default=couplings) as server:
        full = run(symbols, server, None, settings=settings, dry_run=True)
        report = run(symbols, server, tmp_path / "store", settings=settings, only_ids=[READ])
    assert full.clusters > 1
    assert report.clusters == 1 and report.requests == 1
    assert READ in ids_in(server.requests[0].prompt)


def test_max_requests_caps_a_run_and_reports_the_rest(symbols, tmp_path):
    settings = EnrichSettings(cluster_symbols=5, small_cluster=2, max_requests=1)
    with FakeLLMServer(default=couplings) as server:
        report = run(symbols, server, tmp_path / "store", settings=settings)
    assert report.requests == 1 == len(server.requests)
    assert report.skipped and all("max requests reached (1)" in why for _, why in report.skipped)
    assert report.degraded is None


def test_openai_compatible_local_server_works_the_same(symbols, tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLMServer(default=couplings) as server:
        provider = OpenAIProvider("qwen2.5-coder:7b", base_url=server.url + "/v1")
        report = run(symbols, server, tmp_path / "store", provider=provider)
    assert server.requests[0].path == "/v1/chat/completions"
    assert len(report.edges) == 3
    assert {e.provenance for e in report.edges} == {"llm:openai/qwen2.5-coder:7b"}


def test_an_unreadable_file_is_reported_and_the_rest_goes_on(symbols, tmp_path):
    def read_text(path: str) -> str:
        if path == "svc/reader.py":
            raise FileNotFoundError(path)
        return REPO[path]

    with FakeLLMServer(default=couplings) as server:
        report = enrich(symbols, read_text, CALLS, provider_for(server), tmp_path / "store")
    [(cluster, why)] = report.skipped
    assert cluster.ids == (READ,) and "could not be read" in why
    assert {(e.src, e.dst) for e in report.edges} == {(ENCODE, DECODE), (SAVE, LOAD)}


def test_progress_is_reported_per_cluster(symbols, tmp_path):
    seen = []
    settings = SPLIT
    with FakeLLMServer(default=couplings) as server:
        report = run(symbols, server, tmp_path / "store", settings=settings, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, report.clusters) for i in range(1, report.clusters + 1)]


def test_a_cache_table_of_another_layout_is_rebuilt(symbols, tmp_path):
    import pyarrow as pa

    from indexers.paths import connect

    store = tmp_path / "store"
    connect(store).create_table(CACHE_TABLE, schema=pa.schema([("key", pa.string())]))
    with FakeLLMServer(default=couplings) as server:
        run(symbols, server, store)
        report = run(symbols, server, store)
    assert (report.requests, report.cached) == (0, 1)


# --- the parts ---------------------------------------------------------------------------


def synthetic(path: str, names: list[str], lines_each: int = 3) -> tuple[list[Symbol], str]:
    symbols, text = [], []
    for n, name in enumerate(names):
        start = n * lines_each + 1
        text += [f"def {name}():"] + [f"    return {n}"] * (lines_each - 1)
        symbols.append(Symbol(path, name, name, "function", start, start + lines_each - 1, f"def {name}():", hash=f"h{n}"))
    return symbols, "\n".join(text)


def clusters_of(files: dict[str, list[str]], calls, settings) -> list[Cluster]:
    by_id, cost = {}, {}
    for path, names in files.items():
        for s in synthetic(path, names)[0]:
            by_id[s.id] = s
            cost[s.id] = 20
    return build_clusters(by_id, cost, calls, settings)


def test_call_linked_files_share_a_cluster_before_their_directory_neighbours():
    files = {
        "a/one.py": ["f1", "f2", "f3"],
        "a/two.py": ["g1", "g2", "g3"],
        "b/far.py": ["h1", "h2", "h3"],
    }
    settings = EnrichSettings(cluster_symbols=6, small_cluster=2)
    clusters = clusters_of(files, [("a/one.py:f1", "b/far.py:h2")], settings)
    assert [c.paths for c in clusters] == [("a/one.py", "b/far.py"), ("a/two.py",)]


def test_files_of_a_directory_cluster_together_and_no_cluster_exceeds_its_caps():
    files = {f"pkg/m{i}.py": [f"f{i}_{j}" for j in range(5)] for i in range(7)}
    files["other/x.py"] = ["x1", "x2", "x3", "x4", "x5"]
    settings = EnrichSettings(cluster_symbols=12, small_cluster=2)
    clusters = clusters_of(files, [], settings)
    assert all(len(c.ids) <= 12 for c in clusters)
    assert sorted(i for c in clusters for i in c.ids) == sorted(f"{p}:{n}" for p, ns in files.items() for n in ns)
    assert all(len({p.split("/")[0] for p in c.paths}) == 1 for c in clusters if len(c.paths) > 1)


def test_a_lone_small_file_joins_the_nearest_cluster_with_room():
    files = {"a/b/one.py": ["f1", "f2", "f3", "f4"], "a/c/two.py": ["g1", "g2", "g3", "g4"], "a/b/d/lone.py": ["z"]}
    calls = [("a/c/two.py:g1", "a/c/two.py:g2")]
    settings = EnrichSettings(cluster_symbols=5, small_cluster=2)
    clusters = clusters_of(files, calls, settings)
    assert ("a/b/d/lone.py", "a/b/one.py") in [c.paths for c in clusters]


def test_a_big_file_is_split_keeping_a_class_with_its_methods():
    symbols = [Symbol("big.py", f"f{i}", f"f{i}", "function", i * 3 + 1, i * 3 + 3, "", hash="h") for i in range(5)]
    symbols += [Symbol("big.py", "K", "K", "class", 16, 30, "class K:", hash="h")]
    symbols += [Symbol("big.py", f"K.m{i}", f"m{i}", "method", 17 + i * 3, 19 + i * 3, "", hash="h") for i in range(4)]
    by_id = {s.id: s for s in symbols}
    clusters = build_clusters(by_id, {s.id: 10 for s in symbols}, [], EnrichSettings(cluster_symbols=6, small_cluster=1))
    assert [len(c.ids) for c in clusters] == [5, 5]
    assert clusters[1].ids == ("big.py:K", "big.py:K.m0", "big.py:K.m1", "big.py:K.m2", "big.py:K.m3")


def test_a_cluster_prompt_stays_near_the_token_budget():
    names = [f"function_number_{i}" for i in range(60)]
    symbols, text = synthetic("pkg/many.py", names, lines_each=12)
    settings = EnrichSettings(max_tokens_per_request=1500, cluster_symbols=100)
    with FakeLLMServer(default=answer('{"edges": []}')) as server:
        provider = provider_for(server)
        report = enrich(symbols, lambda p: text, [], provider, None, settings=settings)
    assert report.clusters > 1
    for request in server.requests:
        assert count_tokens(request.system + request.prompt) <= 1500


def test_bodies_are_trimmed_to_the_line_limit():
    symbols, text = synthetic("m.py", ["long", "short"], lines_each=50)
    by_id = {s.id: s for s in symbols}
    cluster = Cluster(tuple(by_id), ("m.py",))
    prompt = render_prompt(cluster, by_id, {"m.py": text.splitlines()}, [], EnrichSettings(body_lines=10))
    assert "… 40 more lines" in prompt
    assert prompt.count("return 0") == 9


@pytest.mark.parametrize(
    "text",
    [
        '{"edges": [{"src": "a", "dst": "b"}]}',
        'Sure!\n```json\n{"edges": [{"src": "a", "dst": "b"}]}\n```',
        'I found one: {"edges": [{"src": "a", "dst": "b"}]} — that is all.',
        '```\n[{"src": "a", "dst": "b"}]\n```',
    ],
)
def test_parse_answer_accepts_json_bare_fenced_or_in_prose(text):
    assert parse_answer(text) == [{"src": "a", "dst": "b"}]


@pytest.mark.parametrize("text", ["", "no json here", '{"edges": [{"src": ', '{"result": "none"}'])
def test_parse_answer_rejects_what_holds_no_edges(text):
    with pytest.raises(MalformedAnswer):
        parse_answer(text)


def test_validate_edges_accepts_a_unique_qualified_name_for_an_id():
    ids = ["p/a.py:Codec.encode", "p/a.py:Codec.decode", "p/b.py:run"]
    raw = [
        {"src": "Codec.encode", "dst": "[p/a.py:Codec.decode]", "relation": "pair", "reason": "r", "confidence": "0.8"},
        {"src": "p/a.py:run", "dst": "p/a.py:Codec.encode", "confidence": None},  # wrong path: unique qualname
        {"src": "p/b.py:run", "dst": "p/a.py:Codec.decode", "confidence": "high"},
        "not an edge",
    ]
    edges, rejected = validate_edges(raw, ids, set())
    assert [(e["src"], e["dst"], e["confidence"]) for e in edges] == [
        ("p/a.py:Codec.encode", "p/a.py:Codec.decode", 0.8),
        ("p/b.py:run", "p/a.py:Codec.encode", 0.5),
        ("p/b.py:run", "p/a.py:Codec.decode", 0.5),
    ]
    assert edges[1]["relation"] == "coupled"
    assert rejected == 1


def test_the_cache_key_depends_on_provider_model_and_content_only():
    stamps = [("a:x", "h1"), ("a:y", "h2")]
    key = cache_key("anthropic", "m", stamps)
    assert key == cache_key("anthropic", "m", list(reversed(stamps)))
    assert key != cache_key("anthropic", "m2", stamps)
    assert key != cache_key("openai", "m", stamps)
    assert key != cache_key("anthropic", "m", [("a:x", "h1"), ("a:y", "h3")])


def test_edges_of_a_cluster_never_leave_it(symbols, tmp_path):
    settings = SPLIT

    def everything(request: Received) -> Reply:
        shown = ids_in(request.prompt)
        everyone = [s.id for s in python_symbols(REPO)]
        edges = [{"src": a, "dst": b, "relation": "r", "reason": "", "confidence": 0.5} for a in shown for b in everyone]
        return text_reply(request, json.dumps({"edges": edges}))

    with FakeLLMServer(default=everything) as server:
        report = run(symbols, server, tmp_path / "store", settings=settings)
    clusters = [set(ids_in(r.prompt)) for r in server.requests]
    for edge in report.edges:
        assert any({edge.src, edge.dst} <= c for c in clusters)


def test_store_dir_none_runs_without_a_cache(symbols):
    with FakeLLMServer(default=couplings) as server:
        run(symbols, server, None)
        run(symbols, server, None)
    assert len(server.requests) == 2


def test_no_store_file_is_written_by_a_dry_run(symbols, tmp_path: Path):
    store = tmp_path / "store"
    with FakeLLMServer(default=couplings) as server:
        run(symbols, server, store, dry_run=True)
    assert not any((store / "lance").glob(f"{CACHE_TABLE}*"))
