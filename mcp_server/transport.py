"""stdio with a guard on what comes in: every request gets an answer.

The MCP SDK's stdio reader drops a line that its JSON parser rejects without a word: a
lone surrogate escape (``"\\ud800"``, which Python's own JSON reader accepts) or a line
that is not JSON leaves the client waiting for an answer that never comes. Here each
line is read first: lone surrogates in its strings become U+FFFD, and a line that is not
JSON at all is answered with a JSON-RPC parse error (with its ``id`` when one can be read
from it) instead of being passed on.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import asynccontextmanager

import anyio
from mcp import types
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage

log = logging.getLogger("ctxfold")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ID = re.compile(r'"id"\s*:\s*(-?\d{1,15}(?![\d.eE])|"(?:[^"\\]|\\.){0,200}")')


def _clean(value):
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


def guard_line(raw: bytes) -> tuple[str | None, types.JSONRPCError | None]:
    """One line from the client → (the line to pass on, None) or (None, the error to answer)."""
    text = raw.decode("utf-8", errors="replace")
    if not text.strip():
        return None, None
    try:
        message = json.loads(text)
    except ValueError as exc:
        request_id = None
        if m := _ID.search(text):
            try:
                request_id = json.loads(m.group(1))
            except ValueError:
                request_id = None
        error = types.ErrorData(code=-32700, message=f"parse error: the message is not valid JSON ({exc}); send one JSON-RPC message per line")
        return None, types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)
    if "\\ud" in text.lower():  # an escaped surrogate, maybe a lone one
        return json.dumps(_clean(message)) + "\n", None
    return text, None


class GuardedLines:
    """The client's lines, guarded (``guard_line``), as the SDK's stdio reader takes them."""

    def __init__(self, binary):
        self._file = anyio.wrap_file(binary)
        self.write_stream = None
        self.ready = anyio.Event()

    def __aiter__(self):
        return self._lines()

    async def _lines(self):
        while True:
            raw = await self._file.readline()
            if not raw:
                return
            line, error = guard_line(raw)
            if error is not None:
                log.warning("a line from the client is not a JSON-RPC message; answered with a %s", error.error.message)
                await self.ready.wait()
                await self.write_stream.send(SessionMessage(error))
            elif line is not None:
                yield line


def _divert_stdin() -> tuple[int, callable]:
    """Move the client's stdin to a private descriptor and put the null device on fd 0, so
    that children and stray reads never take the protocol's bytes."""
    private = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)

    def restore() -> None:
        os.dup2(private, 0)

    return private, restore


@asynccontextmanager
async def guarded_stdio():
    """``stdio_server`` with the guarded reader on the client's stdin."""
    private, restore = _divert_stdin()
    lines = GuardedLines(os.fdopen(private, "rb"))
    try:
        async with stdio_server(stdin=lines) as (read_stream, write_stream):
            lines.write_stream = write_stream
            lines.ready.set()
            yield read_stream, write_stream
    finally:
        restore()


async def run_stdio(server) -> None:
    """Serve ``server`` (an MCPServer) over the guarded stdio."""
    async with guarded_stdio() as (read_stream, write_stream):
        low = server._lowlevel_server  # MCPServer.run_stdio_async does the same with the plain stdio
        await low.run(read_stream, write_stream, low.create_initialization_options())
