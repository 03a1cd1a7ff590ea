"""Lookups over every indexed file that resolution needs: the index the language
plug-ins resolve their files against, and the bare-name fallback. Below both ``resolve``
and the plug-ins, so a plug-in never imports back from the module that loads it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .languages import hooks
from .types import Edge, ParsedFile, Symbol, symbol_id

# Confidence by resolution method (see RESOLUTIONS in types.py).
CONFIDENCE = {"local": 1.0, "self": 0.95, "import": 0.95, "qualified": 0.9, "name": 0.5}
# A bare name defined in more places than this is too ambiguous to link at all.
MAX_NAME_CANDIDATES = 3


@dataclass
class ResolveIndex:
    """Read-only lookups over every indexed file, rebuilt when files change."""

    files: dict[str, ParsedFile]
    root: Path | None = None  # the repository, for build files no index holds (Go's go.mod)
    symbols: dict[str, dict[str, Symbol]] = field(default_factory=dict)  # path -> qualname -> Symbol
    top_by_name: dict[str, list[str]] = field(default_factory=dict)  # name -> symbol ids (module level)
    members_by_name: dict[str, list[str]] = field(default_factory=dict)  # name -> symbol ids (in a type)
    _module_maps: dict[str, dict] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-language memos, valid for this index only

    @classmethod
    def build(cls, files: dict[str, ParsedFile], root: Path | None = None) -> "ResolveIndex":
        idx = cls(files=files, root=root)
        for pf in files.values():
            idx._add(pf)
        return idx

    def _add(self, pf: ParsedFile) -> None:
        table = self.symbols.setdefault(pf.path, {})
        for sym in pf.symbols:
            table[sym.qualname] = sym
            bucket = self.members_by_name if "." in sym.qualname else self.top_by_name
            bucket.setdefault(sym.name, []).append(sys.intern(sym.id))  # shared with the edges' ids

    def _remove(self, path: str) -> None:
        for sym in self.symbols.pop(path, {}).values():
            bucket = self.members_by_name if "." in sym.qualname else self.top_by_name
            ids = bucket.get(sym.name, [])
            if sym.id in ids:
                ids.remove(sym.id)
                if not ids:
                    del bucket[sym.name]

    def replace(self, removed: set[str], added: dict[str, ParsedFile]) -> None:
        """Update in place after files changed (``self.files`` already holds the new state);
        memos and module maps start over."""
        same_paths = not removed and all(p in self.symbols for p in added)
        for path in removed | set(added):
            self._remove(path)
        for pf in added.values():
            self._add(pf)
        # A module map that depends on paths alone survives edits that add or remove no file.
        for name in list(self._module_maps):
            if not (same_paths and hooks(name).module_map_from_paths):
                del self._module_maps[name]
        self.cache.clear()

    def module_map(self, language_module: str) -> dict:
        """A language's own module lookup (Python dotted names, Go import dirs, ...), built once."""
        if language_module not in self._module_maps:
            paths = [p for p, pf in self.files.items() if hooks(pf.language).name == language_module]
            self._module_maps[language_module] = hooks(self.files[paths[0]].language).build_module_map(paths, self) if paths else {}
        return self._module_maps[language_module]

    def has(self, path: str, qualname: str) -> bool:
        return qualname in self.symbols.get(path, {})

    def get(self, path: str, qualname: str) -> Symbol | None:
        return self.symbols.get(path, {}).get(qualname)

    def member(self, path: str, type_qualname: str, name: str, languages_bases=None, _depth: int = 0) -> str | None:
        """Symbol id of ``name`` defined on the type, or inherited through resolved bases."""
        qual = f"{type_qualname}.{name}"
        if self.has(path, qual):
            return symbol_id(path, qual)
        if _depth >= 6 or languages_bases is None:
            return None
        for base_path, base_qual in languages_bases(path, type_qualname):
            found = self.member(base_path, base_qual, name, languages_bases, _depth + 1)
            if found:
                return found
        return None

    def by_name(self, name: str, members: bool = False, exclude_path: str | None = None) -> list[str]:
        ids = (self.members_by_name if members else self.top_by_name).get(name, [])
        if exclude_path:
            ids = [i for i in ids if not i.startswith(exclude_path + ":")]
        return ids


def name_edges(src: str, candidates: list[str], kind: str, line: int, most: int = MAX_NAME_CANDIDATES) -> list[Edge]:
    """Bare-name fallback: link to few candidates, each with a split confidence."""
    if not candidates or len(candidates) > most:
        return []
    conf = CONFIDENCE["name"] / len(candidates)
    return [Edge(src, dst, kind, "name", conf, line) for dst in candidates]
