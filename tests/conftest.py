"""Shared fixtures: copies of fixture repositories, so tests never write into fixtures/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture
def pyshop(tmp_path) -> Path:
    repo = tmp_path / "pyshop"
    shutil.copytree(FIXTURES / "pyshop", repo)
    return repo


@pytest.fixture
def workspace(pyshop):
    from mcp_server.workspace import Workspace

    ws = Workspace(pyshop)
    ws.refresh()
    return ws


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", default=False,
                     help="rewrite tests/goldens/ from what the code renders now (review the diff)")


@pytest.fixture
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")
