"""Every tunable of the history pipeline in one place (tuned by ``benchmarks/history_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HistorySettings:
    # Trimming: an output over either limit is trimmed.
    max_lines: int = 200
    max_tokens: int = 4000
    head_lines: int = 20
    tail_lines: int = 50
    max_error_lines: int = 30
    max_line_chars: int = 400  # a kept line longer than this is cut (minified output)
    repeat_min_lines: int = 10  # shorter outputs are never replaced by a pointer
    # Distillation: at most this many facts of each kind per compaction.
    max_failures: int = 12
    max_edits: int = 15
    max_instructions: int = 10
    max_decisions: int = 8
    max_todos: int = 12
    instruction_confidence: float = 0.95  # an invariant this sure is pinned
    failure_confidence: float = 0.8
    edit_confidence: float = 0.7
    decision_confidence: float = 0.6
    todo_confidence: float = 0.8
    # Restoring: the SessionStart block.
    restore_budget: int = 2000  # tokens, exact
    restore_max_chars: int = 9500  # under Claude Code's 10,000-character hook output cap
    restore_steps: int = 12
    restore_facts: int = 25
    tail_bytes: int = 512 * 1024  # SessionStart reads only this much of the transcript's end
    # Auto-recall on the prompt.
    prompt_budget: int = 1500
    prompt_timeout_s: float = 2.0


SETTINGS = HistorySettings()
