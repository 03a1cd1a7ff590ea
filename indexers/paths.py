"""Where ctxfold keeps its data, and the LanceDB helpers every module uses (the connection,
quoting a string into a filter)."""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta
from pathlib import Path

STORE_DIRNAME = ".ctxfold"


def store_dir_for(repo: Path, store: Path | None = None) -> Path:
    """The store directory: ``--store DIR`` if given, else ``<repo>/.ctxfold``."""
    return Path(store).resolve() if store else Path(repo).resolve() / STORE_DIRNAME


# Directories that hold test inputs: files there may be broken on purpose.
_FIXTURE_DIR = re.compile(r"(^|/)(fixtures?|testdata|test_data|tests?|__tests__)/")


def in_test_fixtures(path: str) -> bool:
    """Whether ``path`` (relative to the repository) is in a fixtures or test directory,
    where a file with syntax errors is likely broken on purpose."""
    return bool(_FIXTURE_DIR.search(path))


def make_store_dir(store_dir: Path) -> Path:
    """Create the store directory if need be. One that ctxfold creates ignores itself in
    git (as .pytest_cache does), so that ``git status`` and commits leave the index out."""
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        store_dir.mkdir(parents=True, exist_ok=True)
        (store_dir / ".gitignore").write_text("# made by ctxfold: its index and facts stay out of git\n*\n")
    return store_dir


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write ``text`` (str or bytes) to ``path`` through a temporary file beside it and a
    rename: a reader sees the old file or the new one, never half of one, and a failed
    write leaves the old file as it was. The temporary file is named per process and
    thread, so that two writers (a server and a CLI run, say) never share one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def db_dir(store_dir: Path) -> Path:
    """The LanceDB database inside a store. Code index, facts, semantic edges and vectors
    are tables of this one database; each module owns its own tables."""
    return Path(store_dir) / "lance"


def connect(store_dir: Path):
    """Open the store's LanceDB database so that this process sees other processes' writes."""
    import lancedb  # imported lazily: about a second

    path = db_dir(make_store_dir(store_dir))
    path.mkdir(exist_ok=True)
    # Without a zero interval a reader keeps serving the table version it first opened.
    return lancedb.connect(str(path), read_consistency_interval=timedelta(0))


def sql_str(value: str) -> str:
    """``value`` as a string literal in a LanceDB filter (``where``, ``delete``)."""
    return "'" + value.replace("'", "''") + "'"


def repo_root(path: str | os.PathLike | None = None, store: str | os.PathLike | None = None) -> Path:
    """The repository a command is about, found as git finds its own: the path given;
    else the repository a ``store`` given alone was built for; else $CLAUDE_PROJECT_DIR;
    else the nearest directory, at or above the working directory, that holds an index
    (``.ctxfold/``) or is a git work tree's root; else the working directory."""
    if path:
        return Path(path).resolve()
    if store:
        built_for = _manifest_repo(Path(store))
        if built_for:
            return built_for
    if os.environ.get("CLAUDE_PROJECT_DIR"):
        return Path(os.environ["CLAUDE_PROJECT_DIR"]).resolve()
    cwd = Path.cwd().resolve()
    return enclosing_repo(cwd) or cwd


def enclosing_repo(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` that holds an index or is a git work
    tree's root; None when there is neither."""
    for d in (start, *start.parents):
        if (d / STORE_DIRNAME / "manifest.json").is_file() or (d / ".git").exists():
            return d
    return None


def is_indexed(store_dir: Path) -> bool:
    return (Path(store_dir) / "manifest.json").is_file()


def _manifest_repo(store_dir: Path) -> Path | None:
    import json

    try:
        repo = json.loads((store_dir / "manifest.json").read_text(encoding="utf-8")).get("repo")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(repo) if repo and Path(repo).is_dir() else None
