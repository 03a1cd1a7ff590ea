"""A loopback stand-in of the Anthropic Messages API for driving the real Claude Code CLI.

It answers ``POST /v1/messages`` (streamed as server-sent events when asked, as Claude
Code does) and ``/v1/messages/count_tokens``. The main conversation (a request that
offers tools) gets the scripted tool calls one per turn, then a closing text; any other
request (titles, summaries for compaction) gets ``summary``. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _sse(blocks: list[dict], stop: str) -> bytes:
    out = []

    def ev(name: str, data: dict) -> None:
        out.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")

    ev("message_start", {"type": "message_start", "message": {
        "id": "msg_stand_in", "type": "message", "role": "assistant", "model": "claude-stand-in", "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 10, "output_tokens": 1}}})
    for i, b in enumerate(blocks):
        if b["type"] == "text":
            ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}})
            ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": b["text"]}})
        else:
            ev("content_block_start", {"type": "content_block_start", "index": i, "content_block": {
                "type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}})
            ev("content_block_delta", {"type": "content_block_delta", "index": i, "delta": {
                "type": "input_json_delta", "partial_json": json.dumps(b["input"])}})
        ev("content_block_stop", {"type": "content_block_stop", "index": i})
    ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}})
    ev("message_stop", {"type": "message_stop"})
    return "".join(out).encode()


class AnthropicStandIn:
    def __init__(self, commands: list[str], summary: str = "The session ran the scripted commands.") -> None:
        self.commands = commands
        self.summary = summary
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> AnthropicStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reply(self, body: dict) -> tuple[list[dict], str]:
        messages = body.get("messages") or []
        if not body.get("tools"):
            return [{"type": "text", "text": self.summary}], "end_turn"
        done = sum(1 for m in messages if isinstance(m.get("content"), list)
                   for c in m["content"] if isinstance(c, dict) and c.get("type") == "tool_result")
        last = messages[-1] if messages else {}
        answered_last = isinstance(last.get("content"), list) and any(
            isinstance(c, dict) and c.get("type") == "tool_result" for c in last["content"])
        if done < len(self.commands) and (answered_last or done == 0):
            return [{"type": "tool_use", "id": f"toolu_stand_in_{done}", "name": "Bash",
                     "input": {"command": self.commands[done], "description": "scripted"}}], "tool_use"
        return [{"type": "text", "text": "Done."}], "end_turn"

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, data: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                n = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer._lock:
                    outer.requests.append({"path": self.path, "body": body})
                if "count_tokens" in self.path:
                    return self._send(200, b'{"input_tokens": 100}', "application/json")
                if not self.path.startswith("/v1/messages"):
                    return self._send(404, b"{}", "application/json")
                blocks, stop = outer.reply(body)
                if body.get("stream"):
                    return self._send(200, _sse(blocks, stop), "text/event-stream")
                data = {"id": "msg_stand_in", "type": "message", "role": "assistant", "model": "claude-stand-in",
                        "content": blocks, "stop_reason": stop, "stop_sequence": None,
                        "usage": {"input_tokens": 10, "output_tokens": 5}}
                return self._send(200, json.dumps(data).encode(), "application/json")

            def do_GET(self) -> None:  # noqa: N802
                self._send(404, b"{}", "application/json")

        return Handler
