"""Outbox batch rows (mch_common.events.batch): one row standing for many events, written by
any service through `emit_events` and expanded by the relay itself. `batchdemo` is a second,
test-only service: nothing of it is known to the library."""

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.db import unit_of_work
from mch_common.events import (
    CloudEvent,
    EventBus,
    OutboxRelay,
    emit_events,
    read_outbox,
)
from mch_common.events import relay as relay_module
from mch_common.events.batch import BatchRow, batch_row, batch_row_of, expand_batch
from mch_common.events.catalogue import EventPayload, EventType
from mch_common.events.outbox import MyNumberInEventError
from mch_common.logs import correlation_id
from mch_common.migrations import has_lz4
from mch_common.mynumber import generate_my_number
from mch_common.work import UnitOfWork

SERVICE = "batchdemo"
SOURCE = "urn:mch:401005:batchdemo"


class Note(BaseModel):
    note: str


class TypedNote(EventPayload):
    note: str


async def emit_note(sessions: async_sessionmaker[AsyncSession], kind: str, note: str) -> None:
    async with unit_of_work(sessions) as s:
        UnitOfWork.of(s).emit(
            source=SOURCE,
            type=f"{SERVICE}.{kind}.happened",
            data={"note": note},
            tenant="401005",
        )


async def emit_batch(
    sessions: async_sessionmaker[AsyncSession], kind: str, notes: list[str]
) -> None:
    async with sessions() as s, s.begin():
        await emit_events(
            s,
            source=SOURCE,
            type=f"{SERVICE}.{kind}.happened",
            tenant="401005",
            items=[(f"n-{note}", Note(note=note)) for note in notes],
        )


async def published_notes(bus: EventBus, kind: str) -> list[str]:
    """The notes of the stream's `kind` events, in stream order (duplicates included)."""
    stream = bus.naming.stream(SERVICE)
    info = await bus.js.stream_info(stream)
    notes = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await bus.js.get_msg(stream, seq)
        if message.subject == bus.naming.subject(f"{SERVICE}.{kind}.happened"):
            notes.append(json.loads(message.data or b"{}")["data"]["note"])
    return notes


async def test_a_batch_row_is_published_as_its_events_in_order(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
) -> None:
    await bus.ensure_stream(SERVICE)
    await emit_note(committed_sessions, "ordered", "before")
    await emit_batch(committed_sessions, "ordered", ["b1", "b2", "b3"])
    await emit_note(committed_sessions, "ordered", "after")
    relay = OutboxRelay(engine, bus.nc, bus.naming, batch_size=2)
    # A claim stops after its batch row: the row before it and the batch's three events.
    assert await relay.relay_once() == 4
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert await published_notes(bus, "ordered") == ["before", "b1", "b2", "b3", "after"]


