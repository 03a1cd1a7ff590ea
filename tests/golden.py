"""Golden files: what agents see, pinned whole, so that a rendering change shows up in
review as a diff of a file under ``tests/goldens/``.

Regenerate them all with ``python -m pytest tests/test_goldens.py --update-goldens`` and
review the diff; never edit them by hand. Temporary paths and the index's age are masked
(facts are recorded at a fixed time under a fixed id), so the files hold only what is
deterministic.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

GOLDENS = Path(__file__).resolve().parent / "goldens"
UPDATE_HINT = "regenerate with `python -m pytest tests/test_goldens.py --update-goldens` and review the diff"


def mask(text: str, repo: Path | None = None) -> str:
    """The text with what changes from run to run replaced by a placeholder."""
    if repo is not None:
        text = text.replace(str(repo), "<repo>")
    return text


def as_json(data) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def check(name: str, text: str, update: bool) -> None:
    """Compare ``text`` with ``tests/goldens/<name>``, or write it there when updating."""
    path = GOLDENS / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: {UPDATE_HINT}"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(
            expected.splitlines(keepends=True), text.splitlines(keepends=True),
            f"goldens/{name}", "now"))
        raise AssertionError(f"{name} differs from its golden file ({UPDATE_HINT}):\n{diff}")
