"""LLM providers for offline enrichment: one small interface, three ways to reach a model.

- ``AnthropicProvider``: the Anthropic Messages API (``ANTHROPIC_API_KEY``).
- ``OpenAIProvider``: any OpenAI-compatible chat-completions endpoint: OpenAI itself, or a
  local Ollama / vLLM / llama.cpp server (``--base-url http://localhost:11434/v1``), which
  needs no key.
- ``ClaudeCliProvider``: the user's own ``claude`` CLI in headless mode (``claude -p
  --output-format json``), so a Claude Code subscription works without an API key.

Only the standard library speaks HTTP here (``urllib.request``): enrichment runs rarely and
offline, and one more client dependency is not worth it.

Transient faults (timeouts, connection errors, HTTP 408/429/5xx, a CLI that timed out) are
retried with exponential backoff and jitter, within a bounded number of attempts and a total
deadline; ``Retry-After`` is honoured up to a cap. What is left is raised as a
``ProviderError``: ``AuthError`` (fix the key), ``RateLimited`` or ``ProviderUnavailable``
(try later), or the base class for a request the provider refused.
"""

from __future__ import annotations

import email.utils
import http.client
import ipaddress
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from indexers.errors import CtxfoldError

T = TypeVar("T")

PROVIDER_NAMES = ("anthropic", "openai", "claude-cli")
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
OPENAI_BASE_URL = "https://api.openai.com/v1"

_HEURISTICS_NOTE = "heuristic semantic edges (co-change, shared literals) need no LLM and still run"


# --- errors ------------------------------------------------------------------------------


class ProviderError(CtxfoldError):
    """An LLM provider could not answer. The base class is a refused request (HTTP 400/404,
    an answer in an unexpected shape); the subclasses are the faults that make every later
    request fail too."""


class ProviderUnavailable(ProviderError):
    """Unreachable, timing out or failing (5xx) throughout its retries, or not installed."""


class RateLimited(ProviderError):
    """Still rate limited (HTTP 429) after its retries, or out of quota."""


class AuthError(ProviderError):
    """No API key, or the key was refused (HTTP 401/403)."""


