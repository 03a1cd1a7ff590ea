"""The README documents every command and every tool, and opens with the two commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mcp import Client

from mcp_server.cli import build_parser
from mcp_server.server import build_server

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_command_is_documented():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:
        assert f"ctxfold {name}" in README, name


def test_every_tool_is_documented(tmp_path):
    async def names():
        async with Client(build_server(tmp_path), mode="legacy") as client:
            return [t.name for t in (await client.list_tools()).tools]

    for name in asyncio.run(names()):
        assert f"`{name}(" in README, name


def test_readme_opens_with_install_and_test_commands():
    blocks = README.split("```bash")[1:3]
    assert "pip install" in blocks[0] and "ctxfold index" in blocks[0]
    assert "python -m pytest" in blocks[1]


def test_the_first_screen_goes_from_install_to_setup():
    first = "\n".join(README.splitlines()[:30])
    assert "pip install" in first and "ctxfold setup" in first
    assert "pipx install ." in README and "uv tool install ." in README
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "CTXFOLD_HISTORY_PROVIDER"):
        assert variable in README, variable
