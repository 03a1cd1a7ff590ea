"""The in-memory index over the active facts: words (BM25), anchors, exact-duplicate
keys and per-fact numbers, kept up to date fact by fact as the store applies rows."""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np

from .model import Fact, FactSettings, parse_time

# --------------------------------------------------------------------------- text helpers

_WORD_RE = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+")
_STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from has have if in into is it its "
    "not of on or so that the their then there these this to was were when which while "
    "will with without".split()
)


def tokenize(text: str) -> list[str]:
    """Lower-cased words, identifiers split (``sendRequest`` → send, request), stop words
    dropped, a plural ``s`` stripped so that "retries" and "retry" do not meet but
    "locks" and "lock" do."""
    words = map(_word, _WORD_RE.findall(text))
    return [word for word in words if word]


@lru_cache(maxsize=1 << 16)
def _word(raw: str) -> str:
    """One word's index form ('' to drop it); a pure function, memoised because a cold
    load of a large store tokenizes the same few thousand words over and over."""
    word = raw.lower()
    if len(word) < 2 or word in _STOPWORDS:
        return ""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def normalize_text(text: str) -> str:
    """The form in which two recordings of one fact are compared."""
    return " ".join(text.lower().split()).rstrip(".!;: ")


def _similarity(
    a_norm: str, a_words: frozenset[str], b_norm: str, b_words: frozenset[str],
    settings: FactSettings,
) -> float:
    """Token Jaccard, or the difflib ratio when that is higher and could matter."""
    union = a_words | b_words
    jaccard = len(a_words & b_words) / len(union) if union else 0.0
    if jaccard >= settings.similar_jaccard:
        return jaccard
    matcher = difflib.SequenceMatcher(None, a_norm, b_norm, autojunk=False)
    if matcher.real_quick_ratio() < settings.similar_ratio or matcher.quick_ratio() < settings.similar_ratio:
        return jaccard
    return max(jaccard, matcher.ratio())



# --------------------------------------------------------------------------- the active index


class _Posting:
    """One word's postings: slots and term frequencies in numpy arrays, so a query scores
    a common word in one vectorised step. New entries wait in Python lists until the
    next query moves them over; removal zeroes an entry (a tombstone), and the arrays
    are packed when tombstones outnumber live entries."""

    __slots__ = ("slots", "tfs", "size", "new_slots", "new_tfs", "where")

    def __init__(self) -> None:
        self.slots = np.zeros(0, dtype=np.int64)
        self.tfs = np.zeros(0, dtype=np.float64)
        self.size = 0  # entries in the arrays; later positions are in the lists
        self.new_slots: list[int] = []
        self.new_tfs: list[float] = []
        self.where: dict[int, int] = {}  # slot -> position

    @property
    def df(self) -> int:
        return len(self.where)

    def add(self, slot: int, tf: int) -> None:
        self.where[slot] = self.size + len(self.new_slots)
        self.new_slots.append(slot)
        self.new_tfs.append(float(tf))

    def remove(self, slot: int) -> None:
        position = self.where.pop(slot)
        if position < self.size:
            self.tfs[position] = 0.0
        else:
            self.new_tfs[position - self.size] = 0.0
        if self.where and len(self.where) * 2 < self.size + len(self.new_slots):
            self._pack()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self.new_slots:
            total = self.size + len(self.new_slots)
            if total > len(self.slots):
                self.slots = np.resize(self.slots, max(8, 2 * total))
                self.tfs = np.resize(self.tfs, max(8, 2 * total))
            self.slots[self.size : total] = self.new_slots
            self.tfs[self.size : total] = self.new_tfs
            self.size = total
            self.new_slots, self.new_tfs = [], []
        return self.slots[: self.size], self.tfs[: self.size]

    def _pack(self) -> None:
        slots, tfs = self.arrays()
        live = tfs > 0
        self.slots, self.tfs = slots[live].copy(), tfs[live].copy()
        self.size = len(self.slots)
        self.where = {slot: i for i, slot in enumerate(self.slots.tolist())}


