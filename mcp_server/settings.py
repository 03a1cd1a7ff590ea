"""Every tunable number of the read side, in one place (tuned with benchmarks/localize.py).

Environment overrides: CTXFOLD_MAX_BUDGET raises the recall budget cap;
CTXFOLD_ENCODING picks the tiktoken encoding (cl100k_base or o200k_base).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from indexers.tokens import DEFAULT_ENCODING

from .textindex import MAX_DF


@dataclass(frozen=True)
class RecallSettings:
    default_budget: int = 8000
    # Claude Code warns at 10,000 tokens of tool output and cuts at 25,000 (its own
    # tokenizer, which can count ~10-15% more than cl100k on code): 20,000 leaves margin.
    max_budget: int = int(os.environ.get("CTXFOLD_MAX_BUDGET", "20000"))
    min_budget: int = 200
    encoding: str = os.environ.get("CTXFOLD_ENCODING", DEFAULT_ENCODING)
    text_hits: int = 300  # full-text hits taken as seeds
    text_max_df: float = MAX_DF  # a word in more than this share of symbols is not searched for
    title_repeat: int = 2  # extra times the task's first line counts in full-text search
    span_repeat: int = 1  # extra times each `inline code` span counts
    strip_boilerplate: bool = True  # full-text search skips issue-template comments, <details>, checklists
    drop_links: bool = True  # and links (read for issue numbers and linked files first)
    strip_environment: bool = True  # and the template's environment sections (### OS, ### Sphinx version)
    vector_hits: int = 40  # nearest embedded symbols fused with them (0: vectors off)
    vector_weight: float = 0.5  # the nearest one adds this share of the best text score
    vector_query_chars: int = 1500  # how much of the task is embedded to find them
    contained_name_seed: float = 2.0  # seed weight shared by the symbols whose names contain a snake_case name of the task
    label_seed: float = 2.0  # seed weight shared by the symbols registered under a string the task quotes
    issue_refs: int = 5  # first issue/PR numbers of the task whose commits' files are seeded (0: off)
    similar_commits: int = 20  # past commits whose messages read most like the task (0: off)
    commit_prior: float = 2.0  # weight of the files they changed (the best = 1), added to the file prior
    fact_seed: float = 2.0  # seed weight of a symbol that a relevant fact is anchored to
    # Diffusion (personalized PageRank by power iteration around the seeds).
    # How much activation an edge of each kind carries, times its resolution's confidence.
    edge_weights: tuple = (("call", 1.0), ("inherit", 0.8), ("import", 0.3), ("contain", 0.5), ("semantic", 0.7), ("type", 0.5))
    restart: float = 0.8  # share of activation that returns to the seeds each step
    iterations: int = 3
    max_fanout: int = 40  # a hub spreads only to its strongest neighbours (each way)
    spread_floor: float = 1e-3  # nodes below this share of the top activation do not spread
    max_candidates: int = 600  # ranked symbols kept for packing and the manifest
    callee_share: float = 0.7  # of what a node spreads, its callees (bases, types, members) get this, its callers the rest
    test_factor: float = 0.4  # score factor for test code the task does not point at
    aux_factor: float = 0.4  # the same for docs, examples and scripts
    side_seed_factor: float = 0.25  # seed weight factor for such code before diffusion
    file_prior: float = 1.0  # weight of a file's best seeds on every symbol of it
    file_text_prior: float = 1.0  # weight of the whole file's text match, added to that prior
    issue_ref_prior: float = 1.0  # shared by the files changed for an issue the task names, added too
    # Packing.
    pack_pool: int = 400  # best candidates considered for bodies
    signature_pool: int = 150  # best candidates considered for signatures
    signature_share: float = 0.12  # budget kept for signatures while bodies are packed
    signature_new_files: int = 8  # signatures go first to the best of this many files not shown in full
    max_full_type_tokens: int = 600  # a bigger class shows as its signature, members on their own
    min_code_share: float = 0.3  # facts never take more than the rest of this share
    max_item_share: float = 0.5  # one item may not take more than this share of the budget (but the first)
    manifest_share: float = 0.08  # budget kept for the list of what was left out
    manifest_items: int = 15
    large_result_chars: int = 40_000  # above this, tell Claude Code not to spill to a file
    # Limits that keep every call short and every answer inside Claude Code's limits.
    max_task_chars: int = 200_000  # a longer task is refused (a whole issue with its logs is far less)
    # A call waits at most this long for the one before it (or the warm-up) to finish
    # with the index, then answers "busy, retry".
    call_wait_seconds: float = float(os.environ.get("CTXFOLD_CALL_WAIT", "30"))
    # Claude Code keeps a tool result inline up to the size its tools/list entry asks for
    # (at most 500,000 characters): a result at the token cap can hold that many characters
    # (runs of spaces are one token each), so every tool asks for the most and results are
    # cut to it.
    max_result_chars: int = 500_000


SETTINGS = RecallSettings()
