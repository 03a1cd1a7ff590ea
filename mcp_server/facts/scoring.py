"""Which facts a task gets: BM25 over the active index, anchor hits, recency, pinned
invariants first; and staleness, the comparison of a fact's anchors with the code now."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from .index import tokenize
from .model import DEFAULT_SETTINGS, Anchor, Fact, FactSettings, Staleness

if TYPE_CHECKING:
    from .store import FactStore


class Relevance:
    """``FactStore``'s ranking for recall (mixed into it: reads its active index under its
    mutex)."""

    def relevant_facts(
        self,
        task: str,
        symbol_ids: Iterable[str] = (),
        paths: Iterable[str] = (),
        limit: int = 10,
        *,
        current_hash: Callable[[Anchor], str | None] | None = None,
    ) -> list[tuple[Fact, float]]:
        """Active facts for a task, best first: pinned invariants always first, then
        facts ranked by word overlap with the task (BM25), anchors among the given
        symbols or files, and recent failures and decisions. With ``current_hash`` the
        score is scaled by the staleness-adjusted confidence. Does not mark them served:
        call ``mark_served`` with the ids actually shown."""
        s = self.settings
        limit = max(limit, 0)
        with self._mutex:
            self._refresh()
            index = self._index
            base = np.zeros(index.capacity)
            text = index.bm25(tokenize(task), s.bm25_k1, s.bm25_b)
            if text is not None and text.max() > 0:
                share = text / text.max()
                base += np.where(share >= s.min_text_share, s.weight_text * share, 0.0)
            for fact_id, weight in self._anchor_hits(set(symbol_ids), set(paths)).items():
                base[index.slot_of[fact_id]] += weight
            age = (self._clock().timestamp() - index.created[: index.capacity]) / 86400
            recent = index.recent_kind[: index.capacity] & (base > 0) & (age >= 0) & (
                age < s.recent_days)
            base += np.where(recent, s.weight_recent * (1 - age / s.recent_days), 0.0)
            pinned_ids = set(index.pinned)
            pinned = [index.slot_of[fid] for fid in pinned_ids]
            score = base * (0.5 + 0.5 * index.confidence[: index.capacity])
            score[pinned] += s.pinned_bonus
            wanted = (limit * (s.stale_rescore_factor if current_hash else 1)) + len(pinned)
            hits = np.flatnonzero(score > 0)
            if len(hits) > wanted:
                # Take ties at the cut too, so that the order below is deterministic.
                cut = -np.partition(-score[hits], wanted - 1)[wanted - 1]
                hits = hits[score[hits] >= cut]
            ranked = [(index.facts[index.id_at[slot]], float(score[slot]), float(base[slot]))
                      for slot in hits.tolist()]
        if current_hash is not None:
            ranked = [
                (fact, base * (0.5 + 0.5 * check_anchors(fact, current_hash, s).effective_confidence)
                 + (s.pinned_bonus if fact.id in pinned_ids else 0.0), base)
                for fact, _, base in ranked
            ]
        ranked.sort(key=lambda item: (-item[1], item[0].id))
        return [(fact, round(score, 4)) for fact, score, _ in ranked[:limit]]

    def _anchor_hits(self, symbols: set[str], paths: set[str]) -> dict[str, float]:
        """Anchor weight per fact: its symbol is one of the task's (full symbol weight),
        its free text names one (half), it sits in one of the task's files (full path
        weight) or in the file of one of the task's symbols (half)."""
        s = self.settings
        anchors = self._index.anchors
        hits: dict[str, float] = {}

        def bump(ids: Iterable[str], weight: float) -> None:
            for fact_id in ids:
                hits[fact_id] = hits.get(fact_id, 0.0) + weight

        names = set()
        for sid in symbols:
            bump(anchors["symbol"].get(sid, ()), s.weight_symbol)
            qualname = sid.rpartition(":")[2]
            if qualname:
                names |= {qualname.lower(), qualname.rpartition(".")[2].lower()}
        for name in names:
            bump(anchors["text"].get(name, ()), s.weight_symbol / 2)
        for path in paths:
            bump(anchors["path"].get(path, ()), s.weight_path)
            bump(anchors["text"].get(path.lower(), ()), s.weight_path / 2)
        for path in {sid.rpartition(":")[0] for sid in symbols} - paths:
            bump(anchors["path"].get(path, ()), s.weight_path / 2)
        return hits


def check_anchors(
    fact: Fact,
    current_hash: Callable[[Anchor], str | None],
    settings: FactSettings = DEFAULT_SETTINGS,
) -> Staleness:
    """Compare a fact's anchors with the code as it is now. ``current_hash(anchor)``
    returns the anchor's content hash today, or None when its symbol or file is gone.
    Free-text anchors are not checked. Orphaned: every code anchor is gone; changed:
    some code anchor changed or went away; fresh otherwise."""
    code = [a for a in fact.about if a.is_code]
    changed, gone = [], []
    for anchor in code:
        now = current_hash(anchor)
        if now is None:
            gone.append(anchor.text)
        elif now != anchor.hash:
            changed.append(anchor.text)
    if code and len(gone) == len(code):
        state, factor = "orphaned", settings.orphaned_factor
    elif changed or gone:
        state, factor = "changed", settings.changed_factor
    else:
        state, factor = "fresh", 1.0
    return Staleness(state, fact.created_at, round(fact.confidence * factor, 4),
                     tuple(changed), tuple(gone))


def relevant_facts(
    store: FactStore,
    task: str,
    symbol_ids: set[str],
    paths: set[str],
    limit: int = 10,
    *,
    current_hash: Callable[[Anchor], str | None] | None = None,
) -> list[tuple[Fact, float]]:
    """The facts recall serves for a task: see ``FactStore.relevant_facts``."""
    return store.relevant_facts(task, symbol_ids, paths, limit, current_hash=current_hash)
