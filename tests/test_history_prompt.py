"""UserPromptSubmit: facts and code for the prompt, within a hard time bound, or nothing."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from mcp_server.history.prompt import user_prompt_submit
from mcp_server.history.settings import SETTINGS
from tests.history_events import base, hook


@pytest.fixture
def indexed(with_facts):
    from indexers.build import Indexer

    Indexer(with_facts, with_facts / ".ctxfold").update()
    return with_facts


@pytest.fixture
def with_facts(pyshop, monkeypatch):
    from mcp_server.facts import FactStore
    from mcp_server.history.distill import write_snapshot

    store_dir = pyshop / ".ctxfold"
    store = FactStore(store_dir)
    store.record("checkout must apply the discount before tax", "invariant", confidence=0.7)
    store.record("the shipping table is cached for an hour", "observation", confidence=0.6)
    write_snapshot(store, store_dir)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(pyshop))
    return pyshop


def test_a_prompt_gets_the_facts_it_names_within_the_bound(with_facts):
    started = time.monotonic()
    out = hook("UserPromptSubmit", base("UserPromptSubmit", with_facts) | {"prompt": "why does checkout apply the discount twice?"})
    assert time.monotonic() - started < SETTINGS.prompt_timeout_s + 1
    text = out["hookSpecificOutput"]["additionalContext"]
    assert out["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert "checkout must apply the discount before tax" in text and "shipping table" not in text


def test_with_an_index_and_time_enough_the_code_comes_too(indexed):
    patient = replace(SETTINGS, prompt_timeout_s=60.0)
    payload = base("UserPromptSubmit", indexed) | {"prompt": "how is the checkout total computed with a discount?"}
    text = user_prompt_submit(payload, indexed / ".ctxfold", indexed, patient)["hookSpecificOutput"]["additionalContext"]
    assert "checkout must apply the discount" in text and "def " in text
    from indexers.tokens import count_tokens

    assert count_tokens(text) <= SETTINGS.prompt_budget


def test_past_the_bound_nothing_is_injected(with_facts):
    late = replace(SETTINGS, prompt_timeout_s=0.0)
    payload = base("UserPromptSubmit", with_facts) | {"prompt": "why does checkout apply the discount twice?"}
    assert user_prompt_submit(payload, with_facts / ".ctxfold", with_facts, late) is None


def test_private_text_and_slash_commands_are_not_looked_up(with_facts):
    payload = base("UserPromptSubmit", with_facts)
    assert user_prompt_submit(payload | {"prompt": "/compact"}, with_facts / ".ctxfold", with_facts, code=False) is None
    assert user_prompt_submit(payload | {"prompt": "<private>checkout discount tax</private> hello there"},
                              with_facts / ".ctxfold", with_facts, code=False) is None
