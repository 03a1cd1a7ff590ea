"""The ``ctxfold`` command: one subcommand per core function, printing to stdout.

Each command imports what it uses when it runs, so that ``--help`` and light commands
never load the MCP SDK, LanceDB or the parsers."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from indexers.errors import CtxfoldError
from indexers.limits import DEFAULT_MAX_BYTES


class ProgressBar:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, enabled: bool | None = None):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done != total and now - self.last < 0.1:
            return
        self.last = now
        if total:
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(f"\r{stage:8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        else:
            sys.stderr.write(f"\r{stage:8} ...{' ' * 40}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()


def _repo(args, given: str | None = None) -> Path:
    from indexers.paths import repo_root

    repo = repo_root(given or args.repo, args.store)
    if not repo.exists():
        raise CtxfoldError(f"no such repository directory: {repo}; check the path, or pass --repo PATH to the repository's root")
    if not repo.is_dir():
        raise CtxfoldError(f"not a directory: {repo}; pass the repository's root directory, not a file in it")
    return repo


def _workspace(args, need_index: bool = True):
    """The workspace of the repository this command is about. A command that reads the
    index never builds one where none was asked for: without one, it says where it
    looked and what to run."""
    from indexers.paths import is_indexed, store_dir_for

    from .workspace import Workspace

    repo = _repo(args)
    if need_index and not is_indexed(store_dir_for(repo, args.store)):
        where = f"no index in {store_dir_for(repo, args.store)}"
        if not args.repo and not args.store:
            where = f"no index found for {Path.cwd()} (looked for .ctxfold/ or a git root there and above; chose {repo})"
        raise CtxfoldError(f"{where}; run `ctxfold index {repo}` first, or pass --repo PATH")
    return Workspace(repo, args.store, max_bytes=getattr(args, "max_bytes", None))


def refreshed(args, need_index: bool = True):
    ws = _workspace(args, need_index)
    bar = ProgressBar()
    try:
        ws.refresh(progress=bar)
    finally:
        bar.close()
    return ws


def cmd_index(args) -> int:
    from indexers.build import Indexer
    from indexers.history import load_history
    from indexers.paths import in_test_fixtures, store_dir_for

    repo = _repo(args, args.path)
    indexer = Indexer(repo, store_dir_for(repo, args.store), max_bytes=args.max_bytes)
    bar = ProgressBar()
    try:
        stats = indexer.update(rebuild=args.rebuild, progress=bar)
    finally:
        bar.close()
    if stats.rebuilt_reason and stats.rebuilt_reason != "rebuild requested":
        print(f"note: {stats.rebuilt_reason}", file=sys.stderr)
    print(
        f"indexed {repo}: {stats.files} files ({stats.parsed} parsed, {stats.deleted} removed), "
        f"{stats.symbols} symbols, {stats.edges} edges in {stats.seconds:.2f} s"
    )
    if not stats.files:
        from indexers.languages import LANGUAGES

        kinds = ", ".join(f"{info.name} ({' '.join(info.extensions)})" for info in LANGUAGES.values())
        empty = not any(p.name != indexer.store.dir.name for p in repo.iterdir())
        what = f"{repo} is an empty directory" if empty else f"no supported source files in {repo}"
        print(f"ctxfold: warning: {what}, so nothing to search or recall; "
              f"ctxfold indexes {kinds}", file=sys.stderr)
    for s in stats.skipped:
        print(f"skipped {s.path}: {s.reason}")
    for path, ranges in sorted(stats.parse_errors.items()):
        spans = ", ".join(f"L{a}-{b}" if a != b else f"L{a}" for a, b in ranges[:5])
        where = "a test fixture, maybe broken on purpose; " if in_test_fixtures(path) else ""
        print(f"syntax errors in {path}: {spans} ({where}the rest of the file is indexed)")
    started = time.perf_counter()
    history = load_history(repo, indexer.store.dir)  # read now, not at the first recall
    if history.head:
        n = len(history.refs)
        print(f"read git history: {len(history.commits)} recent commits, {n} issue number{'s' * (n != 1)} "
              f"in {time.perf_counter() - started:.2f} s")
    return 0


def cmd_status(args) -> int:
    from .status import status

    ws = _workspace(args, need_index=False)  # says "not indexed yet" itself
    report = status(ws)
    if args.format == "json":
        print(json.dumps(report, indent=1, sort_keys=True))
    else:
        from .status import render_status

        print(render_status(report))
    return 0


def cmd_search(args) -> int:
    from .search import search_symbols

    result = search_symbols(refreshed(args), args.query, args.kind, args.path, args.limit, args.offset)
    print(json.dumps(result.to_json(), indent=1) if args.format == "json" else result.render())
    return 0 if result.hits else 1


def cmd_recall(args) -> int:
    from .facts.code import facts_for
    from .recall import json_text, recall

    ws = refreshed(args)
    task = args.task if args.task != "-" else sys.stdin.read()
    result = recall(ws, task, args.budget, args.focus, args.format, facts=facts_for(ws))
    print(json_text(result) if args.format == "json" else result.text, end="" if args.format != "json" else "\n")
    return 0


def cmd_fold(args) -> int:
    from .fold import fold_file

    result = fold_file(refreshed(args), args.path, args.focus, args.budget)
    print(result.text, end="")
    return 0


def cmd_serve(args) -> int:
    from .server import serve

    serve(args.repo, args.store)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctxfold", description="A context database for coding agents, served over MCP.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repo", default=None, help="repository root (default: $CLAUDE_PROJECT_DIR, else the nearest directory at or above this one with an index or a .git)")
    common.add_argument("--store", type=Path, default=None, help="store directory (default: REPO/.ctxfold)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", parents=[common], help="index a repository (incremental)")
    p.add_argument("path", nargs="?", help="repository root (default: as --repo)")
    p.add_argument("--rebuild", action="store_true", help="drop the code index and build it anew (facts are kept)")
    p.add_argument("--max-bytes", type=int, default=None,
                   help=f"skip files larger than this; kept with the index (default: its last limit, else {DEFAULT_MAX_BYTES:,})")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("status", parents=[common], help="what the index holds, and how fresh it is")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("search", parents=[common], help="find symbols by name, prefix, words or fuzzily")
    p.add_argument("query")
    p.add_argument("--kind")
    p.add_argument("--path")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("recall", parents=[common], help="the code and facts a task needs, within a token budget")
    p.add_argument("task", help="the task text ('-' reads it from stdin)")
    p.add_argument("--budget", type=int, default=None, help="most tokens to return (default 8000)")
    p.add_argument("--focus", action="append", default=[], help="a file or symbol you are working on (repeatable)")
    p.add_argument("--format", choices=["markdown", "json"], default="markdown")
    p.set_defaults(func=cmd_recall)

    p = sub.add_parser("fold", parents=[common], help="one file with irrelevant bodies folded")
    p.add_argument("path")
    p.add_argument("--focus", action="append", default=None, help="task text, symbol names or line ranges (repeatable)")
    p.add_argument("--budget", type=int, default=None)
    p.set_defaults(func=cmd_fold)

    p = sub.add_parser("serve", parents=[common], help="serve the MCP tools over stdio")
    p.set_defaults(func=cmd_serve)

    # The fact memory's commands have a parser of their own, built only when they run (main).
    sub.add_parser("facts", help="the fact memory: add, list, show, history, forget, restore, export, import")
    from .enrich_cli import add_enrich_cli

    add_enrich_cli(sub, common)
    from .history.cli import add_history_cli

    add_history_cli(sub, common)
    from .setup_cli import add_setup_cli

    add_setup_cli(sub, common)
    return parser


def facts_parser() -> argparse.ArgumentParser:
    from .facts_cli import add_facts_cli

    parser = argparse.ArgumentParser(prog="ctxfold")
    add_facts_cli(parser.add_subparsers(dest="command", required=True), None)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .history.cli import dispatch_early

    early = dispatch_early(sys.argv[1:] if argv is None else argv)
    if early is not None:
        return early
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="ctxfold: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    args = (facts_parser() if argv[:1] == ["facts"] else build_parser()).parse_args(argv)
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # here, so that a closed pipe is met inside this try
        return code
    except CtxfoldError as exc:
        print(f"ctxfold: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ctxfold: interrupted; the last committed index is intact", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as git does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a bug or an environment problem: a message, not a traceback
        if os.environ.get("CTXFOLD_DEBUG"):
            raise
        print(f"ctxfold: internal error ({type(exc).__name__}: {exc}); if it persists, run `ctxfold index --rebuild`, "
              "or set CTXFOLD_DEBUG=1 for the traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