async def test_a_relay_killed_while_publishing_a_batch_publishes_each_event_once(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await bus.ensure_stream(SERVICE)
    await emit_batch(committed_sessions, "killed", ["k1", "k2", "k3"])
    monkeypatch.setattr(
        relay_module, "_MARK_SENT", text("SELECT pg_terminate_backend(pg_backend_pid())")
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - the connection dies like a killed relay
        await OutboxRelay(engine, bus.nc, bus.naming).relay_once()
    monkeypatch.undo()
    # Published but not marked: the next relay expands the batch again, to the same ids.
    assert await OutboxRelay(engine, bus.nc, bus.naming).relay_once() == 3
    # The re-publish was dropped (JetStream's duplicate window, by Nats-Msg-Id).
    assert await published_notes(bus, "killed") == ["k1", "k2", "k3"]
    async with committed_sessions() as s:
        pending = (
            await s.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()
    assert pending == 0


async def test_a_batch_row_expands_to_complete_cloudevents_with_stable_ids(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    token = correlation_id.set("corr-batch")
    try:
        await emit_batch(committed_sessions, "expanded", ["e1", "e2"])
    finally:
        correlation_id.reset(token)
    async with committed_sessions() as s:
        first = await read_outbox(s)
        again = await read_outbox(s)
        (row,) = (await s.execute(text("SELECT event_id FROM outbox"))).scalars()
    assert first == again  # the same ids on every expansion
    events = [CloudEvent.model_validate(e) for e in first]
    assert [(e.source, e.type, e.subject, e.data, e.tenant, e.correlationid) for e in events] == [
        (SOURCE, f"{SERVICE}.expanded.happened", f"n-{n}", {"note": n}, "401005", "corr-batch")
        for n in ("e1", "e2")
    ]
    assert len({e.id for e in events}) == 2
    # UUIDv7s with the batch row's timestamp.
    assert all(e.id[14] == "7" and e.id[:13] == str(row)[:13] for e in events)


async def test_a_batch_with_a_my_number_in_any_payload_is_refused_whole(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    with pytest.raises(MyNumberInEventError):
        await emit_batch(committed_sessions, "refused", ["fine", f"no {generate_my_number()}"])
    async with committed_sessions() as s:
        assert await read_outbox(s) == []


def test_a_my_number_typed_in_full_width_in_a_batch_payload_is_refused() -> None:
    """The guard's first look finds runs of ASCII digits, of full-width digits and of both."""
    number = generate_my_number()
    full_width = number.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for written in (full_width, number[:5] + full_width[5:]):
        with pytest.raises(MyNumberInEventError):
            batch_row(
                source=SOURCE,
                type="t",
                tenant="401005",
                items=[("a", json.dumps({"note": f"番号{written}です"}, ensure_ascii=False))],
            )
    # Full-width text that holds no My Number passes: digits that fail the check digit, and
    # full-width brackets, dashes and letters around other text.
    wrong = full_width[:11] + "０１２３４５６７８９"[(int(number[11]) + 1) % 10]
    fine = ["（株）北九州　１－２－３", f"番号{wrong}", "ＡＢＣ" * 20]
    row = batch_row(
        source=SOURCE,
        type="t",
        tenant="401005",
        items=[(str(n), json.dumps({"note": t}, ensure_ascii=False)) for n, t in enumerate(fine)],
    )
    assert row.count == 3


def test_payloads_made_as_the_batch_takes_them_give_the_same_events() -> None:
    subjects = [f"n-{n}" for n in range(2500)]  # three slices of the compressor
    made: list[int] = []

    def payloads() -> Iterator[bytes]:
        for n in range(2500):
            made.append(n)
            yield json.dumps({"note": n}).encode()

    row = batch_row_of(
        source=SOURCE, type="t", tenant="401005", subjects=subjects, payloads=payloads()
    )
    listed = batch_row(
        source=SOURCE,
        type="t",
        tenant="401005",
        items=[(f"n-{n}", json.dumps({"note": n})) for n in range(2500)],
    )
    assert made == list(range(2500))
    assert row.count == listed.count == 2500

    def events(batch: BatchRow) -> list[tuple[str, object]]:
        expanded = expand_batch(batch.event_id, "t", json.loads(batch.envelope))
        return [(e["subject"], e["data"]) for e in (json.loads(text) for _, text in expanded)]

    assert events(row) == events(listed) == [(f"n-{n}", {"note": n}) for n in range(2500)]
    with pytest.raises(ValueError, match="one payload per subject"):
        batch_row_of(
            source=SOURCE, type="t", tenant="401005", subjects=subjects, payloads=iter([b"{}"])
        )
    with pytest.raises(MyNumberInEventError):
        batch_row_of(
            source=SOURCE,
            type="t",
            tenant="401005",
            subjects=["a", "b"],
            payloads=iter([b"{}", json.dumps({"n": generate_my_number()}).encode()]),
        )


async def test_a_catalogue_type_emits_many_after_what_was_queued_before(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    noted = EventType(SERVICE, f"{SERVICE}.typed.happened", TypedNote)
    async with unit_of_work(committed_sessions) as s:
        work = UnitOfWork.of(s)
        noted.emit(work, tenant="401005", subject="n-first", data=TypedNote(note="first"))
        await noted.emit_many(
            work, tenant="401005", items=[(f"n-{n}", TypedNote(note=n)) for n in ("m1", "m2")]
        )
    async with committed_sessions() as s:
        events = await read_outbox(s)
    assert [(e["subject"], e["data"]["note"], e["source"]) for e in events] == [
        ("n-first", "first", SOURCE),
        ("n-m1", "m1", SOURCE),
        ("n-m2", "m2", SOURCE),
    ]


async def test_a_large_batch_row_is_kept_compressed_by_lz4_and_read_back_whole(
    committed_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The platform tables' outbox compresses envelopes with lz4 where the server has it
    (migrations.compress_outbox_with_lz4): a batch row of megabytes goes through it, and reads
    back whole either way."""
    notes = [f"{n:06d} {'ほぼ同じ文面の記録 ' * 8}" for n in range(20_000)]
    await emit_batch(committed_sessions, "large", notes)
    async with committed_sessions() as s:
        method, stored, whole, event_id, subject, envelope = (
            await s.execute(
                text(
                    "SELECT pg_column_compression(envelope), pg_column_size(envelope),"
                    " octet_length(envelope::text), event_id, subject, envelope"
                    " FROM outbox WHERE subject = :subject"
                ),
                {"subject": f"{SERVICE}.large.happened"},
            )
        ).one()
    async with committed_sessions() as s:
        server_has_lz4 = await s.run_sync(lambda sync: has_lz4(sync.connection()))
    if server_has_lz4:
        assert method == "lz4"
        assert stored < whole
    events = [json.loads(event) for _, event in expand_batch(event_id, subject, envelope)]
    assert [event["data"]["note"] for event in events] == notes
