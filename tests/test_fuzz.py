"""Hostile calls, generated: every one is answered in time, none reads outside the
repository, and the server answers correctly afterwards."""

from __future__ import annotations

import os
import random
import time

import anyio
from mcp import Client

from indexers.tokens import count_tokens
from mcp_server.server import build_server
from mcp_server.settings import SETTINGS

CANARY = "CANARY-7f3a9c-outside-the-repository"
CALLS = 300
CALL_LIMIT = 20.0  # seconds for any one call
TOTAL_LIMIT = 240.0


def _atoms(outside: str) -> list:
    return [
        "", " ", "\x00", "\ud800", "x\udfffy", "../", "../../", "/etc/passwd", outside, "../outside/secret.py",
        "shop/leak.py", "shop/../../outside/secret.py", "loop", "loop/x.py", "pipe.py", "a" * 5000, "é" * 3000,
        "1-99999999999999999999", "0-0", "-5", "L1-L3", "9" * 5000, "💥" * 500, "%s%n{}", "\\", "```a\n" * 200,
        "<!--" * 500, "<details>", "- [ ] x\n" * 50, "#1234", "gh-12", "https://x.org/a/b/blob/main/shop/cart.py#L1",
        "/blob/" * 2000, "Cart.checkout", "shop/cart.py:Cart.total", "reserve", "\r\n" * 100, "\t\t", "null",
        "\u202e\u200f", "".join("0123456789abcdef"[i % 16] for i in range(20_000)), "a." * 5000, "_" * 10_000,
        "shop/cart.py", "shop", ".", ".ctxfold/manifest.json", ".git/config", "*", "?", "[a-", "(?:", "\x1b[31m",
    ]


def _values(rng: random.Random, atoms: list):
    return rng.choice([
        lambda: "".join(rng.choice(atoms) for _ in range(rng.randint(1, 3))),
        lambda: rng.choice(atoms),
        lambda: rng.choice([-1, 0, 1, 49, 50, 199, 200, 20_000, 20_001, 2**31, 2**63 - 1, -(2**63), 10**30]),
        lambda: rng.choice([None, [], {}, 1.5, True, [rng.choice(atoms)], {"a": rng.choice(atoms)}]),
    ])()


def _text(rng, atoms):
    return "".join(rng.choice(atoms) for _ in range(rng.randint(1, 3)))


def _call(rng: random.Random, atoms: list) -> tuple[str, dict]:
    hostile = lambda: _values(rng, atoms)  # noqa: E731
    text = lambda: _text(rng, atoms)  # noqa: E731
    tool = rng.choice(["recall", "fold_file", "search_symbols", "record_fact", "forget_fact"])
    if tool == "recall":
        args = {"task": text(), "budget": rng.choice([200, 500, 2000, SETTINGS.max_budget, hostile()]),
                "focus": rng.choice([None, [text()], [text(), text()], hostile()]), "format": rng.choice(["markdown", "json", hostile()])}
    elif tool == "fold_file":
        args = {"path": text(), "focus": rng.choice([None, text(), hostile()]), "budget": rng.choice([None, 60, 3000, hostile()])}
    elif tool == "search_symbols":
        args = {"query": text(), "kind": rng.choice([None, "function", hostile()]), "path": rng.choice([None, text()]),
                "limit": rng.choice([1, 20, 200, hostile()]), "offset": rng.choice([0, 5, hostile()])}
    elif tool == "record_fact":
        args = {"fact": text(), "type": rng.choice(["failure", "invariant", hostile()]),
                "about": rng.choice([None, [text()], hostile()]), "confidence": rng.choice([0.5, hostile()]),
                "evidence": rng.choice([None, text()])}
    else:
        args = {"id": text(), "reason": text()}
    if rng.random() < 0.3:  # drop or swap an argument
        key = rng.choice(list(args))
        if rng.random() < 0.5:
            del args[key]
        else:
            args[key] = hostile()
    return tool, args


def test_hostile_calls_are_answered_in_time_and_read_nothing_outside(pyshop, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.py"
    secret.write_text(f"def leak():\n    return '{CANARY}'\n")
    os.symlink(secret, pyshop / "shop/leak.py")
    os.symlink("loop", pyshop / "loop")
    os.mkfifo(pyshop / "pipe.py")
    atoms = _atoms(str(secret))
    rng = random.Random(20261208)
    server = build_server(pyshop)
    answered = errors = 0
    slowest = 0.0

    async def go():
        nonlocal answered, errors, slowest
        with anyio.fail_after(TOTAL_LIMIT):
            async with Client(server, mode="legacy") as client:
                for _ in range(CALLS):
                    tool, args = _call(rng, atoms)
                    started = time.monotonic()
                    with anyio.fail_after(CALL_LIMIT):
                        try:
                            result = await client.call_tool(tool, args)
                        except Exception as exc:  # a client-side refusal (an argument it cannot send) is an answer too
                            text, is_error = f"{type(exc).__name__}: {exc}", True
                        else:
                            text, is_error = "".join(getattr(c, "text", "") for c in result.content), result.is_error
                    slowest = max(slowest, time.monotonic() - started)
                    answered += 1
                    errors += bool(is_error)
                    assert CANARY not in text, (tool, args)
                    assert is_error or text.strip(), (tool, args)
                    if not is_error and tool == "recall" and isinstance(args.get("budget"), int):
                        assert count_tokens(text, SETTINGS.encoding) <= args["budget"], args
                # alive and correct afterwards
                hit = await client.call_tool("search_symbols", {"query": "reserve"})
                recalled = await client.call_tool("recall", {"task": "reserve stock for an order", "budget": 1500})
                return "".join(c.text for c in hit.content), "".join(c.text for c in recalled.content)

    hit, recalled = anyio.run(go)
    assert answered == CALLS
    assert 0 < errors < CALLS
    assert "shop/inventory.py:10-15" in hit
    assert "def reserve" in recalled and CANARY not in recalled
