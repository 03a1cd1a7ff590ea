"""``ctxfold facts …`` through argparse, as the CLI wires it."""

from __future__ import annotations

import argparse
import json

import pytest

from mcp_server.facts import FactStore
from mcp_server.facts_cli import add_facts_command


@pytest.fixture
def run(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="ctxfold")
    parser.add_argument("--store", default=str(tmp_path / "store"))
    add_facts_command(parser.add_subparsers(dest="command", required=True),
                      lambda args: FactStore(args.store))

    def invoke(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(list(argv))
        code = args.func(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_add_list_show_and_history(run):
    code, out, _ = run("facts", "add", "uploads over 5 MB time out", "--type", "failure",
                       "--mitigation", "stream in chunks", "--about", "pkg/upload.py",
                       "--format", "json")
    assert code == 0
    added = json.loads(out)
    fact_id = added["id"]
    assert (added["version"], added["action"]) == (1, "recorded")
    assert "free text" in added["warnings"][0]

    code, out, _ = run("facts", "add", "uploads over 8 MB time out", "--type", "failure",
                       "--supersedes", fact_id)
    assert (code, out.splitlines()[0]) == (0, f"recorded new version: {fact_id} v2")

    code, out, _ = run("facts", "list")
    assert code == 0 and out.count("\n") == 1 and "uploads over 8 MB" in out
    assert f"[failure {fact_id} v2 " in out and "mitigation" not in out

    code, out, _ = run("facts", "show", fact_id, "--version", "1")
    assert f"{fact_id} v1 of 2  failure  superseded" in out
    assert "mitigation:  stream in chunks" in out
    assert "recorded:" in out and "by cli" in out

    code, out, _ = run("facts", "history", fact_id, "--format", "json")
    assert [(v["version"], v["status"]) for v in json.loads(out)] == [(1, "superseded"), (2, "active")]


def test_forget_and_restore(run):
    _, out, _ = run("facts", "add", "the cache is cold at boot", "-t", "observation",
                    "--format", "json")
    fact_id = json.loads(out)["id"]
    code, out, _ = run("facts", "forget", fact_id, "--reason", "warmed now")
    assert code == 0 and out == f"archived {fact_id} v1: restore with `ctxfold facts restore {fact_id}`\n"
    _, out, _ = run("facts", "list", "--status", "archived")
    assert "(archived: warmed now)" in out
    code, out, _ = run("facts", "restore", fact_id)
    assert code == 0 and f"restored {fact_id} as v2" in out


def test_errors_go_to_stderr_with_the_next_step(run):
    code, out, err = run("facts", "forget", "f-deadbeef", "--reason", "x")
    assert (code, out) == (2, "")
    assert "f-deadbeef" in err and "ctxfold facts list" in err
    code, _, err = run("facts", "add", "x", "-t", "todo", "--confidence", "3")
    assert code == 2 and "outside [0, 1]" in err


def test_export_then_import_into_another_store(run, tmp_path, capsys):
    run("facts", "add", "alpha", "-t", "decision")
    run("facts", "add", "beta", "-t", "todo")
    code, out, _ = run("facts", "export")
    assert code == 0 and len(out.splitlines()) == 2
    target = tmp_path / "facts.jsonl"
    code, _, err = run("facts", "export", str(target))
    assert code == 0 and target.read_text() == out and "2 fact versions" in err

    other = str(tmp_path / "other")
    code, out, _ = run("--store", other, "facts", "import", str(target))
    assert (code, out.strip()) == (0, "imported: 2 added, 0 merged, 0 unchanged")
    code, out, _ = run("--store", other, "facts", "import", str(target), "--format", "json")
    assert json.loads(out)["unchanged"] == 2

    target.write_text(target.read_text() + "{oops\n")
    code, out, err = run("--store", other, "facts", "import", str(target))
    assert code == 1 and "line 3: skipped, not JSON" in err
    code, _, err = run("facts", "import", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "missing.jsonl" in err
