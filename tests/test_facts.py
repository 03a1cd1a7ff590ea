"""Fact memory: recording, versions, forgetting, staleness, recall ranking, export/import."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from mcp_server import facts as facts_module
from mcp_server.facts import (
    Anchor,
    FactError,
    FactStorageError,
    FactStore,
    check_anchors,
    relevant_facts,
    render_fact_line,
    render_record_result,
)
from mcp_server.facts import schema as facts_schema

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)


class FakeCode:
    """A tiny stand-in for the code index: anchor text -> (symbol id, path, hash)."""

    def __init__(self) -> None:
        self.hashes = {
            "pkg/client.py:Client.send": "h-send-1",
            "pkg/client.py:Client.close": "h-close-1",
            "pkg/client.py": "h-client-file-1",
            "pkg/store.py:save": "h-save-1",
        }

    def resolve(self, text: str) -> Anchor | None:
        for key, digest in self.hashes.items():
            if text == key or (":" in key and key.endswith(":" + text)):
                path, _, qualname = key.rpartition(":") if ":" in key else (key, "", "")
                return Anchor(text=text, symbol_id=key if qualname else "",
                              path=path if qualname else key, hash=digest)
        return None

    def current_hash(self, anchor: Anchor) -> str | None:
        return self.hashes.get(anchor.symbol_id or anchor.path)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def code() -> FakeCode:
    return FakeCode()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, code, clock) -> FactStore:
    return FactStore(tmp_path / "store", code.resolve, clock=clock)


def export_text(store: FactStore) -> str:
    buffer = io.StringIO()
    store.export_jsonl(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- recording


def test_a_recorded_fact_has_an_id_a_version_a_utc_timestamp_and_stamped_anchors(store):
    result = store.record("Client.send retries double-charge on timeouts", "failure",
                          evidence="tests/test_pay.py::test_timeout", mitigation="pass an idempotency key",
                          confidence=0.8, about=["Client.send", "pkg/client.py"])
    assert re.fullmatch(r"f-[0-9a-f]{8}", result.id)
    assert (result.version, result.action) == (1, "recorded")
    fact = store.get(result.id)
    assert fact.created_at == "2026-11-20T10:00:00Z"
    assert (fact.status, fact.source, fact.confirmations, fact.served_count) == ("active", "agent", 1, 0)
    assert fact.about == (
        Anchor("Client.send", "pkg/client.py:Client.send", "pkg/client.py", "h-send-1"),
        Anchor("pkg/client.py", "", "pkg/client.py", "h-client-file-1"),
    )
    assert result.warnings == []


def test_an_anchor_that_resolves_to_nothing_is_kept_as_free_text_with_a_warning(store):
    result = store.record("the retry budget is shared", "observation", about=["retry budget"])
    assert store.get(result.id).about == (Anchor("retry budget"),)
    assert "retry budget" in result.warnings[0] and "free text" in result.warnings[0]


def test_a_store_without_a_resolver_keeps_every_anchor_as_free_text(tmp_path):
    store = FactStore(tmp_path / "s")
    result = store.record("x is fragile", "observation", about="pkg/x.py")
    assert store.get(result.id).about == (Anchor("pkg/x.py"),)
    assert result.warnings


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"fact": "  ", "type": "failure"}, ["empty fact"]),
        ({"fact": "lorem ipsum " * 3000, "type": "failure"}, ["2000", "short", "by reference"]),
        ({"fact": "x", "type": "rumour"}, ["'rumour'", "failure, invariant, decision"]),
        ({"fact": "x", "type": "failure", "confidence": 1.5}, ["1.5", "from 0 to 1"]),
        ({"fact": "x", "type": "failure", "confidence": -0.1}, ["-0.1", "from 0 to 1"]),
        ({"fact": "x", "type": "failure", "confidence": "high"}, ["'high'", "from 0 to 1"]),
        ({"fact": "x", "type": "failure", "supersedes": "f-00000000"},
         ["f-00000000", "ctxfold facts list"]),
    ],
)
def test_bad_input_is_refused_with_the_value_and_the_next_step(store, kwargs, words):
    with pytest.raises(FactError) as caught:
        store.record(**kwargs)
    for word in words:
        assert word in str(caught.value)
    assert store.list(status="all") == []


def test_forgetting_or_restoring_an_unknown_id_points_to_the_list(store):
    for call in (lambda: store.forget("f-12345678", "wrong"), lambda: store.restore("f-12345678")):
        with pytest.raises(FactError, match=r"f-12345678.*ctxfold facts list"):
            call()


# ----------------------------------------------------------------------------- duplicates


def test_recording_the_same_fact_twice_makes_one_fact_confirmed_twice(store, clock):
    first = store.record("Client.send is not idempotent.", "failure", about=["Client.send"],
                         evidence="incident 42")
    clock.now = T0 + timedelta(hours=1)
    again = store.record("  client.send is NOT idempotent ", "failure", about=["pkg/client.py:Client.send"])
    assert (again.id, again.version, again.action) == (first.id, 1, "confirmed")
    [fact] = store.history(first.id)
    assert fact.fact == "Client.send is not idempotent."  # the original wording is kept
    assert fact.evidence == "incident 42"
    assert (fact.confirmations, fact.last_confirmed_at) == (2, "2026-11-20T11:00:00Z")
    assert fact.created_at == "2026-11-20T10:00:00Z"
    assert len(store.list()) == 1
    assert "confirmed 2 times" in render_record_result(again)
    third = store.record("Client.send is not idempotent", "failure", about=["Client.send"])
    assert (third.version, store.get(first.id).confirmations) == (1, 3)


def test_a_repeat_that_adds_evidence_becomes_a_new_version_and_keeps_the_first(store):
    first = store.record("save() loses the last row on SIGTERM", "failure", about=["save"])
    again = store.record("save() loses the last row on SIGTERM", "failure", about=["save"],
                         evidence="strace in /tmp/run.log")
    assert (again.id, again.version, again.action) == (first.id, 2, "confirmed")
    old, new = store.history(first.id)
    assert (old.status, old.evidence) == ("superseded", None)
    assert (new.status, new.evidence, new.confirmations) == ("active", "strace in /tmp/run.log", 2)


def test_same_text_with_other_anchors_or_type_is_another_fact(store):
    a = store.record("flaky under load", "observation", about=["save"])
    b = store.record("flaky under load", "observation", about=["Client.send"])
    c = store.record("flaky under load", "failure", about=["save"])
    assert len({a.id, b.id, c.id}) == 3


def test_recording_returns_active_facts_that_look_the_same(store):
    first = store.record("Client.send retries three times on a timeout", "observation",
                         about=["Client.send"])
    second = store.record("Client.send retries three times after a timeout", "observation",
                          about=["Client.send"])
    assert [s.fact.id for s in second.similar] == [first.id]
    assert 0.5 <= second.similar[0].similarity < 1
    assert "supersedes=<its id>" in render_record_result(second)
    other_anchor = store.record("Client.send retries three times on a timeout", "observation",
                                about=["save"])
    assert other_anchor.similar == []


# ----------------------------------------------------------------------------- versions


def test_superseding_builds_a_chain_and_history_lists_every_version(store, clock):
    v1 = store.record("cache TTL is 60 s", "decision", about=["save"])
    clock.now = T0 + timedelta(days=1)
    v2 = store.record("cache TTL is 300 s", "decision", supersedes=v1.id)
    clock.now = T0 + timedelta(days=2)
    v3 = store.record("cache TTL is 600 s", "decision", supersedes=v1.id, about=["Client.send"])
    assert (v2.id, v2.version, v3.id, v3.version) == (v1.id, 2, v1.id, 3)
    history = store.history(v1.id)
    assert [(f.version, f.status, f.fact) for f in history] == [
        (1, "superseded", "cache TTL is 60 s"),
        (2, "superseded", "cache TTL is 300 s"),
        (3, "active", "cache TTL is 600 s"),
    ]
    assert history[1].about == history[0].about  # a new version without `about` keeps them
    assert [a.text for a in history[2].about] == ["Client.send"]
    assert [f.fact for f in store.list()] == ["cache TTL is 600 s"]


def test_rollback_republishes_an_earlier_version_as_a_new_one(store):
    v1 = store.record("use the v1 API", "decision")
    store.record("use the v2 API", "decision", supersedes=v1.id)
    restored = store.restore(v1.id, 1)
    assert (restored.version, restored.fact, restored.change) == (3, "use the v1 API", "restores v1")
    assert [f.status for f in store.history(v1.id)] == ["superseded", "superseded", "active"]
    with pytest.raises(FactError, match="no version 9"):
        store.restore(v1.id, 9)
    with pytest.raises(FactError, match="active version already"):
        store.restore(v1.id, 3)


def test_forgetting_archives_and_restoring_reactivates_as_a_new_version(store):
    kept = store.record("the importer needs UTF-8", "invariant", about=["save"])
    gone = store.record("the parser chokes on tabs", "failure", about=["save"])
    archived = store.forget(gone.id, "fixed in parser 2.0")
    assert (archived.status, archived.reason) == ("archived", "fixed in parser 2.0")
    assert [f.id for f in store.list()] == [kept.id]
    assert [f.id for f in store.list(status="archived")] == [gone.id]
    assert gone.id not in {f.id for f, _ in store.relevant_facts("parser chokes tabs", {"pkg/store.py:save"}, set())}
    with pytest.raises(FactError, match="already archived"):
        store.forget(gone.id, "again")
    with pytest.raises(FactError, match="needs a reason"):
        store.forget(kept.id, " ")
    back = store.restore(gone.id)
    assert (back.version, back.status, back.change) == (2, "active", "restores v1")
    assert [f.status for f in store.history(gone.id)] == ["archived", "active"]
    assert gone.id in {f.id for f, _ in store.relevant_facts("parser chokes tabs", set(), set())}
    with pytest.raises(FactError, match="active already"):
        store.restore(gone.id)


# ----------------------------------------------------------------------------- archive policy


def test_archive_policy_archives_only_old_unserved_low_confidence_unpinned_facts(store, clock):
    weak = store.record("maybe the cache is cold at start", "observation", confidence=0.3)
    served = store.record("maybe retries hide a race", "observation", confidence=0.3)
    pinned = store.record("never log tokens", "observation", confidence=0.2, pinned=True)
    strong = store.record("the build needs Go 1.22", "observation", confidence=0.8)
    clock.now = T0 + timedelta(days=60)
    assert store.mark_served([served.id, "f-unknown0"]) == 1
    assert store.get(served.id).served_count == 1
    assert store.apply_archive_policy(T0 + timedelta(days=89)) == []
    archived = store.apply_archive_policy(T0 + timedelta(days=100))
    assert [f.id for f in archived] == [weak.id]
    assert "archive policy" in store.get(weak.id).reason
    assert {f.id for f in store.list()} == {served.id, pinned.id, strong.id}
    assert len(store.history(weak.id)) == 1  # archived, not deleted


# ----------------------------------------------------------------------------- staleness


def test_staleness_is_fresh_then_changed_then_orphaned(store, code):
    result = store.record("send() must hold the pool lock", "invariant", confidence=0.8,
                          about=["Client.send", "Client.close", "retry budget"])
    fact = store.get(result.id)
    fresh = check_anchors(fact, code.current_hash)
    assert (fresh.state, fresh.effective_confidence) == ("fresh", 0.8)
    assert render_fact_line(fact, fresh) == (
        f"[invariant {fact.id} 2026-11-20T10:00Z conf 0.8] send() must hold the pool lock")

    code.hashes["pkg/client.py:Client.send"] = "h-send-2"
    changed = check_anchors(fact, code.current_hash)
    assert (changed.state, changed.changed, changed.effective_confidence) == (
        "changed", ("Client.send",), 0.48)
    assert "(code changed since 2026-11-20T10:00Z)" in render_fact_line(fact, changed)
    assert "conf 0.48" in render_fact_line(fact, changed)

    del code.hashes["pkg/client.py:Client.send"]
    del code.hashes["pkg/client.py:Client.close"]
    orphaned = check_anchors(fact, code.current_hash)
    assert (orphaned.state, orphaned.gone) == ("orphaned", ("Client.send", "Client.close"))
    assert orphaned.effective_confidence < changed.effective_confidence


def test_a_fact_line_shows_type_id_version_time_confidence_text_and_mitigation(store):
    v1 = store.record("uploads over 5 MB time out", "failure", confidence=0.8)
    v2 = store.record("uploads over 5 MB\ntime out", "failure", mitigation="stream them in chunks",
                      supersedes=v1.id, confidence=0.8)
    assert render_fact_line(store.get(v2.id)) == (
        f"[failure {v1.id} v2 2026-11-20T10:00Z conf 0.8] uploads over 5 MB time out "
        "— mitigation: stream them in chunks")


# ----------------------------------------------------------------------------- recall


def test_relevant_facts_puts_pinned_invariants_first_then_ranks_by_text_and_anchors(store, code):
    pinned = store.record("never retry a charge without an idempotency key", "invariant",
                          confidence=0.95)
    anchored = store.record("close() must flush before the socket closes", "observation",
                            about=["Client.close"])
    texty = store.record("the payment webhook arrives twice on retry", "failure")
    unrelated = store.record("docs build needs sphinx 7", "observation")
    gone = store.record("webhook payment retries are logged", "failure")
    store.forget(gone.id, "obsolete")

    ranked = relevant_facts(store, "payment webhook retry arrives twice",
                            {"pkg/client.py:Client.close"}, set(), limit=10)
    ids = [f.id for f, _ in ranked]
    assert ids[0] == pinned.id
    assert set(ids[1:]) == {anchored.id, texty.id}
    assert unrelated.id not in ids and gone.id not in ids
    assert [f.id for f, _ in store.relevant_facts("unrelated words", set(), {"pkg/client.py"}, 5)] == [
        pinned.id, anchored.id]
    assert len(store.relevant_facts("payment webhook", set(), set(), limit=1)) == 1


def test_relevant_facts_scales_stale_facts_down_when_given_current_hashes(store, code):
    fresh = store.record("send batches writes", "observation", about=["Client.send"])
    stale = store.record("save batches writes", "observation", about=["save"])
    code.hashes["pkg/store.py:save"] = "h-save-2"
    ranked = store.relevant_facts("batches writes", set(), set(), 5, current_hash=code.current_hash)
    scores = {f.id: score for f, score in ranked}
    assert scores[fresh.id] > scores[stale.id]


def test_mark_served_counts_and_stamps(store, clock):
    result = store.record("x before y", "invariant")
    clock.now = T0 + timedelta(days=3)
    store.mark_served([result.id, result.id])
    store.mark_served([result.id])
    fact = store.get(result.id)
    assert (fact.served_count, fact.last_served_at) == (2, "2026-11-23T10:00:00Z")
    assert FactStore(store.store_dir).get(result.id) == fact  # each version's newest row wins


# ----------------------------------------------------------------------------- export / import


def fill(store: FactStore, clock: Clock) -> None:
    a = store.record("alpha holds", "invariant", about=["save"], confidence=0.9)
    store.record("beta — ünïcode \"quoted\"", "decision", evidence="see ADR-7", about=["Client.send"])
    clock.now = T0 + timedelta(hours=2)
    store.record("alpha holds mostly", "invariant", supersedes=a.id, confidence=0.85)
    gone = store.record("gamma", "todo")
    store.forget(gone.id, "done")
    store.mark_served([a.id])


def test_export_import_round_trip_is_byte_identical_and_import_is_idempotent(tmp_path, code, clock):
    source = FactStore(tmp_path / "a", code.resolve, clock=clock)
    fill(source, clock)
    exported = export_text(source)
    lines = exported.splitlines()
    assert len(lines) == 4
    keys = [(json.loads(line)["id"], json.loads(line)["version"]) for line in lines]
    assert keys == sorted(keys)
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)

    target = FactStore(tmp_path / "b", code.resolve)
    report = target.import_jsonl(io.StringIO(exported))
    assert (report.added, report.merged, report.errors, report.conflicts) == (4, 0, [], [])
    assert export_text(target) == exported

    again = target.import_jsonl(io.StringIO(exported))
    assert (again.added, again.merged, again.unchanged) == (0, 0, 4)
    assert export_text(target) == exported
    assert source.import_jsonl(io.StringIO(exported)).unchanged == 4
    assert export_text(source) == exported


def test_import_merges_newer_state_of_a_version_forward(tmp_path, code, clock):
    source = FactStore(tmp_path / "a", code.resolve, clock=clock)
    result = source.record("delta", "observation")
    early = export_text(source)
    source.forget(result.id, "wrong")
    late = export_text(source)
    target = FactStore(tmp_path / "b", code.resolve)
    target.import_jsonl(io.StringIO(late))
    assert target.import_jsonl(io.StringIO(early)).unchanged == 1  # status never moves back
    assert target.get(result.id).status == "archived"
    other = FactStore(tmp_path / "c", code.resolve)
    other.import_jsonl(io.StringIO(early))
    assert other.import_jsonl(io.StringIO(late)).merged == 1
    assert export_text(other) == late


def test_a_malformed_import_line_is_reported_by_number_and_the_rest_is_imported(tmp_path, code, clock):
    source = FactStore(tmp_path / "a", code.resolve, clock=clock)
    fill(source, clock)
    lines = export_text(source).splitlines()
    bad_type = json.loads(lines[0]) | {"type": "rumour"}
    text = "\n".join([lines[0], "{not json", lines[1], json.dumps(bad_type), "", lines[2], lines[3]])
    target = FactStore(tmp_path / "b", code.resolve)
    report = target.import_jsonl(io.StringIO(text + "\n"))
    assert [number for number, _ in report.errors] == [2, 4]
    assert "not JSON" in report.errors[0][1] and "rumour" in report.errors[1][1]
    assert report.added == 4
    assert export_text(target) == "\n".join(lines) + "\n"


def test_an_import_that_disagrees_with_a_version_here_is_a_reported_conflict(tmp_path, code, clock):
    store = FactStore(tmp_path / "a", code.resolve, clock=clock)
    result = store.record("epsilon", "observation")
    line = json.loads(export_text(store)) | {"fact": "epsilon, rewritten elsewhere"}
    report = store.import_jsonl(io.StringIO(json.dumps(line) + "\n"))
    assert report.conflicts and report.conflicts[0][0] == 1 and result.id in report.conflicts[0][1]
    assert store.get(result.id).fact == "epsilon"


# ----------------------------------------------------------------------------- storage


def test_facts_survive_other_tables_of_the_database_being_rebuilt(tmp_path, code):
    from indexers.paths import connect

    store = FactStore(tmp_path / "s", code.resolve)
    result = store.record("zeta", "observation")
    db = connect(tmp_path / "s")
    db.create_table("symbols", data=[{"id": "a", "n": 1}])
    db.drop_table("symbols")
    db.create_table("symbols", data=[{"id": "b", "n": 2}])
    assert sorted(db.list_tables().tables) == ["facts", "symbols"]
    assert FactStore(tmp_path / "s").get(result.id).fact == "zeta"


def test_two_store_objects_see_each_others_writes(tmp_path):
    one, two = FactStore(tmp_path / "s"), FactStore(tmp_path / "s")
    first = one.record("eta", "observation")
    second = two.record("theta", "observation")
    two.forget(first.id, "wrong")
    assert one.get(first.id).status == "archived"
    assert {f.id for f in one.list()} == {second.id}


def test_writes_from_many_threads_are_all_kept(tmp_path):
    import threading

    stores = [FactStore(tmp_path / "s"), FactStore(tmp_path / "s")]
    ids: list[str] = []

    def work(store: FactStore, n: int) -> None:
        for i in range(10):
            ids.append(store.record(f"thread fact {n}-{i}", "observation").id)

    threads = [threading.Thread(target=work, args=(stores[n % 2], n)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(ids)) == 40
    assert {f.id for f in FactStore(tmp_path / "s").list()} == set(ids)


def test_compaction_keeps_every_row(tmp_path):
    settings = facts_module.FactSettings(compact_every_versions=5)
    store = FactStore(tmp_path / "s", settings=settings)
    ids = [store.record(f"iota {i}", "observation").id for i in range(12)]
    store.compact()
    assert {f.id for f in FactStore(tmp_path / "s").list()} == set(ids)


def test_a_table_from_a_newer_ctxfold_is_refused(tmp_path, monkeypatch):
    FactStore(tmp_path / "s").record("kappa", "observation")
    monkeypatch.setattr(facts_schema, "SCHEMA_VERSION", 2)
    FactStore(tmp_path / "s2")  # creates a table stamped with schema 2
    monkeypatch.setattr(facts_schema, "SCHEMA_VERSION", 1)
    with pytest.raises(FactStorageError, match="newer than"):
        FactStore(tmp_path / "s2")


def test_an_older_schema_is_migrated_by_rewriting_every_row(tmp_path, monkeypatch):
    old = FactStore(tmp_path / "s")
    first = old.record("lambda", "observation")
    old.record("lambda two", "observation", supersedes=first.id)
    before = export_text(old)
    monkeypatch.setattr(facts_schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(facts_module.MIGRATIONS, 1, lambda row: dict(row))
    new = FactStore(tmp_path / "s")
    assert export_text(new).replace('"schema_version": 2', '"schema_version": 1') == before
    assert list((tmp_path / "s").glob("facts-schema1-backup-*.jsonl"))
    assert new._table.schema.metadata[b"ctxfold.facts.schema_version"] == b"2"


def test_recall_follows_many_forgets_and_new_records(store):
    ids = [store.record(f"shared marker word, variant {i}", "observation").id for i in range(30)]
    assert len(store.relevant_facts("marker", set(), set(), limit=50)) == 30
    for fact_id in ids[:25]:
        store.forget(fact_id, "noise")
    newer = [store.record(f"shared marker again, take {i}", "observation").id for i in range(3)]
    found = [f.id for f, _ in store.relevant_facts("marker", set(), set(), limit=50)]
    assert sorted(found) == sorted(ids[25:] + newer)
    assert store.relevant_facts("variant", set(), set(), limit=50)[0][0].id in ids[25:]


def test_a_reader_notices_a_write_whose_version_note_was_lost(tmp_path):
    settings = facts_module.FactSettings(recheck_s=0.0)
    reader, writer = FactStore(tmp_path / "s", settings=settings), FactStore(tmp_path / "s")
    note = tmp_path / "s" / facts_module.VERSION_NOTE_FILENAME
    first = writer.record("nu", "observation")
    assert reader.get(first.id).fact == "nu"
    stale = note.read_text()
    result = writer.record("mu", "observation")
    note.write_text(stale)  # as if the writer died between its commit and its note
    assert reader.get(result.id).fact == "mu"
