"""Issue numbers and past commits from git history, and recall following them."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from gitrepo import git

from indexers.history import CACHE, CACHE_VERSION, History, load_history, own_names, referenced_numbers
from indexers.paths import write_atomic
from mcp_server.cli import main
from mcp_server.recall import rank, recall
from mcp_server.settings import SETTINGS
from mcp_server.textindex import CommitIndex
from mcp_server.workspace import Workspace


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def commit(root: Path, message: str, files: dict[str, str]) -> None:
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def history_repo(root: Path) -> Path:
    """parse.py fixed for #12 on the main line; render.py changed on a branch merged as
    pull request #40 (the branch's own commit names no number); a reformat of 31 files
    for #50; and unrelated modules."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    commit(root, "Start", {
        "lib/parse.py": "def split_fields(line):\n    return line.split(',')\n",
        "lib/render.py": "def to_table(rows):\n    return '\\n'.join(map(str, rows))\n",
        **{f"lib/m{i}.py": f"def helper_{i}(value):\n    return value + {i}\n" for i in range(31)},
    })
    commit(root, "Fix #12: quoted fields keep their commas",
           {"lib/parse.py": "def split_fields(line):\n    return [f.strip() for f in line.split(',')]\n"})
    git(root, "checkout", "-q", "-b", "table")
    commit(root, "Wider columns", {"lib/render.py": "def to_table(rows):\n    return '\\n'.join(f'{r:>9}' for r in rows)\n"})
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", "Merge pull request #40 from someone/table", "table")
    commit(root, "Reformat everything (#50)",
           {f"lib/m{i}.py": f"def helper_{i}(value):\n    return value + {i}  # reformatted\n" for i in range(31)})
    return root


def test_numbers_in_commit_messages_map_to_the_files_their_commits_changed(tmp_path):
    repo = history_repo(tmp_path / "repo")
    history = load_history(repo, tmp_path / "store")
    assert history.refs["12"] == {"lib/parse.py": 1}
    assert history.refs["40"] == {"lib/render.py": 1}  # the merge, with what the branch changed
    assert "50" not in history.refs  # 31 files: says nothing about any one of them
    kept = json.loads((tmp_path / "store" / CACHE).read_text())
    assert kept == {"version": CACHE_VERSION, "head": history.head, "refs": history.refs, "commits": history.commits}

    assert load_history(tmp_path / "store", tmp_path / "store") == History()  # not a git repository


def test_recent_commits_are_kept_with_their_messages_and_files(tmp_path):
    repo = history_repo(tmp_path / "repo")
    commits = load_history(repo, tmp_path / "store").commits
    # The merge and the two commits of 31 and more files are left out.
    assert sorted((message, files) for _, message, files in commits) == [
        ("Fix #12: quoted fields keep their commas", ["lib/parse.py"]),
        ("Wider columns", ["lib/render.py"]),
    ]
    assert all(len(sha) == 40 for sha, _, _ in commits)
    fewer = load_history(repo, tmp_path / "other", max_commits=2).commits
    assert len(fewer) == 1 and fewer[0] in commits  # the last two, less the reformat


