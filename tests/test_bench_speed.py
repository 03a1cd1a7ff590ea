"""The speed benchmark, end to end on a tiny generated repository with this interpreter's
ctxfold as the current build and no baseline: every row is measured and has CPU time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# benchmarks/ is not an installed package: it runs by hand from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.speed import main  # noqa: E402


def _tiny_repo(root: Path) -> Path:
    repo = root / "tiny"
    (repo / "shop").mkdir(parents=True)
    (repo / "shop" / "__init__.py").write_text("")
    for i in range(3):
        body = [f'"""Module {i}."""', "", "from shop import helpers", ""]
        for j in range(12):
            body += [f"class Cart{i}{j}:", "    def total(self, items):", f"        return helpers.add(items) + {j}", ""]
        (repo / "shop" / f"mod{i}.py").write_text("\n".join(body))
    (repo / "shop" / "helpers.py").write_text("def add(items):\n    return sum(items)\n")
    return repo


def test_every_row_is_measured_with_cpu_time(tmp_path, capsys):
    repo = _tiny_repo(tmp_path)
    before = sorted(p.read_bytes() for p in repo.rglob("*.py"))
    out = tmp_path / "speed.json"
    assert main([
        str(repo), "--python", sys.executable, "--skip-baseline", "--runs", "1", "--calls", "3",
        "--updates", "3", "--edit-reps", "1", "--settle", "0.5", "--timeout", "120", "--out", str(out),
    ]) == 0

    cur = json.loads(out.read_text())[str(repo.resolve())]["current"]
    for row in ("help", "floor", "index", "noop", "status", "search", "recall"):
        assert cur[row]["cpu"] > 0 and cur[row]["wall"] > 0, row
    assert cur["ratio"] > 0
    assert cur["floor"]["detail"]["files"] == 5
    assert cur["search"]["hit"]

    serve = cur["serve"]
    assert not serve["errors"], serve["errors"]
    assert serve["first"]["cpu"] > 0 and serve["warm"]["cpu"] >= serve["first"]["cpu"]
    assert len(serve["recall_calls"]) == 3 and all(c["cpu"] > 0 for c in serve["recall_calls"])
    assert serve["rss_after_recalls_mb"] > 0
    assert serve["edits"]["mid"]["path"] != serve["edits"]["large"]["path"]
    for label in ("mid", "large"):
        (rep,) = serve["edits"][label]["reps"]
        assert rep["edit"]["found"] and rep["edit"]["cpu"] > 0 and rep["no_edit"]["cpu"] > 0

    store = cur["store"]
    assert store["rc"] == 0 and not store["detail"]["errors"] and store["fresh_bytes"] > 0 and store["ratio"] > 0
    assert store["update_cpu_median"] > 0 and store["detail"]["parsed"] == [1, 1, 1]

    table = capsys.readouterr().out
    assert "| `ctxfold --help` |" in table and "serve: recall p95 of 3" in table
    # the corpus itself is never written
    assert sorted(p.read_bytes() for p in repo.rglob("*.py")) == before
    assert not (repo / ".ctxfold").exists()
