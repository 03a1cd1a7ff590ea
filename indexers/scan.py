"""Walk a repository: which files to index, which to skip and why.

Honours every ``.gitignore`` on the way down and a ``.ctxfoldignore`` (same syntax).
Follows a symlink only when it stays inside the repository, and visits each real
directory once, so a symlink loop ends the walk of that branch instead of looping.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .languages import language_for_path
from .limits import DEFAULT_MAX_BYTES
from .types import Skipped

ALWAYS_IGNORED = {".git", ".hg", ".svn", ".ctxfold", "__pycache__"}
IGNORE_FILES = (".gitignore", ".ctxfoldignore")


@dataclass
class ScannedFile:
    path: str  # repo-relative, POSIX
    size: int
    mtime_ns: int
    language: str


@dataclass
class ScanResult:
    files: list[ScannedFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Directory mtimes let a freshness check see added or removed files without a walk.
    dirs: dict[str, int] = field(default_factory=dict)


def _load_spec(directory: Path):
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += read_regular(directory / name, limit=DEFAULT_MAX_BYTES).decode("utf-8", "replace").splitlines()
        except OSError:
            continue
    if not lines:
        return None
    import pathspec  # loads only for a scan

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignored(specs: list[tuple[str, object]], rel: str, is_dir: bool) -> bool:
    # Later (deeper) ignore files override earlier ones, as git does for negations; we
    # approximate by letting any matching spec decide, deepest first.
    for base, spec in reversed(specs):
        sub = rel[len(base) + 1 :] if base else rel
        candidate = sub + "/" if is_dir else sub
        result = spec.check_file(candidate)
        if result.include is not None:
            return bool(result.include)
    return False


def scan(root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> ScanResult:
    """List the indexable source files under ``root``."""
    root = Path(root).resolve()
    result = ScanResult()
    seen_dirs: set[tuple[int, int]] = set()

    def walk(directory: Path, rel_dir: str, specs: list[tuple[str, object]]) -> None:
        try:
            st = directory.stat()
        except OSError as exc:
            result.skipped.append(Skipped(rel_dir or ".", f"unreadable directory ({exc.strerror})"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            result.skipped.append(Skipped(rel_dir, "symlink loop (directory already visited)"))
            return
        seen_dirs.add(key)
        result.dirs[rel_dir] = st.st_mtime_ns
        spec = _load_spec(directory)
        if spec is not None:
            specs = specs + [(rel_dir, spec)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            result.skipped.append(Skipped(rel_dir or ".", f"unreadable directory ({exc.strerror})"))
            return
        for entry in entries:
            if entry.name in ALWAYS_IGNORED:
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            if not _utf8(entry.name):
                # Undecodable bytes arrive as lone surrogates, which no store, JSON or
                # terminal takes: skipped, and named with the bytes escaped.
                result.skipped.append(Skipped(printable_path(rel), "file name is not valid UTF-8; rename it to index it"))
                continue
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target = Path(os.path.realpath(entry.path))
                    if target != root and root not in target.parents:
                        result.skipped.append(Skipped(rel, "symlink pointing outside the repository"))
                        continue
                    try:
                        st = target.stat()
                    except OSError:
                        result.skipped.append(Skipped(rel, "broken symlink"))
                        continue
                else:
                    st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                result.skipped.append(Skipped(rel, f"unreadable ({exc.strerror})"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if not _ignored(specs, rel, True):
                    walk(Path(entry.path), rel, specs)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            language = language_for_path(rel)
            if language is None or _ignored(specs, rel, False):
                continue
            if st.st_size > max_bytes:
                result.skipped.append(
                    Skipped(rel, f"too large ({st.st_size:,} bytes > limit {max_bytes:,}; raise --max-bytes)")
                )
                continue
            result.files.append(ScannedFile(rel, st.st_size, st.st_mtime_ns, language))

    walk(root, "", [])
    return result


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable_path(path: str) -> str:
    """A path whose undecodable bytes (lone surrogates from os.fsdecode) are shown as
    ``\\xe9`` escapes: something every store and terminal can take."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def decode_source(data: bytes) -> tuple[str | None, str]:
    """Source text of a file, or None with the reason it cannot be indexed."""
    if b"\x00" in data[:8192]:
        return None, "binary (NUL bytes)"
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        return None, f"undecodable (not UTF-8 at byte {exc.start})"


def source_lines(text: str) -> list[str]:
    """A file's lines as tree-sitter numbers them: split at "\\n" only (``str.splitlines``
    also splits at form feeds, \\x1c-\\x1e, \\x85 and \\u2028, and would shift every line
    after one), each without its "\\r"."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_source(path: Path) -> str:
    """A file's text as the parser sees it: newlines untouched (no universal newlines),
    undecodable bytes replaced."""
    return read_regular(path).decode("utf-8-sig", errors="replace")


class NotRegularFile(OSError):
    """A FIFO, socket or device where a source file was expected."""


def read_regular(path: Path | str, limit: int | None = None) -> bytes:
    """The bytes of a regular file, and only of one: a FIFO or a device in the tree would
    block a plain read forever (or never end), so the file is opened without blocking and
    checked before it is read. ``limit``: a file larger than that raises OSError (EFBIG)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
        if limit is not None and st.st_size > limit:
            raise OSError(errno.EFBIG, f"file too large ({st.st_size:,} bytes > limit {limit:,})", str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            if limit is not None and sum(map(len, chunks)) > limit:  # grew while read
                raise OSError(errno.EFBIG, f"file too large (over the limit of {limit:,} bytes)", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)