class ActiveIndex:
    """Indexes over the active facts: words (BM25), anchors, exact-duplicate keys, and
    per-fact numbers (confidence, length, age) in numpy arrays indexed by a slot, so
    that ranking 10,000 facts takes a few vectorised steps instead of a Python loop."""

    def __init__(self, is_pinned: Callable[[Fact], bool]) -> None:
        self.is_pinned = is_pinned
        self.pinned: set[str] = set()  # served first, always
        self.facts: dict[str, Fact] = {}
        self.slot_of: dict[str, int] = {}
        self.id_at: list[str | None] = []
        self.free: list[int] = []
        self.postings: dict[str, _Posting] = {}
        self.total_length = 0
        self.length = np.zeros(0)
        self.confidence = np.zeros(0)
        self.created = np.zeros(0)  # epoch seconds
        self.recent_kind = np.zeros(0, dtype=bool)  # a failure or a decision
        self.words: dict[str, frozenset[str]] = {}  # fact id -> words of the fact text
        self.doc_words: dict[str, tuple[str, ...]] = {}  # fact id -> every indexed word
        self.norms: dict[str, str] = {}  # fact id -> normalized fact text
        # Anchor lookups, all -> set of fact ids: "symbol" by symbol id, "path" by file
        # (of symbols and files alike), "text" by lower-cased free text, "key" by Anchor.key.
        self.anchors: dict[str, dict[str, set[str]]] = {
            "symbol": {}, "path": {}, "text": {}, "key": {}}
        self.exact_keys: dict[tuple, str] = {}

    @property
    def capacity(self) -> int:
        return len(self.id_at)

    @staticmethod
    def _extra_tokens(fact: Fact) -> list[str]:
        """Words indexed besides the fact's own: the mitigation and the anchors' names."""
        parts = [fact.mitigation or ""]
        parts += [a.symbol_id.rpartition(":")[2] or a.path or a.text for a in fact.about]
        return tokenize(" ".join(parts))

    @staticmethod
    def _anchor_entries(fact: Fact) -> set[tuple[str, str]]:
        entries = set()
        for anchor in fact.about:
            entries.add(("key", anchor.key))
            if anchor.symbol_id:
                entries.add(("symbol", anchor.symbol_id))
            if anchor.path:
                entries.add(("path", anchor.path))
            if not anchor.is_code:
                entries.add(("text", anchor.text.strip().lower()))
        return entries

    @staticmethod
    def exact_key(fact: Fact) -> tuple:
        return (normalize_text(fact.fact), fact.type, frozenset(a.key for a in fact.about))

    def _take_slot(self, fid: str) -> int:
        if self.free:
            slot = self.free.pop()
            self.id_at[slot] = fid
        else:
            slot = len(self.id_at)
            self.id_at.append(fid)
            if slot >= len(self.length):
                grown = max(64, 2 * len(self.length))
                self.length = np.resize(self.length, grown)
                self.confidence = np.resize(self.confidence, grown)
                self.created = np.resize(self.created, grown)
                self.recent_kind = np.resize(self.recent_kind, grown)
        self.slot_of[fid] = slot
        return slot

    def add(self, fact: Fact) -> None:
        fid = fact.id
        slot = self._take_slot(fid)
        self.facts[fid] = fact
        if self.is_pinned(fact):
            self.pinned.add(fid)
        own = tokenize(fact.fact)
        counts = Counter(own)
        counts.update(self._extra_tokens(fact))
        for word, tf in counts.items():
            posting = self.postings.get(word)
            if posting is None:
                posting = self.postings[word] = _Posting()
            posting.add(slot, tf)
        length = sum(counts.values())
        self.total_length += length
        self.length[slot] = length
        self.confidence[slot] = fact.confidence
        self.created[slot] = parse_time(fact.created_at).timestamp()
        self.recent_kind[slot] = fact.type in ("failure", "decision")
        self.words[fid] = frozenset(own)
        self.doc_words[fid] = tuple(counts)
        self.norms[fid] = normalize_text(fact.fact)
        for table, key in self._anchor_entries(fact):
            self.anchors[table].setdefault(key, set()).add(fid)
        self.exact_keys[self.exact_key(fact)] = fid

    def remove(self, fact: Fact) -> None:
        fid = fact.id
        slot = self.slot_of.pop(fid)
        self.facts.pop(fid, None)
        self.pinned.discard(fid)
        for word in self.doc_words.pop(fid, ()):
            posting = self.postings.get(word)
            if posting is not None and slot in posting.where:
                posting.remove(slot)
                if not posting.df:
                    del self.postings[word]
        self.total_length -= int(self.length[slot])
        self.length[slot] = self.confidence[slot] = self.created[slot] = 0
        self.recent_kind[slot] = False
        self.id_at[slot] = None
        self.free.append(slot)
        self.words.pop(fid, None)
        self.norms.pop(fid, None)
        for table, key in self._anchor_entries(fact):
            bucket = self.anchors[table].get(key)
            if bucket is not None:
                bucket.discard(fid)
                if not bucket:
                    del self.anchors[table][key]
        key = self.exact_key(fact)
        if self.exact_keys.get(key) == fid:
            del self.exact_keys[key]

    def exact(self, draft: Fact) -> Fact | None:
        fid = self.exact_keys.get(self.exact_key(draft))
        return self.facts.get(fid) if fid else None

    def similar(self, fact: Fact, settings: FactSettings) -> Iterator[tuple[Fact, float]]:
        """Active facts of the same type whose anchors overlap (or that have none, like
        this one), with their similarity to ``fact``; only the candidates sharing the
        most words are compared character by character."""
        words = frozenset(tokenize(fact.fact))
        norm = normalize_text(fact.fact)
        if fact.about:
            keys = self.anchors["key"]
            pool = set().union(*(keys.get(a.key, set()) for a in fact.about))
            ranked = sorted(pool, key=lambda fid: (-len(words & self.words[fid]), fid))
            candidates = ranked[: settings.similar_candidates]
        else:
            shared = np.zeros(self.capacity)
            for word in words:
                posting = self.postings.get(word)
                if posting is not None:
                    slots, tfs = posting.arrays()
                    shared[slots] += tfs > 0
            hits = np.flatnonzero(shared)
            if len(hits) > settings.similar_candidates:
                top = np.argpartition(-shared[hits], settings.similar_candidates)
                hits = hits[top[: settings.similar_candidates]]
            candidates = [self.id_at[slot] for slot in hits.tolist()]
        for fid in candidates:
            other = self.facts[fid]
            if other.type != fact.type or (not fact.about and other.about):
                continue
            yield other, _similarity(norm, words, self.norms[fid], self.words[fid], settings)

    def bm25(self, query: list[str], k1: float, b: float) -> np.ndarray | None:
        """BM25 of every slot for the query words (None when no word is indexed)."""
        count = len(self.facts)
        postings = [self.postings[w] for w in set(query) if w in self.postings]
        if not count or not postings:
            return None
        average = self.total_length / count or 1.0
        scores = np.zeros(self.capacity)
        for posting in postings:
            slots, tfs = posting.arrays()
            idf = math.log(1 + (count - posting.df + 0.5) / (posting.df + 0.5))
            norm = k1 * (1 - b + b * self.length[slots] / average)
            # Slots are unique within a posting, so plain fancy-index += is exact.
            scores[slots] += idf * tfs * (k1 + 1) / (tfs + norm)
        return scores
