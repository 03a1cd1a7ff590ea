"""``ctxfold facts …``: the fact memory from the command line.

Each command is a thin adapter over one ``FactStore`` method. Output is plain text, or
JSON with ``--format json`` where a script would want it; messages about what happened
go to stderr so that ``facts export`` and ``--format json`` keep stdout clean.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from mcp_server.facts import (
    FACT_TYPES,
    Fact,
    FactError,
    FactStorageError,
    FactStore,
    render_fact_line,
    render_record_result,
)
from mcp_server.facts.code import fact_store
from mcp_server.workspace import Workspace

OpenStore = Callable[[argparse.Namespace], FactStore]


def add_facts_command(subparsers, open_store: OpenStore) -> argparse.ArgumentParser:
    """Add ``facts`` and its subcommands to an argparse ``subparsers`` object. Each leaf
    sets ``func(args) -> int`` (the exit code); ``open_store(args)`` opens the store."""
    facts = subparsers.add_parser(
        "facts", help="the fact memory: add, list, show, history, forget, restore, export, import",
        description="Facts agents learned that the code does not say. Nothing is deleted: "
        "new versions supersede, forgetting archives.",
    )
    sub = facts.add_subparsers(dest="facts_command", metavar="COMMAND", required=True)

    def leaf(name: str, handler, help: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help, description=help)
        parser.set_defaults(func=_runner(handler, open_store))
        return parser

    add = leaf("add", _add, "record a fact (or a new version of one with --supersedes)")
    add.add_argument("fact", help="the fact, one or two sentences")
    add.add_argument("--type", "-t", required=True, choices=FACT_TYPES)
    add.add_argument("--evidence", help="what shows it: a test, a log line, a file path")
    add.add_argument("--mitigation", help="what to do about it")
    add.add_argument("--confidence", type=float, default=0.7, help="0 to 1 (default 0.7)")
    add.add_argument("--about", action="append", metavar="ANCHOR",
                     help="a symbol (path:Qualified.name or a bare name) or a file; repeatable")
    add.add_argument("--supersedes", metavar="ID", help="make this a new version of fact ID")
    add.add_argument("--pinned", action="store_true", help="always serve it first")
    _format_option(add)

    listing = leaf("list", _list, "list facts, newest first")
    listing.add_argument("--status", default="active",
                         choices=("active", "archived", "superseded", "all"))
    listing.add_argument("--type", "-t", choices=FACT_TYPES)
    _format_option(listing)

    show = leaf("show", _show, "show one fact in full (its latest version by default)")
    show.add_argument("id")
    show.add_argument("--version", type=int)
    _format_option(show)

    history = leaf("history", _history, "list every version of a fact")
    history.add_argument("id")
    _format_option(history)

    forget = leaf("forget", _forget, "archive a fact (it can be restored)")
    forget.add_argument("id")
    forget.add_argument("--reason", "-r", required=True, help="why it no longer holds")

    restore = leaf("restore", _restore,
                   "re-activate an archived fact, or roll back to an earlier version")
    restore.add_argument("id")
    restore.add_argument("--version", type=int, help="the version to re-publish (rollback)")

    export = leaf("export", _export, "write every version of every fact as JSON Lines")
    export.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")

    importing = leaf("import", _import, "import a JSON Lines export (idempotent)")
    importing.add_argument("file", help="the export to read ('-' for stdin)")
    _format_option(importing)
    return facts


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def _runner(handler, open_store: OpenStore) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(open_store(args), args)
        except (FactError, FactStorageError) as exc:
            print(f"ctxfold: error: {exc}", file=sys.stderr)
            return 2  # as for every other error of the command line

    return run


def _json(value) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


def _status_suffix(fact: Fact) -> str:
    if fact.status == "active":
        return ""
    return f"  ({fact.status}{': ' + fact.reason if fact.reason else ''})"


def _add(store: FactStore, args: argparse.Namespace) -> int:
    result = store.record(
        args.fact, args.type, evidence=args.evidence, mitigation=args.mitigation,
        confidence=args.confidence, about=args.about, supersedes=args.supersedes,
        pinned=args.pinned, source="cli",
    )
    if args.format == "json":
        _json({
            "id": result.id, "version": result.version, "action": result.action,
            "warnings": result.warnings,
            "similar": [{"id": s.fact.id, "version": s.fact.version, "similarity": s.similarity,
                         "fact": s.fact.fact} for s in result.similar],
        })
    else:
        print(render_record_result(result))
    return 0


def _list(store: FactStore, args: argparse.Namespace) -> int:
    found = store.list(status=args.status, type=args.type)
    if args.format == "json":
        _json([f.to_dict() for f in found])
        return 0
    for fact in found:
        print(render_fact_line(fact) + _status_suffix(fact))
    if not found:
        print(f"no {args.status if args.status != 'all' else ''} facts".replace("  ", " "),
              file=sys.stderr)
    return 0


def _show(store: FactStore, args: argparse.Namespace) -> int:
    fact = store.get(args.id, args.version)
    if args.format == "json":
        _json(fact.to_dict())
        return 0
    latest = store.get(args.id)
    print(f"{fact.id} v{fact.version} of {latest.version}  {fact.type}  {fact.status}"
          f"{' pinned' if fact.pinned else ''}")
    print(f"fact:        {fact.fact}")
    for label, value in (("evidence", fact.evidence), ("mitigation", fact.mitigation)):
        if value:
            print(f"{label + ':':<13}{value}")
    print(f"confidence:  {fact.confidence:g}")
    print(f"recorded:    {fact.created_at} by {fact.source} ({fact.change})")
    if fact.status != "active":
        print(f"{fact.status + ':':<13}{fact.status_at}" + (f"  {fact.reason}" if fact.reason else ""))
    print(f"confirmed:   {fact.confirmations} times, last {fact.last_confirmed_at}")
    print(f"served:      {fact.served_count} times"
          + (f", last {fact.last_served_at}" if fact.last_served_at else ""))
    for anchor in fact.about:
        target = anchor.symbol_id or anchor.path or "(free text)"
        stamp = f"  hash {anchor.hash[:12]}" if anchor.hash else ""
        print(f"about:       {anchor.text} -> {target}{stamp}")
    return 0


def _history(store: FactStore, args: argparse.Namespace) -> int:
    versions = store.history(args.id)
    if args.format == "json":
        _json([f.to_dict() for f in versions])
        return 0
    for fact in versions:
        print(f"v{fact.version}  {fact.status:<10} {fact.created_at}  {fact.change:<14} {fact.fact}"
              + (f"  ({fact.reason})" if fact.reason else ""))
    return 0


def _forget(store: FactStore, args: argparse.Namespace) -> int:
    fact = store.forget(args.id, args.reason)
    print(f"archived {fact.id} v{fact.version}: restore with `ctxfold facts restore {fact.id}`")
    return 0


def _restore(store: FactStore, args: argparse.Namespace) -> int:
    fact = store.restore(args.id, args.version, source="cli")
    print(f"restored {fact.id} as v{fact.version} ({fact.change}): {fact.fact}")
    return 0


def _export(store: FactStore, args: argparse.Namespace) -> int:
    if args.file == "-":
        count = store.export_jsonl(sys.stdout)
        print(f"exported {count} fact versions", file=sys.stderr)
        return 0
    target = Path(args.file)
    # Written beside the target and renamed, so a failed export never leaves half a file.
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        os.chmod(temp, 0o644)  # mkstemp's 0600 would surprise whoever shares the export
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            count = store.export_jsonl(out)
            os.fsync(out.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    print(f"exported {count} fact versions to {target}", file=sys.stderr)
    return 0


def _import(store: FactStore, args: argparse.Namespace) -> int:
    if args.file == "-":
        report = store.import_jsonl(sys.stdin)
    else:
        try:
            with open(args.file, encoding="utf-8") as handle:
                report = store.import_jsonl(handle)
        except OSError as exc:
            raise FactError(f"cannot read {args.file!r}: {exc.strerror}; check the path") from exc
    if args.format == "json":
        _json({"added": report.added, "merged": report.merged, "unchanged": report.unchanged,
               "errors": [{"line": n, "error": e} for n, e in report.errors],
               "conflicts": [{"line": n, "conflict": c} for n, c in report.conflicts]})
    else:
        print(f"imported: {report.added} added, {report.merged} merged, "
              f"{report.unchanged} unchanged")
        for number, message in report.errors:
            print(f"line {number}: skipped, {message}", file=sys.stderr)
        for number, message in report.conflicts:
            print(f"line {number}: conflict, {message}", file=sys.stderr)
    return 0 if report.ok else 1


def add_facts_cli(subparsers, common) -> None:
    """Wire ``ctxfold facts`` into the ``ctxfold`` command, on the workspace's fact store
    (its anchors resolve through the repository's index)."""

    def open_store(args: argparse.Namespace) -> FactStore:
        from indexers.paths import repo_root

        ws = Workspace(repo_root(getattr(args, "repo", None), getattr(args, "store", None)), getattr(args, "store", None))
        ws.refresh()
        return fact_store(ws)

    parser = add_facts_command(subparsers, open_store)
    parser.add_argument("--repo", default=None, help="repository root (default: as for every command)")
    parser.add_argument("--store", type=Path, default=None, help="store directory (default: REPO/.ctxfold)")
