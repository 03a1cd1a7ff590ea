"""The archive policy: active, unpinned, low-confidence facts that were neither served,
confirmed nor recorded for a while are archived (never deleted); serving a fact is what
keeps it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from .model import Fact, FactError, iso, parse_time, short_time


class ArchivePolicy:
    """``FactStore``'s served bookkeeping and archive policy (mixed into it: uses its
    state under its locks)."""

    def mark_served(self, ids: Iterable[str]) -> int:
        """Note that these facts were served to an agent now (for the archive policy).
        Unknown or inactive ids are skipped. Returns how many were marked."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return 0
        with self._writing():
            now = self._now()
            rows = [
                replace(f, last_served_at=now, served_count=f.served_count + 1)
                for f in (self._active.get(i) for i in wanted) if f is not None
            ]
            # Served stats are bookkeeping: not worth flushing the file system for.
            self._commit(rows, sync=False)
            return len(rows)

    def apply_archive_policy(self, now: datetime | None = None) -> list[Fact]:
        """Archive active, unpinned facts with confidence below the threshold that were
        not served, confirmed or recorded for ``archive_after_days``. Returns them."""
        s = self.settings
        moment = now or self._clock()
        if moment.tzinfo is None:
            raise FactError(f"now={moment!r} has no time zone: pass an aware datetime (UTC)")
        cutoff = moment - timedelta(days=s.archive_after_days)
        with self._writing():
            stamp = iso(moment)
            rows = []
            for fact in sorted(self._active.values(), key=lambda f: f.id):
                if self._pinned(fact) or fact.confidence >= s.archive_below_confidence:
                    continue
                seen = max(
                    parse_time(t) for t in
                    (fact.created_at, fact.last_confirmed_at, fact.last_served_at) if t
                )
                if seen < cutoff:
                    rows.append(replace(
                        fact, status="archived", status_at=stamp,
                        reason=(f"archive policy: confidence {fact.confidence:g} < "
                                f"{s.archive_below_confidence:g} and not served since "
                                f"{short_time(iso(seen))} ({s.archive_after_days} days)"),
                    ))
            self._commit(rows)
            return rows
