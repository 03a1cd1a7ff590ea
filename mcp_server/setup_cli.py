"""``ctxfold setup``: one command from an installed ctxfold to a server Claude Code starts.

It indexes the repository, registers the server in the project's ``.mcp.json`` (merged:
every other server and key stays) with a command that runs this interpreter by absolute
path, so that it starts from any directory without ``ctxfold`` on PATH, installs the
history hooks, and says what it did and how to undo it. Run again, it changes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SERVER_NAME = "ctxfold"


def server_entry(repo: Path, store: Path | None = None, python: str | None = None) -> dict:
    """The ``.mcp.json`` entry: this interpreter (not resolved, so a venv stays a venv)
    running the command module, for this repository."""
    python = str(Path(python or sys.executable).absolute())
    args = ["-m", "mcp_server.cli", "serve", "--repo", str(repo)]
    if store is not None:
        args += ["--store", str(Path(store).resolve())]
    return {"type": "stdio", "command": python, "args": args}


def merged_mcp_config(before: dict, entry: dict) -> dict:
    """``before`` (a ``.mcp.json`` object) with our server set to ``entry``, all else kept."""
    from .history.settings_file import SettingsError

    after = json.loads(json.dumps(before))  # a deep copy that keeps key order
    servers = after.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise SettingsError(f"'mcpServers' in .mcp.json is {type(servers).__name__}, not an object: fix it by hand first")
    servers[SERVER_NAME] = entry
    return after


def cmd_setup(args) -> int:
    from .cli import _repo, cmd_index
    from .history.settings_file import apply, plan, read_settings, write_settings

    repo = _repo(args, args.path)
    mcp_path = repo / ".mcp.json"
    before = read_settings(mcp_path)
    after = merged_mcp_config(before, server_entry(repo, args.store))
    hooks = None if args.no_hooks else plan("install", args.scope, repo)

    if args.dry_run:
        print(f"would index {repo}")
        print(f"# {mcp_path} ({'unchanged' if before == after else 'would become'}):")
        print(json.dumps(after, indent=2, ensure_ascii=False))
        if hooks is not None:
            print(f"# {hooks.path} ({'unchanged' if not hooks.changed else 'would become'}):")
            print(json.dumps(hooks.after, indent=2, ensure_ascii=False))
        return 0

    code = cmd_index(argparse.Namespace(path=str(repo), repo=None, store=args.store, rebuild=False, max_bytes=None))
    if code:
        return code
    done: list[str] = []
    undo: list[str] = []
    if before != after:
        write_settings(mcp_path, after)
    was = (before.get("mcpServers") or {}).get(SERVER_NAME) if isinstance(before.get("mcpServers"), dict) else None
    state = "already there" if before == after else ("updated" if was else "added")
    done.append(f"registered the MCP server '{SERVER_NAME}' in {mcp_path} ({state})")
    undo.append(f"remove the '{SERVER_NAME}' entry under mcpServers in {mcp_path}")
    if hooks is not None:
        apply(hooks)
        done.append(f"installed the history hooks ({', '.join(hooks.added)}) in {hooks.path}"
                    + ("" if hooks.changed else " (already there)"))
        undo.append(f"ctxfold hooks uninstall --repo {repo}" + (f" --scope {args.scope}" if args.scope != "project" else ""))
    for line in done:
        print(line)
    print(f"done: start Claude Code in {repo} and approve the '{SERVER_NAME}' server it finds in .mcp.json "
          "(`/mcp` shows it); the server keeps the index up to date by itself")
    undo.append(f"delete {Path(args.store).resolve() if args.store else repo / '.ctxfold'} (the index and the facts)")
    print("to undo:\n" + "\n".join(f"  {step}" for step in undo))
    return 0


def add_setup_cli(sub, common) -> None:
    p = sub.add_parser("setup", parents=[common],
                       help="index a repository, register the server with Claude Code (.mcp.json), install the hooks")
    p.add_argument("path", nargs="?", help="repository root (default: as --repo)")
    p.add_argument("--no-hooks", action="store_true", help="leave Claude Code's hooks alone")
    p.add_argument("--scope", choices=["project", "local"], default="project",
                   help="where the hooks go: project (.claude/settings.json) or local (.claude/settings.local.json)")
    p.add_argument("--dry-run", action="store_true", help="print what it would write; index and write nothing")
    p.set_defaults(func=cmd_setup)


__all__ = ["add_setup_cli", "cmd_setup", "merged_mcp_config", "server_entry"]
