"""LLM providers: the real client code against a local fake API and a stand-in ``claude``."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
from llm_server import FakeLLMServer, Reply, answer, error

from indexers.providers import (
    PROVIDER_NAMES,
    AnthropicProvider,
    AuthError,
    ClaudeCliProvider,
    OpenAIProvider,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RetryPolicy,
    make_provider,
)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def anthropic(server: FakeLLMServer, fake_time: FakeTime, **kw) -> AnthropicProvider:
    kw.setdefault("api_key", "sk-test")
    kw.setdefault("retry", RetryPolicy(attempts=4, base_delay=1.0, deadline=120.0))
    return AnthropicProvider("claude-test", base_url=server.url, sleep=fake_time.sleep, clock=fake_time.clock, **kw)


# --- Anthropic ---------------------------------------------------------------------------


def test_anthropic_sends_a_messages_request_and_reads_text_and_usage(fake_time):
    with FakeLLMServer(answer('{"edges": []}', input_tokens=321, output_tokens=12)) as server:
        completion = anthropic(server, fake_time).complete("be brief", "hello", 256)

    assert completion.text == '{"edges": []}'
    assert (completion.input_tokens, completion.output_tokens) == (321, 12)
    assert completion.model == "claude-test-20990101"
    [request] = server.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == "sk-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "model": "claude-test",
        "max_tokens": 256,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hello"}],
    }


def test_anthropic_joins_text_blocks_and_counts_prompt_cache_tokens_as_input(fake_time):
    body = {
        "model": "claude-test",
        "content": [{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "x"}, {"type": "text", "text": "b"}],
        "usage": {"input_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 7, "output_tokens": 2},
    }
    with FakeLLMServer(Reply(body=body)) as server:
        completion = anthropic(server, fake_time).complete("s", "p", 10)
    assert completion.text == "ab"
    assert completion.input_tokens == 112


def test_a_missing_api_key_fails_before_any_request_and_names_the_variable(monkeypatch, fake_time):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with FakeLLMServer(answer("unused")) as server:
        provider = AnthropicProvider("claude-test", base_url=server.url, sleep=fake_time.sleep)
        with pytest.raises(AuthError, match="ANTHROPIC_API_KEY") as caught:
            provider.complete("s", "p", 10)
    assert "still run" in str(caught.value)  # heuristics do not need it
    assert server.requests == []


def test_the_api_key_comes_from_the_environment(monkeypatch, fake_time):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-from-env")
    with FakeLLMServer(answer("ok")) as server:
        AnthropicProvider("claude-test", base_url=server.url).complete("s", "p", 10)
    assert server.requests[0].headers["x-api-key"] == "sk-from-env"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_raises_auth_error_at_once(status, fake_time):
    with FakeLLMServer(error(status, "invalid x-api-key", kind="authentication_error")) as server:
        with pytest.raises(AuthError, match=rf"HTTP {status}.*invalid x-api-key.*ANTHROPIC_API_KEY"):
            anthropic(server, fake_time).complete("s", "p", 10)
    assert len(server.requests) == 1
    assert fake_time.sleeps == []


def test_429_waits_as_long_as_retry_after_says_then_succeeds(fake_time):
    with FakeLLMServer(error(429, "slow down", {"retry-after": "7"}), answer("fine")) as server:
        completion = anthropic(server, fake_time).complete("s", "p", 10)
    assert completion.text == "fine"
    assert fake_time.sleeps == [7.0]
    assert len(server.requests) == 2


def test_retry_after_is_capped(fake_time):
    with FakeLLMServer(error(429, "", {"retry-after": "3600"}), answer("fine")) as server:
        anthropic(server, fake_time, retry=RetryPolicy(max_retry_after=30.0, deadline=1000)).complete("s", "p", 10)
    assert fake_time.sleeps == [30.0]


def test_429_throughout_raises_rate_limited(fake_time):
    with FakeLLMServer(default=error(429, "rate_limit_error")) as server:
        with pytest.raises(RateLimited, match="4 attempts"):
            anthropic(server, fake_time).complete("s", "p", 10)
    assert len(server.requests) == 4


def test_an_exhausted_quota_is_not_retried(fake_time):
    body = {"error": {"message": "You exceeded your current quota.", "type": "insufficient_quota", "code": "insufficient_quota"}}
    with FakeLLMServer(default=Reply(status=429, body=body)) as server:
        provider = OpenAIProvider("m", base_url=server.url + "/v1", sleep=fake_time.sleep, clock=fake_time.clock)
        with pytest.raises(RateLimited, match="out of quota: You exceeded"):
            provider.complete("s", "p", 10)
    assert len(server.requests) == 1


def test_5xx_backs_off_exponentially_then_gives_up_as_unavailable(fake_time):
    with FakeLLMServer(default=error(529, "Overloaded", kind="overloaded_error")) as server:
        with pytest.raises(ProviderUnavailable, match=r"HTTP 529: Overloaded.*4 attempts"):
            anthropic(server, fake_time).complete("s", "p", 10)
    assert len(server.requests) == 4
    assert len(fake_time.sleeps) == 3
    # Equal jitter: each delay lies in [ceiling/2, ceiling] and the ceiling doubles.
    for delay, ceiling in zip(fake_time.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert ceiling / 2 <= delay <= ceiling


def test_a_500_then_success_is_transparent(fake_time):
    with FakeLLMServer(error(500), error(503), answer("ok")) as server:
        assert anthropic(server, fake_time).complete("s", "p", 10).text == "ok"
    assert len(server.requests) == 3


def test_the_total_deadline_stops_retrying_before_the_attempts_run_out(fake_time):
    policy = RetryPolicy(attempts=10, base_delay=8.0, max_delay=8.0, deadline=20.0)
    with FakeLLMServer(default=error(500)) as server:
        with pytest.raises(ProviderUnavailable):
            anthropic(server, fake_time, retry=policy).complete("s", "p", 10)
    assert sum(fake_time.sleeps) <= 20.0
    assert len(server.requests) < 10


def test_a_slow_server_times_out_and_is_retried_then_unavailable(fake_time):
    with FakeLLMServer(default=Reply(delay=1.5, body={"content": []})) as server:
        provider = anthropic(server, fake_time, timeout=0.2, retry=RetryPolicy(attempts=2))
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="within 0.2s"):
            provider.complete("s", "p", 10)
        assert time.monotonic() - started < 1.5
    assert len(server.requests) == 2


def test_an_unreachable_server_is_unavailable(fake_time):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = AnthropicProvider(
        "claude-test", api_key="k", base_url=f"http://127.0.0.1:{port}", sleep=fake_time.sleep, clock=fake_time.clock
    )
    with pytest.raises(ProviderUnavailable, match="cannot reach"):
        provider.complete("s", "p", 10)
    assert len(fake_time.sleeps) == 3


def test_a_bad_request_is_a_plain_provider_error_and_not_retried(fake_time):
    with FakeLLMServer(default=error(400, "max_tokens: too large", kind="invalid_request_error")) as server:
        with pytest.raises(ProviderError, match="HTTP 400.*max_tokens: too large") as caught:
            anthropic(server, fake_time).complete("s", "p", 10)
    assert type(caught.value) is ProviderError
    assert len(server.requests) == 1


def test_an_answer_that_is_not_json_is_a_provider_error(fake_time):
    with FakeLLMServer(Reply(body="<html>proxy error</html>")) as server:
        with pytest.raises(ProviderError, match="not JSON"):
            anthropic(server, fake_time).complete("s", "p", 10)


# --- OpenAI-compatible -------------------------------------------------------------------


def test_openai_sends_chat_completions_and_reads_the_first_choice(fake_time):
    with FakeLLMServer(answer("hi there", input_tokens=40, output_tokens=3)) as server:
        provider = OpenAIProvider("gpt-test", base_url=server.url + "/v1", api_key="sk-oa", sleep=fake_time.sleep)
        completion = provider.complete("sys", "user prompt", 64)

    assert (completion.text, completion.input_tokens, completion.output_tokens) == ("hi there", 40, 3)
    assert completion.model == "gpt-test"
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-oa"
    assert request.body == {
        "model": "gpt-test",
        "max_tokens": 64,
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "user prompt"}],
    }


def test_openai_on_this_machine_needs_no_key(monkeypatch, fake_time):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeLLMServer(answer("local")) as server:
        completion = OpenAIProvider("qwen2.5-coder:7b", base_url=server.url + "/v1").complete("s", "p", 10)
    assert completion.text == "local"
    assert "authorization" not in server.requests[0].headers


def test_openai_elsewhere_without_a_key_fails_before_any_request(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider = OpenAIProvider("gpt-test", base_url="https://api.openai.example/v1")
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        provider.check()
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        provider.complete("s", "p", 10)


def test_openai_401_names_its_variable(fake_time):
    with FakeLLMServer(Reply(status=401, body={"error": {"message": "Incorrect API key provided"}})) as server:
        provider = OpenAIProvider("m", base_url=server.url + "/v1", api_key="bad", sleep=fake_time.sleep)
        with pytest.raises(AuthError, match="Incorrect API key provided.*OPENAI_API_KEY"):
            provider.complete("s", "p", 10)


def test_openai_honours_retry_after_ms(fake_time):
    with FakeLLMServer(Reply(status=429, body={"error": {"message": "rl"}}, headers={"retry-after-ms": "1500"}), answer("ok")) as server:
        provider = OpenAIProvider("m", base_url=server.url + "/v1", sleep=fake_time.sleep, clock=fake_time.clock)
        assert provider.complete("s", "p", 10).text == "ok"
    assert fake_time.sleeps == [1.5]


def test_openai_answer_without_choices_is_a_provider_error(fake_time):
    with FakeLLMServer(Reply(body={"object": "chat.completion"})) as server:
        provider = OpenAIProvider("m", base_url=server.url + "/v1", sleep=fake_time.sleep)
        with pytest.raises(ProviderError, match="choices"):
            provider.complete("s", "p", 10)


# --- claude CLI --------------------------------------------------------------------------

FAKE_CLAUDE = """\
#!{python}
import json, os, sys
log = os.environ["FAKE_CLAUDE_LOG"]
with open(log, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd(),
                        "max_tokens": os.environ.get("CLAUDE_CODE_MAX_OUTPUT_TOKENS")}}) + "\\n")