class _Transient(Exception):
    """One attempt failed in a way that may pass; internal to the retry loop."""

    def __init__(self, message: str, *, rate_limited: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.rate_limited = rate_limited
        self.retry_after = retry_after


# --- the interface -----------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    model: str  # the model that answered, as the provider names it


@dataclass(frozen=True)
class RetryPolicy:
    """How long one ``complete`` call keeps trying. Delays are in seconds."""

    attempts: int = 4  # tries in all, the first included
    base_delay: float = 1.0  # first backoff; doubles each time, with jitter
    max_delay: float = 20.0  # cap on one backoff
    max_retry_after: float = 60.0  # cap on a server's Retry-After
    deadline: float = 180.0  # no new attempt once this much time has passed since the first

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number ``retry`` (1-based): exponential, with "equal jitter"
        so that parallel clients spread out but never retry immediately."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Provider(ABC):
    """Sends one system + user prompt to a model and returns its text answer.

    ``sleep`` and ``clock`` are the retry loop's view of time; tests pass fakes so that
    backoff costs nothing.
    """

    name: str = ""
    model: str = ""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = random.Random()

    @abstractmethod
    def complete(self, system: str, prompt: str, max_tokens: int) -> Completion:
        """One answer, after retries; raises a ``ProviderError`` subclass on failure."""

    def check(self) -> None:
        """Raise ``AuthError`` / ``ProviderUnavailable`` now if no request can succeed for
        want of configuration (no key, no executable). Sends nothing."""

    def _with_retries(self, attempt: Callable[[], T]) -> T:
        policy = self.retry
        start = self._clock()
        tries = 0
        while True:
            tries += 1
            try:
                return attempt()
            except _Transient as exc:
                last = exc
            if tries >= policy.attempts:
                break
            if last.retry_after is not None:
                delay = min(max(last.retry_after, 0.0), policy.max_retry_after)
            else:
                delay = policy.backoff(tries, self._rng)
            if self._clock() - start + delay > policy.deadline:
                break
            self._sleep(delay)
        elapsed = self._clock() - start
        what = f"{self.name} ({self.model})"
        summary = f"{last} (gave up after {tries} attempt{'s' if tries > 1 else ''} in {elapsed:.0f}s)"
        if last.rate_limited:
            raise RateLimited(f"{what} is rate limiting requests: {summary}; try again later") from last
        raise ProviderUnavailable(f"{what} is unavailable: {summary}") from last


# --- HTTP providers ----------------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``retry-after`` (seconds or an
    HTTP date), or None when the server said nothing usable."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _error_message(body: bytes) -> str:
    """The human part of an API error body: ``{"error": {"message": ...}}`` in both APIs."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:300]
    if isinstance(error, str):
        return error[:300]
    return " ".join(text.split())[:300]


# 429s that waiting a minute will not cure: the account is out of credit or over its cap.
_QUOTA_MARKERS = ("insufficient_quota", "spend_limit", "credit balance", "billing")


class _HttpProvider(Provider):
    env_var = ""

    def __init__(self, model: str, base_url: str, api_key: str | None, timeout: float, **retry_kw: Any):
        super().__init__(**retry_kw)
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(self.env_var) or None
        self.timeout = timeout
        # A local Ollama or vLLM must not be sent through $http_proxy (urllib's default).
        handlers = [urllib.request.ProxyHandler({})] if _is_loopback(self.base_url) else []
        self._opener = urllib.request.build_opener(*handlers)

    def _missing_key(self) -> AuthError:
        return AuthError(
            f"{self.name} needs an API key: set {self.env_var} (or choose --provider "
            f"claude-cli, or an OpenAI-compatible local server); {_HEURISTICS_NOTE}"
        )

    def _post(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        return self._with_retries(lambda: self._post_once(url, headers, body))

    def _post_once(self, url: str, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode("utf-8"),
            headers={"content-type": "application/json", "accept": "application/json", **headers},
            method="POST",
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._status_error(exc.code, exc.read() if exc.fp else b"", exc.headers) from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Transient(f"no answer from {url} within {self.timeout:g}s") from exc
            raise _Transient(f"cannot reach {url}: {exc.reason}") from exc
        except TimeoutError as exc:  # the connection opened, the answer did not come in time
            raise _Transient(f"no answer from {url} within {self.timeout:g}s") from exc
        except (OSError, http.client.HTTPException) as exc:  # reset, refused mid-way, TLS
            raise _Transient(f"connection to {url} failed: {exc!r}") from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ProviderError(
                f"{self.name} at {url} answered with something that is not JSON: {raw[:200]!r}"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderError(f"{self.name} at {url} answered with unexpected JSON: {raw[:200]!r}")
        return data

    def _status_error(self, status: int, body: bytes, headers: Any) -> Exception:
        message = _error_message(body)
        if status in (401, 403):
            return AuthError(
                f"{self.name} refused the API key (HTTP {status}: {message}); check {self.env_var} "
                f"({_HEURISTICS_NOTE})"
            )
        if status == 429:
            if any(marker in body.decode("utf-8", "replace").lower() for marker in _QUOTA_MARKERS):
                return RateLimited(f"{self.name} ({self.model}) is out of quota: {message}")
            return _Transient(f"HTTP 429: {message}", rate_limited=True, retry_after=_retry_after(headers))
        if status == 408 or status >= 500:
            return _Transient(f"HTTP {status}: {message}", retry_after=_retry_after(headers))
        return ProviderError(f"{self.name} ({self.model}) refused the request (HTTP {status}): {message}")


class AnthropicProvider(_HttpProvider):
    """The Anthropic Messages API: ``POST {base_url}/v1/messages``."""

    name = "anthropic"
    env_var = "ANTHROPIC_API_KEY"

    def __init__(
        self,
        model: str = DEFAULT_ANTHROPIC_MODEL,
        api_key: str | None = None,
        base_url: str = ANTHROPIC_BASE_URL,
        timeout: float = 120.0,
        **retry_kw: Any,
    ) -> None:
        super().__init__(model, base_url, api_key, timeout, **retry_kw)

    def check(self) -> None:
        if not self.api_key:
            raise self._missing_key()

    def complete(self, system: str, prompt: str, max_tokens: int) -> Completion:
        self.check()
        data = self._post(
            f"{self.base_url}/v1/messages",
            {"x-api-key": self.api_key or "", "anthropic-version": ANTHROPIC_VERSION},
            {
                "model": self.model,
                "max_tokens": max_tokens,
                "system": system,
                "messages": [{"role": "user", "content": prompt}],
            },
        )
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderError(f"anthropic answered without a content list: {str(data)[:200]}")
        text = "".join(
            str(block.get("text", "")) for block in content if isinstance(block, dict) and block.get("type") == "text"
        )
        usage = data.get("usage") or {}
        # Prompt-cache reads and writes are input too; input_tokens alone leaves them out.
        input_tokens = sum(
            int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return Completion(text, input_tokens, int(usage.get("output_tokens") or 0), str(data.get("model") or self.model))


class OpenAIProvider(_HttpProvider):
    """An OpenAI-compatible chat-completions endpoint: ``POST {base_url}/chat/completions``.

    A server on this machine (Ollama, vLLM, llama.cpp) needs no key; any other host does.
    """

    name = "openai"
    env_var = "OPENAI_API_KEY"

    def __init__(
        self,
        model: str,
        base_url: str = OPENAI_BASE_URL,
        api_key: str | None = None,
        timeout: float = 120.0,
        **retry_kw: Any,
    ) -> None:
        super().__init__(model, base_url, api_key, timeout, **retry_kw)

    def check(self) -> None:
        if not self.api_key and not _is_loopback(self.base_url):
            raise AuthError(
                f"openai at {self.base_url} needs an API key: set OPENAI_API_KEY (any value for a "
                f"server that does not check it), or point --base-url at a local server such as "
                f"http://localhost:11434/v1; {_HEURISTICS_NOTE}"
            )

    def complete(self, system: str, prompt: str, max_tokens: int) -> Completion:
        self.check()
        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        data = self._post(
            f"{self.base_url}/chat/completions",
            headers,
            {
                "model": self.model,
                "max_tokens": max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            },
        )
        try:
            message = data["choices"][0]["message"]
            text = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"openai at {self.base_url} answered without choices[0].message: {str(data)[:200]}") from exc
        usage = data.get("usage") or {}
        return Completion(
            str(text),
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            str(data.get("model") or self.model),
        )


# --- the claude CLI ----------------------------------------------------------------------

_CLI_AUTH_MARKERS = ("invalid api key", "/login", "not logged in", "authentication", "oauth")
_CLI_RATE_MARKERS = ("rate limit", "usage limit", "limit reached", "429")
_CLI_TRANSIENT_MARKERS = ("overloaded", "529", "500", "503", "timed out", "timeout", "econnreset", "network")


class ClaudeCliProvider(Provider):
    """The user's ``claude`` CLI in headless mode: ``claude -p --output-format json``, with
    the prompt on stdin and the answer in the JSON's ``result`` field. No API key needed:
    it uses whatever login Claude Code has."""

    name = "claude-cli"

    def __init__(
        self,
        model: str | None = None,
        executable: str = "claude",
        timeout: float = 300.0,
        **retry_kw: Any,
    ) -> None:
        super().__init__(**retry_kw)
        self.requested_model = model
        self.model = model or "default"
        self.executable = executable
        self.timeout = timeout

    def command(self, system: str) -> list[str]:
        command = [
            self.executable,
            "-p",
            "--output-format",
            "json",
            # Replace Claude Code's agent prompt: this is a plain question, not a coding session.
            "--system-prompt",
            system,
            # No tools: the answer must come from the prompt, not from reading the repository.
            "--tools",
            "",
        ]
        if self.requested_model:
            command += ["--model", self.requested_model]
        return command

    def check(self) -> None:
        if shutil.which(self.executable) is None:
            raise ProviderUnavailable(
                f"the claude CLI ({self.executable!r}) is not on PATH: install Claude Code, or choose "
                f"--provider anthropic or openai; {_HEURISTICS_NOTE}"
            )

    def complete(self, system: str, prompt: str, max_tokens: int) -> Completion:
        self.check()
        return self._with_retries(lambda: self._run_once(system, prompt, max_tokens))

    def _run_once(self, system: str, prompt: str, max_tokens: int) -> Completion:
        env = dict(os.environ, CLAUDE_CODE_MAX_OUTPUT_TOKENS=str(max_tokens))
        # A neutral working directory: the repository's own CLAUDE.md, settings and hooks
        # (ctxfold's among them) have no business in this request.
        with tempfile.TemporaryDirectory(prefix="ctxfold-claude-") as cwd:
            try:
                done = subprocess.run(
                    self.command(system),
                    input=prompt,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    cwd=cwd,
                    env=env,
                )
            except OSError as exc:  # not found, not executable
                raise ProviderUnavailable(f"the claude CLI ({self.executable!r}) could not be run: {exc}") from exc
            except subprocess.TimeoutExpired as exc:
                raise _Transient(f"claude -p gave no answer within {self.timeout:g}s") from exc
        result = self._parse(done.stdout)
        if result is None:
            detail = " ".join((done.stderr or done.stdout or "").split())[-300:]
            self._classify(detail, f"claude -p exited with status {done.returncode} without a JSON result: {detail}")
            raise ProviderUnavailable(
                f"claude -p exited with status {done.returncode} without a JSON result: {detail or '(no output)'}"
            )
        text = str(result.get("result") or "")
        if result.get("is_error") or done.returncode != 0:
            message = f"claude -p reported an error ({result.get('subtype', 'error')}): {text[:300]}"
            self._classify(text, message)
            raise ProviderError(message)
        usage = result.get("usage") or {}
        input_tokens = sum(
            int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        models = result.get("modelUsage")
        model = next(iter(models), self.model) if isinstance(models, dict) and models else self.model
        return Completion(text, input_tokens, int(usage.get("output_tokens") or 0), str(model))

    @staticmethod
    def _parse(stdout: str) -> dict[str, Any] | None:
        """The result object: one JSON object, or (with --verbose) a list of events whose
        last ``result`` event is the answer."""
        try:
            data = json.loads(stdout)
        except ValueError:
            return None
        if isinstance(data, list):
            results = [event for event in data if isinstance(event, dict) and event.get("type") == "result"]
            return results[-1] if results else None
        return data if isinstance(data, dict) else None

    def _classify(self, text: str, message: str) -> None:
        lowered = text.lower()
        if any(marker in lowered for marker in _CLI_AUTH_MARKERS):
            raise AuthError(f"{message}; run `claude` once and log in ({_HEURISTICS_NOTE})")
        if any(marker in lowered for marker in _CLI_RATE_MARKERS):
            raise _Transient(message, rate_limited=True)
        if any(marker in lowered for marker in _CLI_TRANSIENT_MARKERS):
            raise _Transient(message)


# --- choosing one ------------------------------------------------------------------------


def make_provider(name: str, model: str | None = None, base_url: str | None = None, **options: Any) -> Provider:
    """The provider called ``name`` (one of ``PROVIDER_NAMES``). ``options`` go to its
    constructor (``timeout``, ``api_key``, ``retry``, ``sleep``...)."""
    if name == "anthropic":
        return AnthropicProvider(model or DEFAULT_ANTHROPIC_MODEL, base_url=base_url or ANTHROPIC_BASE_URL, **options)
    if name == "openai":
        if not model:
            raise ProviderError(
                "the openai provider needs a model name, e.g. --model gpt-4o-mini, or for a local "
                "Ollama --model qwen2.5-coder:7b --base-url http://localhost:11434/v1"
            )
        return OpenAIProvider(model, base_url=base_url or OPENAI_BASE_URL, **options)
    if name == "claude-cli":
        if base_url:
            raise ProviderError(f"the claude-cli provider takes no base URL (got {base_url!r})")
        return ClaudeCliProvider(model, **options)
    raise ProviderError(f"unknown LLM provider {name!r}; choose one of: {', '.join(PROVIDER_NAMES)}")


_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)


def json_in_answer(text: str, key: str) -> list[Any]:
    """The JSON values a model's answer holds, likeliest first: the whole answer, if it is
    JSON; else each ```fenced block, then each object or list found in the prose, up to the
    first object that has ``key``."""
    stripped = text.strip()
    try:
        return [json.loads(stripped)]
    except ValueError:
        pass
    values: list[Any] = []
    for match in _FENCE.finditer(stripped):
        try:
            values.append(json.loads(match.group(1)))
        except ValueError:
            continue
    decoder = json.JSONDecoder()
    for match in re.finditer(r"[{\[]", stripped):
        try:
            value, _ = decoder.raw_decode(stripped, match.start())
        except ValueError:
            continue
        values.append(value)
        if isinstance(value, dict) and key in value:
            break
    return values
