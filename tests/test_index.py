"""Indexing: symbols, import-aware edges, incremental updates, ignore rules, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from gitrepo import git

from indexers.build import Indexer
from indexers.errors import CtxfoldError
from indexers.paths import store_dir_for
from indexers.tokens import get_encoding
from mcp_server.facts import FactStore


def index(repo):
    ix = Indexer(repo, store_dir_for(repo))
    stats = ix.update()
    return ix, stats


def edges_of(ix, kind="call"):
    return {(e.src, e.dst) for e in ix.all_edges() if e.kind == kind}


def test_symbols_carry_qualified_names_spans_signatures_and_docs(pyshop):
    ix, _ = index(pyshop)
    syms = {s.qualname: s for s in ix.files["shop/cart.py"].symbols}
    assert set(syms) == {"BaseCart", "BaseCart.__init__", "BaseCart.add", "BaseCart.subtotal", "Cart", "Cart.total", "Cart.checkout"}
    total = syms["Cart.total"]
    assert (total.kind, total.start_line, total.end_line) == ("method", 22, 27)
    assert total.signature == "def total(self, code=None)"
    assert total.doc == "Total in cents, after discount and tax."
    assert total.tokens_full > total.tokens_sig > 0 and len(total.hash) == 16


def test_calls_resolve_through_imports_not_by_name(pyshop):
    ix, _ = index(pyshop)
    calls = edges_of(ix)
    # cart.py imports parse from pricing: the inventory.parse of the same name is not linked.
    assert ("shop/cart.py:BaseCart.add", "shop/pricing.py:parse") in calls
    assert ("shop/cart.py:BaseCart.add", "shop/inventory.py:parse") not in calls
    # module attribute calls, `import a.b as m`, self-calls through a base class
    assert ("shop/cart.py:Cart.checkout", "shop/inventory.py:reserve") in calls
    assert ("shop/payment.py:PaymentGateway.refund", "shop/pricing.py:parse") in calls
    assert ("shop/cart.py:Cart.total", "shop/cart.py:BaseCart.subtotal") in calls
    # a re-export through shop/__init__.py
    assert ("main.py:run", "shop/cart.py:Cart") in calls
    assert ("shop/cart.py:Cart", "shop/cart.py:BaseCart") in edges_of(ix, "inherit")
    resolutions = {(e.src, e.dst): e.resolution for e in ix.all_edges()}
    assert resolutions[("shop/cart.py:Cart.total", "shop/cart.py:BaseCart.subtotal")] == "self"


def test_gitignored_files_are_not_indexed_and_syntax_errors_cost_only_their_region(pyshop):
    ix, stats = index(pyshop)
    assert "vendor/big_generated.py" not in ix.files
    assert stats.parse_errors["shop/broken.py"] == [(1, 1)]
    assert "fine" in {s.qualname for s in ix.files["shop/broken.py"].symbols}
    assert "shop/cart.py" in ix.files


def test_edit_delete_and_rename_update_incrementally(pyshop):
    ix, _ = index(pyshop)
    pricing = pyshop / "shop/pricing.py"
    pricing.write_text(pricing.read_text() + "\n\ndef shipping(amount):\n    return with_tax(amount) + 5\n")
    stats = ix.update()
    assert stats.parsed == 1 and "shop/pricing.py" in stats.changed_paths
    assert ("shop/pricing.py:shipping", "shop/pricing.py:with_tax") in edges_of(ix)

    # rename: the old path leaves no symbols or edges behind, callers follow the new file
    (pyshop / "shop/inventory.py").rename(pyshop / "shop/stock.py")
    cart = pyshop / "shop/cart.py"
    cart.write_text(cart.read_text().replace("from . import inventory", "from . import stock as inventory"))
    ix.update()
    assert "shop/inventory.py" not in ix.files
    assert not [e for e in ix.all_edges() if "shop/inventory.py" in (e.src + e.dst)]
    assert ("shop/cart.py:Cart.checkout", "shop/stock.py:reserve") in edges_of(ix)

    # a fresh process sees the same committed index
    again = Indexer(pyshop, store_dir_for(pyshop))
    assert again.load() and set(again.files) == set(ix.files)
    assert edges_of(again) == edges_of(ix)


def test_an_unchanged_tree_is_not_rewritten(pyshop):
    ix, _ = index(pyshop)
    generation = ix.generation
    assert ix.looks_fresh()
    stats = ix.update()
    assert stats.parsed == 0 and ix.generation == generation


def test_binary_huge_undecodable_and_outside_symlinks_are_skipped_with_reasons(pyshop, tmp_path):
    (pyshop / "blob.py").write_bytes(b"\x00\x01binary")
    (pyshop / "latin.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (pyshop / "huge.py").write_text("x = 1\n" * 300_000)
    outside = tmp_path / "outside.py"
    outside.write_text("def secret():\n    pass\n")
    os.symlink(outside, pyshop / "link.py")
    os.symlink(pyshop / "shop", pyshop / "shop" / "loop")  # a directory symlink loop
    ix, stats = index(pyshop)
    reasons = {s.path: s.reason for s in stats.skipped}
    assert reasons["blob.py"].startswith("binary")
    assert reasons["latin.py"].startswith("undecodable")
    assert reasons["huge.py"].startswith("too large")
    assert reasons["link.py"] == "symlink pointing outside the repository"
    assert "loop" in reasons["shop/loop"]
    assert not {"blob.py", "latin.py", "huge.py", "link.py"} & set(ix.files)


def test_a_new_size_limit_weighs_every_file_again_and_stays_with_the_index(pyshop):
    (pyshop / "big.py").write_text("def big():\n    return 1\n" + "# padding\n" * 300)  # ~3 KB
    ix, _ = index(pyshop)
    assert "big.py" in ix.files
    lowered = Indexer(pyshop, store_dir_for(pyshop), max_bytes=2000).update()
    assert lowered.skipped and any(s.path == "big.py" and s.reason.startswith("too large") for s in lowered.skipped)
    later = Indexer(pyshop, store_dir_for(pyshop))  # no limit given: the index's own
    later.load()
    later.update()
    assert later.max_bytes == 2000 and "big.py" not in later.files
    raised = Indexer(pyshop, store_dir_for(pyshop), max_bytes=10_000)
    raised.update()
    assert "big.py" in raised.files and not any(s.path == "big.py" for s in raised.skipped)


def test_the_store_keeps_itself_out_of_git_but_not_a_folder_the_user_chose(pyshop, tmp_path):
    git(pyshop, "init", "-q")
    FactStore(store_dir_for(pyshop)).record("order totals are rounded once, at checkout", "decision")
    index(pyshop)  # the facts made the store; the index adds to it
    status = git(pyshop, "status", "--porcelain", "--untracked-files=all")
    assert status and ".ctxfold" not in status  # the repository's own files are listed, not the store

    chosen = tmp_path / "mine"
    chosen.mkdir()
    Indexer(pyshop, store_dir=chosen).update()
    assert (chosen / "lance").is_dir() and not (chosen / ".gitignore").exists()


def test_empty_repository_gives_an_empty_index(tmp_path):
    ix, stats = index(tmp_path)
    assert stats.files == 0 and ix.generation == 1


def test_a_crash_mid_write_leaves_the_previous_index_usable(pyshop):
    ix, _ = index(pyshop)
    before = edges_of(ix)
    # Simulate a writer that died after touching a table but before committing the manifest.
    tbl = ix.store.db.open_table("symbols")
    tbl.delete("path = 'shop/cart.py'")
    reader = Indexer(pyshop, store_dir_for(pyshop))
    assert reader.load()
    assert "Cart.total" in {s.qualname for s in reader.files["shop/cart.py"].symbols}
    # The next writer rolls the table back before writing.
    (pyshop / "main.py").write_text((pyshop / "main.py").read_text() + "\n")
    reader.update()
    fresh = Indexer(pyshop, store_dir_for(pyshop))
    fresh.load()
    assert "Cart.total" in {s.qualname for s in fresh.files["shop/cart.py"].symbols}
    assert edges_of(fresh) == before


def test_a_foreign_or_old_store_is_rebuilt_with_a_message(pyshop, capsys):
    ix, _ = index(pyshop)
    manifest = store_dir_for(pyshop) / "manifest.json"
    data = json.loads(manifest.read_text())
    data["schema_version"] = 1
    manifest.write_text(json.dumps(data))
    stats = Indexer(pyshop, store_dir_for(pyshop)).update()
    assert "schema version 1" in stats.rebuilt_reason
    manifest.write_text("{not json")
    stats = Indexer(pyshop, store_dir_for(pyshop)).update()
    assert "rebuilt" in stats.rebuilt_reason and stats.symbols > 10


def test_a_second_writer_waits_then_stops_with_a_clear_message(pyshop):
    from indexers.store import StoreBusy

    index(pyshop)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from indexers.store import CodeStore
            with CodeStore({str(store_dir_for(pyshop))!r}).write_lock():
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusy, match="another ctxfold process is indexing"):
            Indexer(pyshop, store_dir_for(pyshop)).update(lock_timeout=0.3)
    finally:
        holder.communicate("\n", timeout=10)
    assert Indexer(pyshop, store_dir_for(pyshop)).update(lock_timeout=5).files > 0


def test_an_unknown_encoding_is_an_error_of_the_family_naming_the_known_ones():
    with pytest.raises(CtxfoldError, match="unknown encoding 'cl50k': use one of"):
        get_encoding("cl50k")
