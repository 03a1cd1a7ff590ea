"""The MCP server: thin tools over the plain functions that the CLI and tests call too.

stdout is the protocol: everything else goes to stderr through logging.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from indexers.types import SYMBOL_KINDS

from .errors import CtxfoldError
from .facts import FACT_TYPES, render_fact_line, render_record_result
from .facts import forget_fact as do_forget_fact
from .facts import record_fact as do_record_fact
from .facts.code import fact_store, facts_for
from .settings import SETTINGS
from .workspace import Workspace

log = logging.getLogger("ctxfold")
READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
# recall stamps the facts it serves (the archive policy keeps served facts) and opening the
# fact memory runs that policy: it writes, though nothing the agent asked for changes.
RECALL = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
# The values the schemas enumerate, so that a client is refused a bad one before the call.
Format = Literal["markdown", "json"]
SymbolKind = Literal[SYMBOL_KINDS]
FactType = Literal[FACT_TYPES]
# Results can be long: ask Claude Code to keep them inline, not in a file, up to the most
# that a result within the token cap can hold (``bounded`` cuts anything longer).
LARGE_RESULT = {"anthropic/maxResultSizeChars": SETTINGS.max_result_chars}

INSTRUCTIONS = (
    "ctxfold knows this repository's code as a graph of symbols, and remembers facts you record. "
    "Start a task with recall(task) instead of reading whole files; use fold_file for one file, "
    "search_symbols to find a definition, record_fact to keep what you learned."
)


async def _run(ctx: Context | None, ws: Workspace, fn, *args, **kwargs):
    """Run a blocking call on a worker thread, refreshing the index first, one call at a
    time per workspace; progress of a long refresh goes to the client as notifications."""

    def progress(stage: str, done: int, total: int) -> None:
        if ctx is None:
            return
        try:
            anyio.from_thread.run(ctx.report_progress, done, total or None, f"indexing: {stage}")
        except Exception:  # the client may not want progress; never fail the call for it
            log.debug("progress notification failed", exc_info=True)

    def call():
        # An update patches the views in place: one call at a time reads them. A call
        # waits a bounded time for the one before it, then says so.
        if not ws.lock.acquire(timeout=SETTINGS.call_wait_seconds):
            raise CtxfoldError(
                f"ctxfold is busy: another call (or the index build) has held {ws.repo} for "
                f"{SETTINGS.call_wait_seconds:g} s; retry in a moment"
            )
        try:
            ws.refresh(progress=progress)
            return fn(*args, **kwargs)
        finally:
            ws.lock.release()

    try:
        return bounded(await anyio.to_thread.run_sync(call))
    except CtxfoldError as exc:
        raise ToolError(bounded(str(exc))) from exc
    except ToolError:
        raise
    except Exception as exc:  # a bug or an environment problem: still an answer the agent can read
        log.warning("tool call failed", exc_info=True)
        raise ToolError(
            f"internal error ({type(exc).__name__}: {bounded(str(exc))[:500]}); retry the call; if it fails "
            "again, run `ctxfold status` in a shell, or `ctxfold index --rebuild` if the index is damaged"
        ) from exc


def bounded(result):
    """A text result as Claude Code can take it: lone surrogates (from an undecodable file
    name, say) replaced, and no longer than the size every tool asks Claude Code to keep."""
    if not isinstance(result, str):
        return result
    if len(result) > SETTINGS.max_result_chars:
        note = "\n# note: cut at {:,} characters\n".format(SETTINGS.max_result_chars)
        result = result[: SETTINGS.max_result_chars - len(note)] + note
    return result.encode("utf-8", "replace").decode("utf-8")


def _warm(ws: Workspace) -> None:
    try:
        ws.warm()
    except Exception:  # the first call will report the problem to the agent
        log.warning("warming the index failed", exc_info=True)


def build_server(repo: Path | str | None = None, store: Path | str | None = None) -> MCPServer:
    from indexers.paths import repo_root

    root = repo_root(repo)

    @asynccontextmanager
    async def lifespan(server: MCPServer):
        ws = Workspace(root, store)
        ws.long_lived = True  # its index is settled out of full garbage collections once built
        log.info("ctxfold serving %s (store %s)", ws.repo, ws.store_dir)
        # With an index on disk, warm up in the background (load it, bring it up to date,
        # build the graph and full-text index, read git history) so the first call does
        # not pay for it; calls wait on the workspace lock. With none, the first call
        # builds it, with progress.
        if ws.indexer.store.manifest_mtime():
            threading.Thread(target=_warm, args=(ws,), name="ctxfold-warm", daemon=True).start()
        yield {"ws": ws}

    mcp = MCPServer("ctxfold", instructions=INSTRUCTIONS, lifespan=lifespan)

    def workspace(ctx: Context) -> Workspace:
        return ctx.request_context.lifespan_context["ws"]

    @mcp.tool(annotations=RECALL, structured_output=False, meta=LARGE_RESULT)
    async def recall(
        task: Annotated[str, Field(description="What you are working on: the issue text (whole: its names, tracebacks and #issue numbers all count), an error with its traceback, or a goal.")],
        ctx: Context,
        budget: Annotated[int, Field(description=f"Most tokens to return (exact, tiktoken). Default {SETTINGS.default_budget}; at most {SETTINGS.max_budget}.")] = SETTINGS.default_budget,
        focus: Annotated[list[str] | None, Field(description="Files or symbols you are working on (path, Class.method, path:Qualified.name).")] = None,
        format: Annotated[Format, Field(description="markdown (default) or json")] = "markdown",
    ) -> str:
        """Get the code and remembered facts a task needs, within a token budget. Use it first on a
        task instead of reading whole files. Returns facts, then the most relevant symbols in full
        (with path and line range, grouped by file), signatures of their neighbours, and a list of
        what was left out with token costs (ask fold_file or a bigger budget for those)."""
        from .recall import json_text
        from .recall import recall as do_recall

        ws = workspace(ctx)
        result = await _run(ctx, ws, do_recall, ws, task, budget, focus, format, facts=facts_for(ws))
        return result.text if format != "json" else bounded(json_text(result))

    @mcp.tool(annotations=READ_ONLY, structured_output=False, meta=LARGE_RESULT)
    async def fold_file(
        path: Annotated[str, Field(description="File path relative to the repository root.")],
        ctx: Context,
        focus: Annotated[str | None, Field(description="What matters: a task text, symbol names, or line ranges like '120-180'.")] = None,
        budget: Annotated[int | None, Field(description=f"Most tokens to return (at most {SETTINGS.max_budget}); bodies fold from the least relevant until it fits.")] = None,
    ) -> str:
        """Show one file with bodies irrelevant to the focus folded to one-line markers. Imports,
        signatures, docstring first lines and relevant bodies stay verbatim; every kept line is
        prefixed with its real line number, so you can edit or read a range directly. Without a
        focus you get an outline of the file."""
        from .fold import fold_file as do_fold

        ws = workspace(ctx)
        result = await _run(ctx, ws, do_fold, ws, path, focus, budget)
        return result.text

    @mcp.tool(annotations=READ_ONLY, structured_output=False, meta=LARGE_RESULT)
    async def search_symbols(
        query: Annotated[str, Field(description="A symbol name, Class.method, a prefix, or words from its name or docstring.")],
        ctx: Context,
        kind: Annotated[SymbolKind | None, Field(description="Only symbols of this kind.")] = None,
        path: Annotated[str | None, Field(description="Only symbols in this file or directory.")] = None,
        limit: Annotated[int, Field(description="Hits per page (1-200).")] = 20,
        offset: Annotated[int, Field(description="Skip this many hits (paging).")] = 0,
    ) -> str:
        """Find where symbols are defined: exact name, qualified name, a string code registers
        them under (an event, a directive), prefix, full-text over names/signatures/docstrings,
        then fuzzy. Each hit gives the qualified name, kind,
        path:start-end and signature. Use it to locate a definition before reading or editing."""
        from .search import search_symbols as do_search

        ws = workspace(ctx)
        result = await _run(ctx, ws, do_search, ws, query, kind, path, limit, offset)
        return result.render()

    @mcp.tool(structured_output=False, annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False))
    async def record_fact(
        fact: Annotated[str, Field(description="The fact, short (one or two sentences). Put long evidence by reference.")],
        type: Annotated[FactType, Field(description="What kind of fact it is.")],
        ctx: Context,
        evidence: Annotated[str | None, Field(description="What shows it: a command and its output, a test, a link.")] = None,
        mitigation: Annotated[str | None, Field(description="What to do about it.")] = None,
        confidence: Annotated[float, Field(description="0 to 1.")] = 0.7,
        about: Annotated[list[str] | None, Field(description="Symbols (path:Class.method or a name) or files it is about.")] = None,
        supersedes: Annotated[str | None, Field(description="Id of a fact this one replaces (a new version of it).")] = None,
        pinned: Annotated[bool, Field(description="Always serve it first (rules that must never be broken).")] = False,
    ) -> str:
        """Remember something the code does not say (a failure and its cause, an invariant, a
        decision and why, a coupling between two places) so it survives compaction and later
        sessions. recall serves it back when a task touches it. Returns the fact's id and
        version, and similar facts already known: supersede one instead of duplicating."""

        def call() -> str:
            return render_record_result(do_record_fact(
                fact_store(ws), fact, type, evidence=evidence, mitigation=mitigation, confidence=confidence,
                about=about or [], supersedes=supersedes, pinned=pinned))

        ws = workspace(ctx)
        return await _run(ctx, ws, call)

    @mcp.tool(structured_output=False, annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False))
    async def forget_fact(
        id: Annotated[str, Field(description="The fact's id, e.g. f-1a2b3c4d.")],
        reason: Annotated[str, Field(description="Why it no longer holds.")],
        ctx: Context,
    ) -> str:
        """Archive a fact that no longer holds: it leaves recall but is kept and can be restored.
        Nothing is ever deleted."""

        def call() -> str:
            archived = do_forget_fact(fact_store(ws), id, reason)
            return f"archived (restorable with `ctxfold facts restore {archived.id}`): {render_fact_line(archived)}"

        ws = workspace(ctx)
        return await _run(ctx, ws, call)

    from .history.tools import register_history_tools

    register_history_tools(mcp, workspace)
    for tool in mcp._tool_manager.list_tools():  # every tool, the fact and history tools too
        tool.meta = {**(tool.meta or {}), **LARGE_RESULT}
    return mcp


def serve(repo: Path | str | None = None, store: Path | str | None = None) -> None:
    from indexers.paths import repo_root

    from .transport import run_stdio

    root = repo_root(repo)
    if not root.is_dir():  # checked here: inside the server it would end in a traceback
        what = "not a directory" if root.exists() else "no such repository"
        raise CtxfoldError(f"{what}: {root}; pass --repo PATH to the repository's root directory")
    server = build_server(root, store)
    _stop_at_interrupt()
    if sys.stdin.isatty():  # run by hand: say what this is, since it will only wait for JSON
        print(f"ctxfold serve: the ctxfold MCP server for {root}, speaking JSON-RPC on stdin and stdout.\n"
              "An MCP client such as Claude Code starts it (`ctxfold setup` registers it); Ctrl-C stops it.",
              file=sys.stderr, flush=True)
    anyio.run(run_stdio, server)


def _stop_at_interrupt() -> None:
    """Stop at the first Ctrl-C. (Left to Python, the interrupt would wait for the thread
    blocked reading stdin, that is for a second Ctrl-C.) Nothing is lost: an index is
    only ever replaced whole, at its commit."""

    def stop(signum, frame) -> None:
        os.write(2, b"\nctxfold serve: interrupted, stopped\n")
        os._exit(130)

    try:
        signal.signal(signal.SIGINT, stop)
    except ValueError:  # not the main thread (an embedding): leave the interrupt as it is
        pass


__all__ = ["build_server", "serve"]
