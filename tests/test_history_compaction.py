"""PreCompact distills the transcript into facts; SessionStart restores a budgeted block."""

from __future__ import annotations

import subprocess

import pytest

from indexers.tokens import count_tokens
from mcp_server.facts import FactStore
from mcp_server.history.distill import derive
from mcp_server.history.transcript import read_transcript
from tests.history_events import TranscriptWriter, base, hook

PYTEST_FAIL = "\n".join(
    ["============ test session starts ============", "collected 12 items", ""]
    + [f"tests/test_cart.py::test_{i} PASSED" for i in range(40)]
    + ["    def test_total():", ">       assert cart.total() == 30", "E       AssertionError: assert 27 == 30",
       "FAILED tests/test_cart.py::test_total - AssertionError: assert 27 == 30", "1 failed, 11 passed in 0.12s"]
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    repo = tmp_path / "shop"
    (repo / "shop").mkdir(parents=True)
    (repo / "shop" / "cart.py").write_text("def total(items):\n    return sum(items)\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_cart.py").write_text("def test_total():\n    assert True\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(repo))
    monkeypatch.delenv("CTXFOLD_STORE", raising=False)
    return repo


def session(project) -> TranscriptWriter:
    w = TranscriptWriter(project / "t.jsonl", cwd=project)
    w.user("Fix the cart total. Always run the tests with `pytest -x` before you say it works. "
           "<private>my token is hunter2 and never tell anyone</private> Thanks!")
    w.assistant("Let me run the tests first.")
    w.bash("pytest -x tests/test_cart.py", "Exit code 1\n" + PYTEST_FAIL, failed=True)
    w.todos([("Fix the discount rounding in total", "in_progress"), ("Add a test for empty carts", "pending")])
    w.assistant("The root cause is that total() drops the discount rounding; I'll use Decimal instead of float.")
    w.edit(str(project / "shop" / "cart.py"))
    w.bash("pytest -x tests/test_cart.py", "12 passed in 0.10s")
    w.user("Don't touch the public API of shop/cart.py.")
    return w


def test_heuristics_find_failures_edits_instructions_decisions_and_todos(project):
    facts = {d.key.split(":")[0]: d for d in derive(read_transcript(session(project).write()), project)}
    failure = facts["failure"]
    assert failure.fact.startswith("`pytest -x tests/test_cart.py` failed: FAILED tests/test_cart.py::test_total")
    assert "since fixed" in failure.fact and "after editing shop/cart.py" in failure.mitigation
    assert "output sha256" in failure.evidence and "step 1" in failure.evidence
    assert "tests/test_cart.py" in failure.about
    assert facts["edit"].fact.startswith("edited shop/cart.py this session: The root cause")
    assert facts["edit"].about == ["shop/cart.py"]
    instructions = [d for d in derive(read_transcript(project / "t.jsonl"), project) if d.type == "invariant"]
    assert [d.fact for d in instructions] == [
        "the user said: Always run the tests with `pytest -x` before you say it works.",
        "the user said: Don't touch the public API of shop/cart.py."]
    assert instructions[1].about == ["shop/cart.py"]
    assert "Decimal instead of float" in facts["decision"].fact
    assert facts["todo"].type == "todo"
    assert not any("hunter2" in (d.fact + str(d.evidence)) for d in derive(read_transcript(project / "t.jsonl"), project))


def test_pre_compact_records_facts_and_the_next_compaction_supersedes_them(project):
    w = session(project)
    t = w.write()
    assert hook("PreCompact", base("PreCompact", project, transcript=t) | {"trigger": "auto", "custom_instructions": ""}) is None
    store = FactStore(project / ".ctxfold")
    first = store.list()
    assert {f.type for f in first} == {"failure", "observation", "invariant", "decision", "todo"}
    failure = next(f for f in first if f.type == "failure")
    assert [a.path for a in failure.about] == ["tests/test_cart.py"] and failure.about[0].hash
    assert failure.confidence == 0.8 and failure.created_at

    # the same session goes on: the todo is done, the test fails again, another edit
    w.todos([("Fix the discount rounding in total", "completed"), ("Add a test for empty carts", "in_progress")])
    w.bash("pytest -x tests/test_cart.py", "Exit code 1\n" + PYTEST_FAIL.replace("27", "28"), failed=True)
    w.write()
    hook("PreCompact", base("PreCompact", project, transcript=t) | {"trigger": "manual", "custom_instructions": ""})
    store = FactStore(project / ".ctxfold")
    active = store.list()
    failures = [f for f in active if f.type == "failure"]
    assert len(failures) == 1 and failures[0].id == failure.id and failures[0].version == 2
    assert "assert 28 == 30" in failures[0].fact and "(2 times)" in failures[0].fact
    assert store.get(failure.id, 1).status == "superseded"
    todos = [f.fact for f in active if f.type == "todo"]
    assert todos == ["open todo (in progress): Add a test for empty carts"]
    assert len([f for f in active if f.type == "invariant"]) == 2  # unchanged, not duplicated


def test_session_start_after_compaction_restores_the_tiers_in_order_within_budget(project):
    t = session(project).write()
    hook("PreCompact", base("PreCompact", project, transcript=t) | {"trigger": "auto"})
    out = hook("SessionStart", base("SessionStart", project, transcript=t) | {"source": "compact"})
    text = out["hookSpecificOutput"]["additionalContext"]
    assert out["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    positions = [text.index(f"## L{i}") for i in range(4)]
    assert positions == sorted(positions)
    l0, l1, l2, l3 = (text[a:b] for a, b in zip(positions, positions[1:] + [len(text)]))
    assert "Always run the tests with `pytest -x`" in l0 and "conf 0.95" in l0
    assert "branch: main" in l1 and "shop/cart.py" in l1 and "open todo: Fix the discount rounding" in l1
    assert "Bash `pytest -x tests/test_cart.py` → failed: FAILED tests/test_cart.py::test_total" in l2
    assert "[failure f-" in l3 and "mitigation: passed again" in l3
    assert count_tokens(text) <= 2000 and len(text) <= 10000

    (project / "tests" / "test_cart.py").write_text("def test_total():\n    assert False\n")
    text = hook("SessionStart", base("SessionStart", project, transcript=t) | {"source": "resume"})["hookSpecificOutput"]["additionalContext"]
    assert "possibly stale" in text


def test_a_tier_that_does_not_fit_says_what_it_left_out(project):
    store = FactStore(project / ".ctxfold")
    for i in range(25):
        store.record(f"the invoice module rounds line {i} half-even, never half-up", "invariant", confidence=0.95)
        store.record(f"observed flaky network test number {i} under load", "observation", confidence=0.5)
    out = hook("SessionStart", base("SessionStart", project) | {"source": "startup"})
    text = out["hookSpecificOutput"]["additionalContext"]
    assert count_tokens(text) <= 2000 and len(text) <= 10000
    assert "(left out:" in text and "pinned facts" in text and "## L3" in text
    assert (project / ".ctxfold" / "history" / "facts_snapshot.json").exists()
    again = hook("SessionStart", base("SessionStart", project) | {"source": "startup"})
    assert again == out  # the snapshot answers as the fact table did


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_a_block_counts_as_the_sum_of_its_lines(encoding):
    import random

    from mcp_server.history.restore import norm

    rng = random.Random(5)
    alphabet = list("abcXYZ019 .,:;!?-_()[]{}'\"`/\\=+*#@$%&|<>~^") + ["é", "ß", "→", "—", "日本", "🙂", "  ", "'s", "'ll"]
    for _ in range(200):
        lines = [norm(rng.choice(["- ", "## ", "# ", "("]) + "".join(rng.choices(alphabet, k=rng.randint(1, 60))))
                 for _ in range(rng.randint(1, 12))]
        text = "\n".join(lines) + "\n"
        assert count_tokens(text, encoding) == sum(count_tokens(line + "\n", encoding) for line in lines), lines


def test_a_provider_rolling_summary_adds_validated_fact_tuples(project, monkeypatch):
    import json

    from llm_server import FakeLLMServer, answer

    good = {"facts": [
        {"type": "decision", "fact": "use Decimal for money in shop/cart.py", "confidence": 0.8, "about": ["shop/cart.py"],
         "evidence": "step 2", "mitigation": None},
        {"type": "poem", "fact": "roses are red", "confidence": 0.5},
        {"type": "failure", "fact": "the cart total test failed on rounding", "confidence": 7},
    ]}
    t = session(project).write()
    with FakeLLMServer(answer("Here you go:\n```json\n" + json.dumps(good) + "\n```")) as server:
        monkeypatch.setenv("CTXFOLD_HISTORY_PROVIDER", "anthropic")
        monkeypatch.setenv("CTXFOLD_HISTORY_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        hook("PreCompact", base("PreCompact", project, transcript=t) | {"trigger": "auto"})
        (request,) = server.requests
    assert "step 1 Bash pytest -x tests/test_cart.py → failed: FAILED tests/test_cart.py::test_total" in request.prompt
    assert "hunter2" not in json.dumps(request.body)
    facts = FactStore(project / ".ctxfold").list()
    decision = next(f for f in facts if f.fact == "use Decimal for money in shop/cart.py")
    assert decision.type == "decision" and decision.confidence == 0.8 and decision.about[0].path == "shop/cart.py"
    assert not any("roses" in f.fact or "rounding" == f.fact for f in facts)
    assert any(f.type == "failure" and f.fact.startswith("`pytest -x") for f in facts)  # the heuristics stand


def test_a_failing_provider_leaves_the_heuristic_facts(project, monkeypatch):
    from llm_server import FakeLLMServer, error

    t = session(project).write()
    with FakeLLMServer(default=error(400, "bad request")) as server:
        monkeypatch.setenv("CTXFOLD_HISTORY_PROVIDER", "anthropic")
        monkeypatch.setenv("CTXFOLD_HISTORY_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
        hook("PreCompact", base("PreCompact", project, transcript=t) | {"trigger": "auto"})
    facts = FactStore(project / ".ctxfold").list()
    assert {f.type for f in facts} >= {"failure", "invariant"}
