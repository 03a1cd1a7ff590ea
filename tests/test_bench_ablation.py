"""The ablation benchmark's stages on a tiny git repository: checkout, volatility as of the
base commit, heuristic edges, both embedding stages (fake embedder), the table."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gitrepo import git

from benchmarks import ablation

BASE = datetime(2015, 3, 1, tzinfo=UTC)  # long ago: today, every file of it is stable


class BagOfWords:
    """A fake embedder: hashed word counts; remembers how many passages it embedded."""

    name = "fake/bow"
    dim = 64

    def __init__(self):
        self.passages = 0

    def _embed(self, texts):
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                rows[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        return rows

    def embed_passages(self, texts):
        self.passages += len(texts)
        return self._embed(texts)

    def embed_queries(self, texts):
        return self._embed(texts)


def make_mirror(tmp_path: Path) -> tuple[Path, str]:
    """A bare repository: util.py last changed two years before the base commit; billing.py
    and invoice.py changed together in the four weeks before it (volatile, co-changed)."""
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")

    def commit(files: dict[str, str], when: datetime) -> None:
        for path, text in files.items():
            (work / path).write_text(text)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "change", date=when)

    commit({"util.py": "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"}, BASE - timedelta(days=800))
    for week in range(4, 0, -1):
        commit(
            {
                "billing.py": (
                    "from util import clamp\n\n\n"
                    "def charge(account, amount):\n"
                    f"    \"\"\"Charge the account; revision {week}.\"\"\"\n"
                    "    return clamp(amount, 0, account.limit)\n"
                ),
                "invoice.py": (
                    "def render_invoice(lines):\n"
                    f"    return '\\n'.join(lines)  # revision {week}\n"
                ),
            },
            BASE - timedelta(days=7 * week),
        )
    bare = tmp_path / "acme+shop.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare, git(work, "rev-parse", "HEAD").strip()


def test_every_stage_runs_on_a_git_checkout_and_the_table_says_what_each_covers(tmp_path, monkeypatch):
    mirror, base = make_mirror(tmp_path)
    instances = tmp_path / "instances.jsonl"
    instances.write_text(json.dumps({
        "instance_id": "acme__shop-1",
        "repo": "acme/shop",
        "base_commit": base,
        "problem_statement": "charge() lets an account go over its limit when the amount is negative",
        "gold_files": ["billing.py"],
        "gold_functions": ["billing.py:charge"],
    }) + "\n")
    repos = tmp_path / "mirrors.json"
    repos.write_text(json.dumps({"acme/shop": str(mirror)}))
    embedder = BagOfWords()
    monkeypatch.setattr(ablation, "_default_embedder", lambda: embedder)
    out, err = tmp_path / "out.json", []

    class Sink:
        def __init__(self, lines):
            self.lines = lines

        def write(self, text):
            self.lines.append(text)

        def flush(self):
            pass

    stdout: list[str] = []
    code = ablation.main(
        ["--instances", str(instances), "--repos", str(repos), "--workdir", str(tmp_path / "trees"),
         "--enrich-estimate", "acme", "--out", str(out)],
        stdout=Sink(stdout), stderr=Sink(err),
    )

    assert code == 0, "".join(err)
    tree = tmp_path / "trees" / "acme__shop-1"
    assert git(tree, "rev-parse", "HEAD").strip() == base  # a real checkout, with history
    assert ".ctxfold/" in (tree / ".git" / "info" / "exclude").read_text()
    doc = json.loads(out.read_text())
    run = doc["instances"][0]
    assert run["errors"] == {}
    info = run["info"]
    # Today every file is stable; as of the base commit, billing.py and invoice.py are not.
    assert info["volatile_files_today"] == 0
    assert info["volatile_files"] == 2
    assert info["heuristic_edges"] >= 1  # billing.py and invoice.py changed together
    volatile, everything = info["vectors_volatile"], info["vectors_all"]
    assert volatile["embedded"] == info["volatile_symbols"] == 2
    assert everything["unchanged"] == 2 and everything["embedded"] == info["symbols"] - 2
    assert embedder.passages == info["symbols"]
    assert [name for name, s in run["stages"].items() if s["ran"]] == list(ablation.STAGES)
    assert all(s["functions_held"] == 1 for s in run["stages"].values())
    assert doc["throughput"]["volatile"]["chunks"] == 2
    assert doc["enrich_estimate"]["cli"]["requests"] >= 1
    table = "".join(stdout)
    for label in ablation.LABELS.values():
        assert re.search(rf"^{re.escape(label)}\s+1\s", table, re.MULTILINE), table

    # A second instance of the same repository takes its chunks from the first one's; the
    # vectors-all stage left out: its row is gone and the table says so.
    row = json.loads(instances.read_text())
    instances.write_text(instances.read_text() + json.dumps({**row, "instance_id": "acme__shop-2"}) + "\n")
    stdout.clear()
    passages = embedder.passages
    assert ablation.main(
        ["--instances", str(instances), "--repos", str(repos), "--workdir", str(tmp_path / "trees"),
         "--enrich-estimate", "", "--no-all", "--out", str(out)],
        stdout=Sink(stdout), stderr=Sink(err),
    ) == 0
    first, second = (r["info"]["vectors_volatile"] for r in json.loads(out.read_text())["instances"])
    assert first["computed"] == first["embedded"] == 2 and first["cache_hits"] == 0
    assert second["embedded"] == second["cache_hits"] == 2 and second["computed"] == 0
    assert embedder.passages == passages + 2
    table = "".join(stdout)
    assert "Did not run on any instance: + vectors (all)" in table
    assert not re.search(r"^\+ vectors \(all\)\s+\d", table, re.MULTILINE)