replies = json.load(open(os.environ["FAKE_CLAUDE_REPLIES"]))
n = sum(1 for _ in open(log)) - 1
reply = replies[min(n, len(replies) - 1)]
sys.stdout.write(reply["stdout"] if isinstance(reply["stdout"], str) else json.dumps(reply["stdout"]))
sys.stderr.write(reply.get("stderr", ""))
sys.exit(reply.get("code", 0))
"""


def result_json(text: str, **extra) -> dict:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": False,
        "duration_ms": 1200,
        "num_turns": 1,
        "result": text,
        "session_id": "0e639165-79b1-4bd4-bb0f-4cb4c15115d4",
        "total_cost_usd": 0.001,
        "usage": {"input_tokens": 30, "cache_read_input_tokens": 70, "output_tokens": 9},
        "modelUsage": {"claude-sonnet-test": {"inputTokens": 100, "outputTokens": 9}},
        **extra,
    }


@pytest.fixture
def fake_claude(tmp_path, monkeypatch):
    """A ``claude`` first on PATH that records its calls and prints scripted output."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "claude"
    exe.write_text(FAKE_CLAUDE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log, replies = tmp_path / "calls.jsonl", tmp_path / "replies.json"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_CLAUDE_LOG", str(log))
    monkeypatch.setenv("FAKE_CLAUDE_REPLIES", str(replies))

    class Fake:
        def script(self, *replies_: dict) -> None:
            replies.write_text(json.dumps(list(replies_)))

        @property
        def calls(self) -> list[dict]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return Fake()


def test_claude_cli_runs_headless_with_the_prompt_on_stdin(fake_claude, fake_time):
    fake_claude.script({"stdout": result_json('{"edges": []}')})
    provider = ClaudeCliProvider(model="sonnet", sleep=fake_time.sleep)
    completion = provider.complete("the system prompt", "the user prompt", 777)

    assert completion.text == '{"edges": []}'
    assert (completion.input_tokens, completion.output_tokens) == (100, 9)
    assert completion.model == "claude-sonnet-test"
    [call] = fake_claude.calls
    argv = call["argv"]
    assert argv[:3] == ["-p", "--output-format", "json"]
    assert argv[argv.index("--system-prompt") + 1] == "the system prompt"
    assert argv[argv.index("--tools") + 1] == ""
    assert argv[argv.index("--model") + 1] == "sonnet"
    assert call["stdin"] == "the user prompt"
    assert call["max_tokens"] == "777"
    assert call["cwd"] != os.getcwd()  # not inside the repository, away from its hooks


def test_claude_cli_without_a_model_uses_the_cli_default(fake_claude):
    fake_claude.script({"stdout": result_json("x")})
    provider = ClaudeCliProvider()
    provider.complete("s", "p", 10)
    assert "--model" not in fake_claude.calls[0]["argv"]
    assert provider.model == "default"


def test_claude_cli_not_logged_in_is_an_auth_error(fake_claude, fake_time):
    fake_claude.script(
        {"stdout": result_json("Invalid API key · Please run /login", is_error=True, subtype="success"), "code": 1}
    )
    with pytest.raises(AuthError, match="log in"):
        ClaudeCliProvider(sleep=fake_time.sleep).complete("s", "p", 10)
    assert len(fake_claude.calls) == 1


def test_claude_cli_overloaded_is_retried(fake_claude, fake_time):
    fake_claude.script(
        {"stdout": result_json("API Error: 529 Overloaded", is_error=True), "code": 1},
        {"stdout": result_json("ok")},
    )
    completion = ClaudeCliProvider(sleep=fake_time.sleep, clock=fake_time.clock).complete("s", "p", 10)
    assert completion.text == "ok"
    assert len(fake_claude.calls) == 2


def test_claude_cli_output_that_is_not_json_is_unavailable(fake_claude, fake_time):
    fake_claude.script({"stdout": "Segmentation fault", "stderr": "boom", "code": 139})
    with pytest.raises(ProviderUnavailable, match="status 139.*boom"):
        ClaudeCliProvider(sleep=fake_time.sleep).complete("s", "p", 10)


def test_claude_cli_verbose_event_list_is_read_from_its_result_event(fake_claude):
    fake_claude.script({"stdout": [{"type": "system", "subtype": "init"}, result_json("from events")]})
    assert ClaudeCliProvider().complete("s", "p", 10).text == "from events"


def test_claude_cli_missing_executable_is_unavailable_without_retrying(tmp_path, fake_time):
    provider = ClaudeCliProvider(executable=str(tmp_path / "no-such-claude"), sleep=fake_time.sleep)
    with pytest.raises(ProviderUnavailable, match="not on PATH"):
        provider.complete("s", "p", 10)
    assert fake_time.sleeps == []


def test_claude_cli_that_hangs_times_out(tmp_path, monkeypatch, fake_time):
    exe = tmp_path / "claude"
    exe.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(5)\n")
    exe.chmod(0o755)
    provider = ClaudeCliProvider(executable=str(exe), timeout=0.3, retry=RetryPolicy(attempts=1), sleep=fake_time.sleep)
    with pytest.raises(ProviderUnavailable, match="within 0.3s"):
        provider.complete("s", "p", 10)


# --- make_provider -----------------------------------------------------------------------


def test_make_provider_knows_three_names(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert PROVIDER_NAMES == ("anthropic", "openai", "claude-cli")
    anthropic_ = make_provider("anthropic")
    assert (anthropic_.name, anthropic_.model) == ("anthropic", "claude-haiku-4-5")
    ollama = make_provider("openai", "qwen2.5-coder:7b", "http://localhost:11434/v1")
    assert (ollama.name, ollama.model, ollama.base_url) == ("openai", "qwen2.5-coder:7b", "http://localhost:11434/v1")
    ollama.check()  # local: no key needed
    cli = make_provider("claude-cli", "opus")
    assert (cli.name, cli.model) == ("claude-cli", "opus")


def test_make_provider_rejects_unknown_names_listing_the_known_ones():
    with pytest.raises(ProviderError, match="'gemini'.*anthropic, openai, claude-cli"):
        make_provider("gemini")


def test_make_provider_openai_needs_a_model():
    with pytest.raises(ProviderError, match="needs a model"):
        make_provider("openai", base_url="http://localhost:11434/v1")


def test_provider_options_reach_the_constructor(tmp_path: Path):
    provider = make_provider("claude-cli", executable=str(tmp_path / "claude"), timeout=5)
    assert isinstance(provider, ClaudeCliProvider)
    assert provider.timeout == 5
