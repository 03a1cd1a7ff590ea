"""``ctxfold enrich``: derive semantic edges (heuristics, optionally an LLM) and vectors."""

from __future__ import annotations

from .errors import CtxfoldError


def cmd_enrich(args) -> int:
    from indexers.enrich import EnrichSettings
    from indexers.providers import ProviderError, make_provider
    from indexers.semantic import derive

    from .cli import ProgressBar, refreshed

    ws = refreshed(args, need_index=args.repo is None)  # a repository named with --repo is indexed first
    provider = None
    if args.provider:
        try:
            provider = make_provider(args.provider, args.model, args.base_url)
            if not args.dry_run:
                provider.check()
        except ProviderError as exc:
            print(f"ctxfold: {exc}")
            provider = None
    given = {"max_tokens_per_request": args.max_tokens, "max_requests": args.max_requests}
    settings = EnrichSettings(**{k: v for k, v in given.items() if v is not None})
    bar = ProgressBar()
    try:
        r = derive(ws.indexer, provider=provider, stale_only=args.stale, dry_run=args.dry_run,
                   vectors_mode=args.vectors, enrich_settings=settings, progress=bar)
    finally:
        bar.close()
    print(f"volatility: {r.volatile_files} volatile, {r.stable_files} stable files" + (f" ({r.volatility_note})" if r.volatility_note else ""))
    if not args.stale:
        print(f"heuristic edges: {r.heuristic_edges}" + (" (dry run: not stored)" if args.dry_run else ""))
    if provider is not None:
        if args.dry_run:
            print(f"llm: would send {r.llm_requests} requests, ~{r.est_input_tokens:,} input + ~{r.est_output_tokens:,} "
                  f"output tokens ({r.llm_cached} clusters answered from the cache)")
            if r.llm_skipped:
                print(f"llm: {r.llm_skipped} more clusters are over the cap of {settings.max_requests} requests per run; "
                      "raise it with --max-requests, or run again later (answers are cached)")
        else:
            print(f"llm edges: {r.llm_edges} ({r.llm_requests} requests, {r.llm_cached} clusters from cache, {r.llm_skipped} skipped)")
        if r.degraded:
            print(f"llm degraded: {r.degraded}; the edges derived so far are kept, the index is usable")
    if args.vectors != "off" and not args.dry_run:
        print(f"vectors ({args.vectors}): {r.vectors_embedded} embedded" + (f"; {r.vectors_note}" if r.vectors_note else ""))
    return 0


def add_enrich_cli(subparsers, common) -> None:
    p = subparsers.add_parser("enrich", parents=[common], help="derive semantic edges and vectors (offline)")
    p.add_argument("--provider", choices=["anthropic", "openai", "claude-cli"], default=None,
                   help="LLM for couplings the call graph misses (default: heuristics only)")
    p.add_argument("--model", default=None)
    p.add_argument("--base-url", default=None, help="for openai: e.g. http://localhost:11434/v1 (Ollama)")
    p.add_argument("--max-tokens", type=int, default=None, help="input tokens per LLM request (default: 6000)")
    p.add_argument("--max-requests", type=int, default=None, help="LLM requests per run (default: 200)")
    p.add_argument("--dry-run", action="store_true", help="estimate tokens and calls; send and store nothing")
    p.add_argument("--stale", action="store_true", help="re-derive only LLM edges whose ends changed")
    p.add_argument("--vectors", choices=["volatile", "all", "off"], default="volatile",
                   help="which symbols to embed for the vector fallback (default: volatile)")
    p.set_defaults(func=cmd_enrich)


__all__ = ["add_enrich_cli", "CtxfoldError"]
