"""The history pipeline's commands: ``ctxfold hooks``, ``ctxfold hook``, ``ctxfold output``."""

from __future__ import annotations

import json
from pathlib import Path


def _project(args) -> Path:
    from indexers.paths import repo_root

    return repo_root(args.repo)


def _store(args) -> Path:
    from indexers.paths import store_dir_for

    return store_dir_for(_project(args), args.store)


def cmd_hooks(args) -> int:
    from .settings_file import apply, plan, status_report

    project = _project(args)
    if args.action == "status":
        print(status_report(project, _store(args)))
        return 0
    change = plan(args.action, args.scope, project, prompt_recall=getattr(args, "prompt_recall", False))
    if args.dry_run:
        print(f"# {change.path} ({'unchanged' if not change.changed else 'would become'}):")
        print(json.dumps(change.after, indent=2, ensure_ascii=False))
        return 0
    apply(change)
    if args.action == "install":
        print(f"installed ctxfold hooks ({', '.join(change.added)}) in {change.path}"
              + ("" if change.changed else " (already there)"))
    elif change.removed:
        print(f"removed ctxfold hooks ({', '.join(change.removed)}) from {change.path}")
    else:
        print(f"no ctxfold hooks in {change.path}")
    return 0


def cmd_hook(args) -> int:
    from .hooks import run

    return run(args.event)


def cmd_output(args) -> int:
    from .outputs import OutputStore, render_records

    store = OutputStore(_store(args))
    if args.action == "list":
        print(render_records(store.list(args.session, args.limit)))
    elif args.action == "show":
        print(store.show(args.sha, args.lines, args.limit).render())
    else:
        print(store.grep(args.sha, args.pattern, args.context, args.limit).render())
    return 0


def add_history_cli(sub, common) -> None:
    from .hooks import EVENTS
    from .settings_file import SCOPES

    p = sub.add_parser("hooks", parents=[common], help="install, remove or check ctxfold's Claude Code hooks")
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument("--scope", choices=SCOPES, default="project",
                   help="project: .claude/settings.json; local: .claude/settings.local.json; user: ~/.claude/settings.json")
    p.add_argument("--dry-run", action="store_true", help="print the settings JSON it would write, write nothing")
    p.add_argument("--prompt-recall", action="store_true",
                   help="also inject a small recall for each prompt (UserPromptSubmit, at most 2 s)")
    p.set_defaults(func=cmd_hooks)

    p = sub.add_parser("hook", help="run one hook: reads the event JSON on stdin (what the settings entries run)")
    p.add_argument("event", choices=sorted(EVENTS))
    p.set_defaults(func=cmd_hook)

    p = sub.add_parser("output", help="read back outputs the hooks trimmed (show, grep, list)")
    out = p.add_subparsers(dest="action", required=True)
    q = out.add_parser("show", parents=[common], help="a kept output, or a line range of it")
    q.add_argument("sha", help="a sha256 prefix (at least 4 hex digits)")
    q.add_argument("--lines", help="a line range START-END (1-based), START-, -LAST or N")
    q.add_argument("--limit", type=int, default=500, help="most lines")
    q.set_defaults(func=cmd_output)
    q = out.add_parser("grep", parents=[common], help="the lines of a kept output matching a regular expression")
    q.add_argument("sha", help="a sha256 prefix (at least 4 hex digits)")
    q.add_argument("pattern", help="a regular expression (Python syntax)")
    q.add_argument("--context", type=int, default=0, help="lines of context around each match")
    q.add_argument("--limit", type=int, default=200, help="most lines")
    q.set_defaults(func=cmd_output)
    q = out.add_parser("list", parents=[common], help="the latest kept outputs, newest first")
    q.add_argument("--session", help="only this session's outputs")
    q.add_argument("--limit", type=int, default=20, help="most records")
    q.set_defaults(func=cmd_output)


def dispatch_early(argv: list[str]) -> int | None:
    """``ctxfold hook EVENT`` runs before the full parser is built, which imports more."""
    if len(argv) == 2 and argv[0] == "hook" and not argv[1].startswith("-"):
        from .hooks import run

        return run(argv[1])
    return None


__all__ = ["add_history_cli", "dispatch_early"]