def test_indexing_reads_the_history_so_that_the_first_recall_does_not(tmp_path, capsys):
    repo = history_repo(tmp_path / "repo")
    assert main(["index", str(repo), "--store", str(tmp_path / "store")]) == 0
    assert "read git history: 2 recent commits, 2 issue numbers in " in capsys.readouterr().out
    assert json.loads((tmp_path / "store" / CACHE).read_text())["refs"]["40"] == {"lib/render.py": 1}
    assert main(["status", "--repo", str(repo), "--store", str(tmp_path / "store")]) == 0
    assert "history   2 recent commits, 2 issue numbers, read at HEAD" in capsys.readouterr().out

    commit(repo, "Later", {"lib/parse.py": "def split_fields(line):\n    return line.split(';')\n"})
    assert main(["status", "--repo", str(repo), "--store", str(tmp_path / "store")]) == 0
    assert "; the next recall reads the commits since" in capsys.readouterr().out
    assert main(["status", "--repo", str(repo), "--store", str(tmp_path / "other"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["history"].startswith("not read yet")


def test_history_is_read_again_only_from_where_it_was_read(tmp_path):
    repo, store = history_repo(tmp_path / "repo"), tmp_path / "store"
    history = load_history(repo, store)
    cache = store / CACHE
    kept = json.loads(cache.read_text())
    kept["refs"]["99"] = {"lib/old.py": 1}  # marks: only a full read would drop them
    kept["commits"].append(["f" * 40, "Older work", ["lib/old.py"]])
    cache.write_text(json.dumps(kept))

    commit(repo, "gh-13: empty lines", {"lib/parse.py": "def split_fields(line):\n    return line.split(',') if line else []\n"})
    again = load_history(repo, store, history)
    assert again.head != history.head and again.refs["13"] == {"lib/parse.py": 1} and again.refs["12"] == {"lib/parse.py": 1}
    assert again.refs["99"] == {"lib/old.py": 1}  # the new commit only
    assert [c[1] for c in again.commits][0] == "gh-13: empty lines" and again.commits[-1][1] == "Older work"

    git(repo, "commit", "-q", "--amend", "-m", "Fix #14: empty lines")  # HEAD rewritten
    rewritten = load_history(repo, store)
    assert "99" not in rewritten.refs and "13" not in rewritten.refs and rewritten.refs["14"] == {"lib/parse.py": 1}
    assert [c[1] for c in rewritten.commits].count("Older work") == 0

    cache.write_text(json.dumps({"version": CACHE_VERSION, "head": "0" * 40, "refs": {}, "commits": [],
                                 "unreadable": "timed out"}))
    assert load_history(repo, store).refs == {}  # a history too long to read is not read again
    cache.write_text(json.dumps({"head": "0" * 40, "refs": {}, "unreadable": "timed out"}))
    assert load_history(repo, store).refs["14"] == {"lib/parse.py": 1}  # but one from another version is


def test_files_are_replaced_whole_or_not_at_all(tmp_path):
    cache = tmp_path / CACHE
    write_atomic(cache, '{"refs": {"12": {}}}')
    stale = tmp_path / f".{CACHE}.1.2.tmp"  # another writer's, mid-write: not ours to touch
    stale.write_text('{"refs"')
    write_atomic(cache, '{"refs": {}}')
    assert cache.read_text() == '{"refs": {}}' and stale.read_text() == '{"refs"'
    with pytest.raises(UnicodeEncodeError):
        write_atomic(cache, '{"refs": "\udc80"}')  # cannot be encoded: fails mid-write
    assert cache.read_text() == '{"refs": {}}'  # the old file, as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CACHE, stale.name])  # no temporary file left


def test_references_in_a_task():
    task = "Solving #19513 broke this; see https://github.com/o/r/pull/14971, #19513 again, GH-77, colour #fff, &#123;"
    assert referenced_numbers(task) == ["19513", "14971", "77"]


def test_a_link_to_another_repositorys_issue_is_not_a_reference():
    task = ("Like [tool #81](https://github.com/acme/tool/issues/81), not https://github.com/other/alibi-detect/pull/338 "
            "nor other/ndcube#529; demo at https://gitlab.com/acme/tool/-/issues/92 and acme/tool#10")
    assert referenced_numbers(task, {"tool", "tests"}) == ["81", "92", "10"]
    assert referenced_numbers(task) == ["81", "338", "529", "92", "10"]  # names unknown: all count


def test_the_names_a_repository_goes_by(tmp_path):
    repo = tmp_path / "checkout"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "remote", "add", "origin", "git@github.com:acme/Alibi-Detect.git")
    names = own_names(repo, ["src/flask/app.py", "sphinx/ext/mock.py", "setup.py"])
    assert names == {"checkout", "alibi_detect", "flask", "sphinx"}
    assert own_names(tmp_path, ["lib/a.py"]) == {tmp_path.name.lower().replace("-", "_"), "lib"}  # no git: no remotes


def test_recall_follows_an_issue_number_to_the_code_changed_for_it(tmp_path):
    repo = history_repo(tmp_path)
    ws = Workspace(repo)
    ws.refresh()
    task = "The regression from #12 is back: a row comes out wrong"
    result = recall(ws, task, 1000)
    assert result.items[0].path == "lib/parse.py" and "changed for #12" in result.items[0].why
    off = rank(ws, ws.fresh_views(), task, [], replace(SETTINGS, issue_refs=0))
    assert all(c.sym.path != "lib/parse.py" for c in off)  # no word of the task names it
    merged = recall(ws, "Since #40 the table looks wrong", 1000)
    assert merged.items[0].path == "lib/render.py"


def test_recall_lifts_the_files_that_past_commits_like_the_task_changed(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    # Two modules alike in every word, so that only history tells them apart.
    commit(root, "Start", {"lib/grid.py": "def draw_grid(cells):\n    return '|'.join(cells)\n",
                           "lib/table.py": "def draw_table(cells):\n    return '-'.join(cells)\n",
                           **{f"lib/m{i}.py": f"def helper_{i}(value):\n    return value + {i}\n" for i in range(8)}})
    commit(root, "Fix misaligned borders when a cell holds a newline",
           {"lib/table.py": "def draw_table(cells):\n    return '-'.join(c.strip() for c in cells)\n"})
    commit(root, "Space the grid", {"lib/grid.py": "def draw_grid(cells):\n    return ' | '.join(cells)\n"})
    for i in range(8):  # enough history for the task's words to be rare in it
        commit(root, f"Tune helper {i}", {f"lib/m{i}.py": f"def helper_{i}(value):\n    return value - {i}\n"})
    ws = Workspace(root)
    task = "The borders are misaligned when I draw cells: a cell with a newline breaks them"

    def best(s):
        scores = {}
        for c in rank(ws, ws.fresh_views(), task, [], s):
            scores.setdefault(c.sym.path, c)
        return scores

    off = best(replace(SETTINGS, similar_commits=0))
    assert "lib/table.py" in off and "lib/grid.py" in off
    on = best(SETTINGS)
    assert on["lib/table.py"].score > on["lib/grid.py"].score
    assert on["lib/table.py"].score - off["lib/table.py"].score > on["lib/grid.py"].score - off["lib/grid.py"].score
    assert any(w.startswith("changed by a past commit like the task (") and "Fix misaligned borders" in w
               for w in on["lib/table.py"].why)
    assert not any("past commit" in w for w in on["lib/grid.py"].why)


def test_a_short_history_is_searched_however_common_its_words():
    # Three commits: a word in one of them is in a third of the messages.
    index = CommitIndex([["a" * 40, "Fix misaligned borders in tables", ["t.py"]],
                         ["b" * 40, "Add a grid", ["g.py"]], ["c" * 40, "Release 1.0", ["setup.py"]]])
    assert [sha for sha, _ in index.search("the borders are misaligned", 5)] == ["a" * 40]
