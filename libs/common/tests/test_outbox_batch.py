"""Outbox batch rows: one row standing for many events, expanded by the service's
outbox_batch_events(position) when the relay publishes it (here a toy function of the test)."""

import json

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.events import EventBus, OutboxRelay, emit_event
from mch_common.events import relay as relay_module
from mch_common.ids import uuid7

SERVICE = "batchdemo"

# Each note of the batch becomes an event whose id is derived from the batch row's id.
_TOY_EXPANSION = """
CREATE OR REPLACE FUNCTION outbox_batch_events(batch_position bigint)
RETURNS TABLE (event_id uuid, envelope text, correlation_id text)
LANGUAGE sql STABLE AS $$
    SELECT md5(o.event_id::text || n.note)::uuid,
           json_build_object('specversion', '1.0', 'id', md5(o.event_id::text || n.note)::uuid,
                             'source', '/test', 'type', o.subject, 'tenant', '401005',
                             'data', json_build_object('note', n.note))::text,
           o.envelope->>'correlationid'
    FROM outbox o, jsonb_array_elements_text(o.envelope->'outbox_batch'->'notes')
        WITH ORDINALITY AS n (note, i)
    WHERE o.position = batch_position
    ORDER BY n.i
$$
"""


@pytest.fixture
async def expansion(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(_TOY_EXPANSION))


async def emit_note(sessions: async_sessionmaker[AsyncSession], kind: str, note: str) -> None:
    async with sessions() as s, s.begin():
        await emit_event(
            s,
            source="test",
            type=f"{SERVICE}.{kind}.happened",
            data={"note": note},
            tenant="401005",
        )


async def emit_batch(
    sessions: async_sessionmaker[AsyncSession], kind: str, notes: list[str]
) -> None:
    async with sessions() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO outbox (event_id, subject, envelope)"
                " VALUES (:id, :subject, CAST(:envelope AS jsonb))"
            ),
            {
                "id": uuid7(),
                "subject": f"{SERVICE}.{kind}.happened",
                "envelope": json.dumps({"outbox_batch": {"notes": notes}}),
            },
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
    expansion: None,
) -> None:
    await bus.ensure_stream(SERVICE)
    await emit_note(committed_sessions, "ordered", "before")
    await emit_batch(committed_sessions, "ordered", ["b1", "b2", "b3"])
    await emit_note(committed_sessions, "ordered", "after")
    relay = OutboxRelay(engine, bus.js, bus.naming, batch_size=2)
    # A claim stops after its batch row: the row before it and the batch's three events.
    assert await relay.relay_once() == 4
    assert await relay.relay_once() == 1
    assert await relay.relay_once() == 0
    assert await published_notes(bus, "ordered") == ["before", "b1", "b2", "b3", "after"]


async def test_a_relay_killed_while_publishing_a_batch_publishes_each_event_once(
    committed_sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    bus: EventBus,
    expansion: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await bus.ensure_stream(SERVICE)
    await emit_batch(committed_sessions, "killed", ["k1", "k2", "k3"])
    monkeypatch.setattr(
        relay_module, "_MARK_SENT", text("SELECT pg_terminate_backend(pg_backend_pid())")
    )
    with pytest.raises(Exception):  # noqa: B017, PT011 - the connection dies like a killed relay
        await OutboxRelay(engine, bus.js, bus.naming).relay_once()
    monkeypatch.undo()
    # Published but not marked: the next relay expands the batch again, to the same ids.
    assert await OutboxRelay(engine, bus.js, bus.naming).relay_once() == 3
    # The re-publish was dropped (JetStream's duplicate window, by Nats-Msg-Id).
    assert await published_notes(bus, "killed") == ["k1", "k2", "k3"]
    async with committed_sessions() as s:
        pending = (
            await s.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        ).scalar_one()
    assert pending == 0
