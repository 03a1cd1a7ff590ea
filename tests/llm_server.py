"""A scriptable stand-in for LLM APIs on 127.0.0.1, for tests of the real client code.

It speaks the Anthropic Messages format on ``/v1/messages`` and the OpenAI chat format on
``*/chat/completions``. Each request takes the next reply from the script (a ``Reply``, or
a function of the ``Received`` request that returns one); once the script is spent, the
``default`` answers. Every request is recorded with its headers and JSON body.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list: sent as JSON; str/bytes: sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (cut short when the server stops)


@dataclass
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any

    @property
    def api(self) -> str:
        return "anthropic" if self.path.endswith("/v1/messages") else "openai"

    @property
    def system(self) -> str:
        if self.api == "anthropic":
            return self.body.get("system", "")
        return next((m["content"] for m in self.body["messages"] if m["role"] == "system"), "")

    @property
    def prompt(self) -> str:
        return self.body["messages"][-1]["content"]


Script = Reply | Callable[[Received], Reply]


def text_reply(request: Received, text: str, input_tokens: int = 120, output_tokens: int = 30) -> Reply:
    """A successful answer carrying ``text``, in the format the request came in."""
    if request.api == "anthropic":
        return Reply(
            body={
                "id": "msg_test",
                "type": "message",
                "role": "assistant",
                "model": request.body.get("model", "claude-test") + "-20990101",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }
        )
    return Reply(
        body={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": request.body.get("model", "local-model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens},
        }
    )


def answer(text: str, **usage: int) -> Callable[[Received], Reply]:
    """A script step answering ``text`` in whichever format is asked."""
    return lambda request: text_reply(request, text, **usage)


def error(status: int, message: str = "", headers: dict[str, str] | None = None, kind: str = "api_error") -> Reply:
    return Reply(
        status=status,
        body={"type": "error", "error": {"type": kind, "message": message or f"status {status}"}},
        headers=headers or {},
    )


def ids_in(prompt: str) -> list[str]:
    """The symbol ids a prompt shows, in order (``[path:qualname]`` headers)."""
    return re.findall(r"^\[([^\]\s]+:[^\]\s]*)\]", prompt, re.MULTILINE)


class FakeLLMServer:
    def __init__(self, *script: Script, default: Script | None = None) -> None:
        self.script: list[Script] = list(script)
        self.default = default if default is not None else error(500, "the test script has no more replies")
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for one, and tests start many servers.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def push(self, *steps: Script) -> None:
        with self._lock:
            self.script.extend(steps)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=2)

    def _next(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            step = self.script.pop(0) if self.script else self.default
        return step(request) if callable(step) else step

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                reply = server._next(request)
                if reply.delay:
                    server._stopping.wait(reply.delay)
                if isinstance(reply.body, (dict, list)):
                    payload = json.dumps(reply.body).encode()
                    content_type = "application/json"
                else:
                    payload = reply.body if isinstance(reply.body, bytes) else str(reply.body or "").encode()
                    content_type = "text/plain"
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (the timeout tests)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler
