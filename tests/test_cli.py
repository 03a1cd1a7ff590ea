"""The ctxfold command: each subcommand over the same functions, errors with exit code 2."""

from __future__ import annotations

import json

from mcp_server.cli import main


def test_index_status_search_recall_and_fold_from_the_shell(pyshop, capsys):
    assert main(["index", str(pyshop)]) == 0
    out = capsys.readouterr().out
    assert "indexed" in out and "syntax errors in shop/broken.py: L1" in out

    assert main(["status", "--repo", str(pyshop), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["files_by_language"] == {"python": 7} and report["fresh"] is True
    assert report["parse_errors"] == {"shop/broken.py": [[1, 1]]}

    assert main(["search", "reserve", "--repo", str(pyshop), "--format", "json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["location"] == "shop/inventory.py:10-15"
    assert main(["search", "root", "--path", "..", "--repo", str(pyshop)]) == 2
    assert "path outside the repository: '..'" in capsys.readouterr().err

    assert main(["recall", "out of stock when reserving", "--repo", str(pyshop), "--budget", "600", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] <= 600 and any(i["symbol"] == "reserve" for i in data["items"])

    assert main(["fold", "shop/cart.py", "--repo", str(pyshop), "--focus", "checkout"]) == 0
    assert "32\t            inventory.reserve(stock, sku, count)" in capsys.readouterr().out


def test_a_missing_repository_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert main(["index", str(missing)]) == 2
    assert f"no such repository directory: {missing}" in capsys.readouterr().err
    assert main(["search", "x", "--repo", str(missing)]) == 2
    assert "no such repository" in capsys.readouterr().err
    readme = tmp_path / "README.md"
    readme.write_text("hello\n")
    assert main(["index", str(readme)]) == 2
    assert f"not a directory: {readme}; pass the repository's root directory" in capsys.readouterr().err


def test_reading_commands_never_build_an_index_where_none_was_asked_for(tmp_path, monkeypatch, capsys):
    (tmp_path / "loose.py").write_text("def stray():\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    for command in (["search", "stray"], ["recall", "stray"], ["fold", "loose.py"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"no index found for {tmp_path}" in err and f"run `ctxfold index {tmp_path}` first" in err
    assert not (tmp_path / ".ctxfold").exists()
    assert main(["status"]) == 0 and "not indexed yet" in capsys.readouterr().out


def test_the_shell_finds_the_enclosing_repository_as_git_does(pyshop, monkeypatch, capsys):
    monkeypatch.delenv("CLAUDE_PROJECT_DIR", raising=False)
    assert main(["index", str(pyshop)]) == 0
    capsys.readouterr()
    monkeypatch.chdir(pyshop / "shop")
    assert main(["search", "reserve", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["location"] == "shop/inventory.py:10-15"
    assert main(["index"]) == 0  # the enclosing index again, not a partial one here
    assert f"indexed {pyshop}:" in capsys.readouterr().out
    assert not (pyshop / "shop" / ".ctxfold").exists()


def test_index_follows_claude_project_dir_as_status_does(pyshop, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(pyshop))
    assert main(["index"]) == 0
    assert f"indexed {pyshop}:" in capsys.readouterr().out
    assert main(["status"]) == 0 and f"repo      {pyshop}" in capsys.readouterr().out


def test_a_miss_exits_1_and_suggests(pyshop, capsys):
    assert main(["index", str(pyshop)]) == 0
    assert main(["search", "zzqqxx", "--repo", str(pyshop)]) == 1
    assert "No symbol matches" in capsys.readouterr().out


def test_a_reader_that_stops_early_ends_the_command_quietly(pyshop):
    # `ctxfold fold … | head -1`: the pipe closes before the output is written.
    import subprocess
    import sys

    assert main(["index", str(pyshop)]) == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcp_server.cli", "fold", "shop/cart.py", "--repo", str(pyshop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "Exception ignored" not in err


def test_an_empty_or_unsupported_directory_indexes_nothing_with_a_warning(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["index", str(empty)]) == 0
    captured = capsys.readouterr()
    assert "0 files" in captured.out
    assert f"warning: {empty} is an empty directory" in captured.err and "python (.py .pyi)" in captured.err
    (empty / "notes.txt").write_text("no code here\n")
    assert main(["index", str(empty)]) == 0
    err = capsys.readouterr().err
    assert f"warning: no supported source files in {empty}" in err and "go (.go)" in err


def test_syntax_errors_in_test_fixtures_are_said_to_be_fixtures(tmp_path, capsys):
    for path in ("fixtures/demo/broken.py", "src/broken.py"):
        (tmp_path / path).parent.mkdir(parents=True)
        (tmp_path / path).write_text("def broken(:\n    pass\n")
    assert main(["index", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "syntax errors in fixtures/demo/broken.py: L1 (a test fixture, maybe broken on purpose;" in out
    assert "syntax errors in src/broken.py: L1 (the rest of the file is indexed)" in out
    assert main(["status", "--repo", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "fixtures/demo/broken.py: L1 (a test fixture)" in out and "src/broken.py: L1\n" in out + "\n"


def test_enrich_help_says_each_default_once(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["enrich", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in out and "(default: False)" not in out
    assert out.count("(default: 200)") == 1 and out.count("(default: volatile)") == 1
