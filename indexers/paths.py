"""Where ctxfold keeps its data, and the one LanceDB connection helper every module uses."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

STORE_DIRNAME = ".ctxfold"


def store_dir_for(repo: Path, store: Path | None = None) -> Path:
    """The store directory: ``--store DIR`` if given, else ``<repo>/.ctxfold``."""
    return Path(store).resolve() if store else Path(repo).resolve() / STORE_DIRNAME


def make_store_dir(store_dir: Path) -> Path:
    """Create the store directory if need be. One that ctxfold creates ignores itself in
    git (as .pytest_cache does), so that ``git status`` and commits leave the index out."""
    store_dir = Path(store_dir)
    if not store_dir.is_dir():
        store_dir.mkdir(parents=True, exist_ok=True)
        (store_dir / ".gitignore").write_text("# made by ctxfold: its index and facts stay out of git\n*\n")
    return store_dir


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


def repo_root(path: str | os.PathLike | None = None) -> Path:
    """The repository to serve: the path given, else CLAUDE_PROJECT_DIR, else the cwd."""
    chosen = path or os.environ.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    return Path(chosen).resolve()
