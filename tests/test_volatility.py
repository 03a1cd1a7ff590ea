"""Volatility: recent git churn and working-tree edits make a file volatile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gitrepo import git

from indexers.volatility import VolatilitySettings, compute_volatility

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit(repo: Path, files: dict[str, str], when: datetime, message: str = "change") -> str:
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=when)
    return git(repo, "rev-parse", "HEAD").strip()


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def test_recent_commits_make_a_file_volatile_and_old_ones_do_not(tmp_path):
    repo = init_repo(tmp_path / "repo")
    for i in range(4):
        commit(repo, {"cold.py": f"v = {i}\n"}, days_ago(700 + i))
    for i in range(4):
        commit(repo, {"hot.py": f"v = {i}\n"}, days_ago(10 - 2 * i))

    report = compute_volatility(repo, ["hot.py", "cold.py"], now=NOW)

    assert report.note == "" and report.history
    hot, cold = report.files["hot.py"], report.files["cold.py"]
    assert hot.commits == cold.commits == 4
    assert hot.volatile and not cold.volatile
    assert 3.5 < hot.score < 4.0  # four changes, each at most ten days old
    assert cold.score < 0.05
    assert hot.last_change == days_ago(4).isoformat()
    assert report.volatile_paths() == {"hot.py"}


def test_a_change_one_half_life_ago_weighs_half(tmp_path):
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"a.py": "x = 1\n"}, days_ago(90))

    report = compute_volatility(repo, ["a.py"], VolatilitySettings(half_life_days=90), now=NOW)

    assert report.files["a.py"].score == pytest.approx(0.5, abs=1e-3)


def test_an_uncommitted_edit_counts_as_a_change_made_now(tmp_path):
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"edited.py": "x = 1\n", "clean.py": "y = 1\n"}, days_ago(2))
    commit(repo, {"edited.py": "x = 2\n", "clean.py": "y = 2\n"}, days_ago(1))
    (repo / "edited.py").write_text("x = 3\n")
    (repo / "new.py").write_text("z = 1\n")

    report = compute_volatility(repo, ["edited.py", "clean.py", "new.py"], now=NOW)

    edited, clean, new = (report.files[p] for p in ("edited.py", "clean.py", "new.py"))
    assert edited.uncommitted and new.uncommitted and not clean.uncommitted
    assert edited.score == pytest.approx(clean.score + 1.0)
    assert new.score == 1.0 and new.commits == 0
    # two commits in the last days stay just under the default threshold of 2;
    # the edit in progress takes the file over it
    assert edited.volatile and not clean.volatile and not new.volatile


def test_the_threshold_is_a_setting(tmp_path):
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"a.py": "x = 1\n"}, days_ago(30))

    default = compute_volatility(repo, ["a.py"], now=NOW)
    eager = compute_volatility(repo, ["a.py"], VolatilitySettings(threshold=0.5), now=NOW)

    assert not default.files["a.py"].volatile
    assert eager.files["a.py"].volatile


def test_the_commit_file_lists_come_with_the_report_newest_first(tmp_path):
    repo = init_repo(tmp_path / "repo")
    first = commit(repo, {"a.py": "1\n", "b.py": "1\n"}, days_ago(3))
    second = commit(repo, {"b.py": "2\n", "c d.py": "2\n"}, days_ago(2))

    report = compute_volatility(repo, ["a.py"], now=NOW)

    assert [(c.sha, sorted(c.files)) for c in report.commits] == [
        (second, ["b.py", "c d.py"]),
        (first, ["a.py", "b.py"]),
    ]
    assert report.commits[0].timestamp == int(days_ago(2).timestamp())


def test_only_the_last_max_commits_are_read(tmp_path):
    repo = init_repo(tmp_path / "repo")
    for i in range(5):
        commit(repo, {"a.py": f"{i}\n"}, days_ago(5 - i))

    report = compute_volatility(repo, ["a.py"], VolatilitySettings(max_commits=2), now=NOW)

    assert len(report.commits) == 2
    assert report.files["a.py"].commits == 2


def test_a_subdirectory_of_a_work_tree_is_scored_with_its_own_relative_paths(tmp_path):
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"pkg/a.py": "1\n", "other.py": "1\n"}, days_ago(2))
    (repo / "pkg" / "a.py").write_text("2\n")

    report = compute_volatility(repo / "pkg", ["a.py"], now=NOW)

    assert report.files["a.py"].commits == 1
    assert report.files["a.py"].uncommitted
    assert [c.files for c in report.commits] == [["a.py"]]


def test_without_git_every_file_is_stable_and_the_note_says_why(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x = 1\n")

    report = compute_volatility(plain, ["a.py"], now=NOW)

    assert "not a git repository" in report.note
    assert "stable" in report.note
    assert not report.history and report.commits == []
    assert report.files["a.py"].score == 0 and not report.files["a.py"].volatile


def test_when_git_is_missing_the_note_says_so(tmp_path, monkeypatch):
    repo = init_repo(tmp_path / "repo")
    commit(repo, {"a.py": "1\n"}, days_ago(1))
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    report = compute_volatility(repo, ["a.py"], now=NOW)

    assert "git not found" in report.note
    assert not report.files["a.py"].volatile


def test_a_repository_without_commits_counts_only_uncommitted_edits(tmp_path):
    repo = init_repo(tmp_path / "repo")
    (repo / "a.py").write_text("x = 1\n")

    report = compute_volatility(repo, ["a.py"], now=NOW)

    assert "no commits yet" in report.note
    assert report.files["a.py"].uncommitted and report.files["a.py"].score == 1.0


def test_a_shallow_clone_drops_its_boundary_commit_and_says_so(tmp_path):
    origin = init_repo(tmp_path / "origin")
    commit(origin, {"a.py": "1\n", "b.py": "1\n"}, days_ago(3))
    commit(origin, {"a.py": "2\n"}, days_ago(2))
    commit(origin, {"a.py": "3\n"}, days_ago(1))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--depth", "2", origin.as_uri(), str(clone))

    report = compute_volatility(clone, ["a.py", "b.py"], now=NOW)

    assert "shallow" in report.note
    # depth 2 keeps two commits; the boundary one looks as if it added every file
    assert len(report.commits) == 1
    assert report.files["a.py"].commits == 1 and report.files["b.py"].commits == 0
