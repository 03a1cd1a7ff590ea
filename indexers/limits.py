"""Limits the indexer applies, in a module of their own so that a command can name them
(in its --help) without loading the indexer."""

DEFAULT_MAX_BYTES = 1_000_000  # files larger than this are skipped (``ctxfold index --max-bytes``)
