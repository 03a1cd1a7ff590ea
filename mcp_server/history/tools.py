"""The MCP tool that reads kept outputs back: ``read_output``."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

READ_ONLY = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)


def read_output(store_dir, sha: str, lines: str | None = None, pattern: str | None = None,
                context: int = 0, limit: int = 200) -> str:
    """The core of the tool and of ``ctxfold output show|grep``."""
    from .outputs import OutputStore

    store = OutputStore(store_dir)
    limit = max(1, min(int(limit), 2000))
    if pattern:
        result = store.grep(sha, pattern, max(0, min(int(context), 20)), limit)
        head = f"# output {result.sha256[:12]}: {result.total_lines} lines; matching /{pattern}/"
    else:
        result = store.show(sha, lines, limit)
        head = f"# output {result.sha256[:12]}: {result.total_lines} lines" + (f"; lines {lines}" if lines else "")
    return head + "\n" + result.render()


def register_history_tools(mcp, workspace) -> None:
    """Add ``read_output`` to the server; ``workspace(ctx)`` gives the store directory."""

    @mcp.tool(name="read_output", annotations=READ_ONLY, structured_output=False)
    async def read_output_tool(
        sha: Annotated[str, Field(description="The sha256 (a prefix of 4+ hex digits) shown in a trimmed output's [ctxfold: cut ...] marker.")],
        ctx: Context,
        lines: Annotated[str | None, Field(description="A line range: '120-180' (1-based, inclusive), '120-', '-50' (the last 50) or '7'.")] = None,
        pattern: Annotated[str | None, Field(description="A regular expression: only the matching lines (with their numbers).")] = None,
        context: Annotated[int, Field(description="With pattern: lines of context around each match (0-20).")] = 0,
        limit: Annotated[int, Field(description="Most lines to return (1-2000).")] = 200,
    ) -> str:
        """Read back a tool output that ctxfold trimmed: the full text was kept, and the
        marker line of the trimmed output gives its sha256. Ask for a line range or the
        lines matching a regular expression, not the whole output."""
        from mcp_server.errors import CtxfoldError

        try:
            return read_output(workspace(ctx).store_dir, sha, lines, pattern, context, limit)
        except (CtxfoldError, ValueError) as exc:
            raise ToolError(str(exc)) from exc
