"""What survives a compaction: ``python -m benchmarks.compaction_survival [--sessions N] [--budget T]``.

Generated sessions (``benchmarks/history_transcripts.py``) carry known key facts: failed
commands that were never fixed (the command and its error line), the files edited, and
one standing instruction of the user's. Each session is distilled (PreCompact, heuristics,
no model) and restored (SessionStart after compaction, ``--budget`` tokens, default
2,000); a key fact survives when the block holds it: a failure, its command and its error
line; an edit, the file's path; the instruction, its text. The baseline keeps the last
transcript messages (prompts, replies, tool calls and results, rendered as text) that fit
in the same budget, which is what a context cut to its tail keeps.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.history_transcripts import Session, make_session
from indexers.tokens import count_tokens


def naive_tail(transcript: Path, budget: int) -> str:
    """The last messages of the transcript, as text, that fit in ``budget`` tokens."""
    parts: list[str] = []
    for raw in transcript.read_text().splitlines():
        ev = json.loads(raw)
        content = (ev.get("message") or {}).get("content")
        if isinstance(content, str):
            parts.append(f"{ev['type']}: {content}")
            continue
        for block in content or []:
            if block.get("type") == "text":
                parts.append(f"{ev['type']}: {block['text']}")
            elif block.get("type") == "tool_use":
                parts.append(f"tool {block['name']}: {json.dumps(block['input'])}")
            elif block.get("type") == "tool_result":
                parts.append(f"result: {block['content']}")
    kept: list[str] = []
    used = 0
    for part in reversed(parts):
        cost = count_tokens(part + "\n")
        if used + cost > budget:
            break
        kept.append(part)
        used += cost
    return "\n".join(reversed(kept))


def survivors(s: Session, text: str) -> dict[str, tuple[int, int]]:
    failures = sum(1 for cmd, err in s.failures if cmd in text and err in text)
    edits = sum(1 for path in s.edited if path in text)
    return {"failures": (failures, len(s.failures)), "edits": (edits, len(s.edited)),
            "instruction": (int(s.instruction in text), 1)}


def run(sessions: int, budget: int) -> dict:
    from mcp_server.history.distill import distill
    from mcp_server.history.restore import build_block

    totals = {"ctxfold": {}, "naive": {}}
    tokens = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(sessions):
            s = make_session(Path(tmp), seed=100 + seed)
            store = s.project / ".ctxfold"
            distill(s.transcript, store, s.project, s.session)
            block = build_block(store, s.project, s.session, str(s.transcript), "compact", budget=budget)
            tokens.append(count_tokens(block.text))
            for name, text in (("ctxfold", block.text), ("naive", naive_tail(s.transcript, budget))):
                for key, (got, of) in survivors(s, text).items():
                    a, b = totals[name].get(key, (0, 0))
                    totals[name][key] = (a + got, b + of)
    out = {"sessions": sessions, "budget": budget, "block_tokens_max": max(tokens)}
    for name, kinds in totals.items():
        got = sum(a for a, _ in kinds.values())
        of = sum(b for _, b in kinds.values())
        out[name] = {k: f"{a}/{b}" for k, (a, b) in kinds.items()} | {"all": f"{got}/{of} ({100 * got / of:.0f}%)"}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--budget", type=int, default=2000)
    args = parser.parse_args()
    print(json.dumps(run(args.sessions, args.budget), indent=1))


if __name__ == "__main__":
    main()
