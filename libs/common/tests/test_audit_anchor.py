"""The chain head anchored on JetStream: deleting the newest records, or re-hashing the chain
after an edit, shows against the latest anchor."""

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mch_common.audit import AuditRecord, AuditSealer, record_hash, seal_pending, verify_chain
from mch_common.audit_anchor import AuditAnchors, ChainAnchor
from mch_common.db import session_factory, unit_of_work
from mch_common.events.bus import EventBus
from mch_common.work import UnitOfWork

HASHED = (
    "chain_pos",
    "seq",
    "occurred_at",
    "actor",
    "terminal",
    "action",
    "target_type",
    "target_id",
    "purpose",
    "outcome",
    "detail",
    "correlation_id",
)


async def _write_and_seal(session: AsyncSession, n: int) -> None:
    work = UnitOfWork(session)
    for i in range(n):
        work.record(actor="staff-0001", action="test.anchor", target_id=f"200000{i:04d}")
    await work.flush()
    await seal_pending(session)


async def test_anchors_round_trip_and_can_be_forgotten(bus: EventBus) -> None:
    anchors = AuditAnchors(bus, "anchor_roundtrip")
    await anchors.ensure_stream()
    assert await anchors.latest() is None
    first = await anchors.publish(chain_pos=3, hash="a" * 64)
    assert await anchors.latest() == first
    await anchors.forget()
    assert await anchors.latest() is None


async def test_the_sealer_anchors_the_head_once_per_move(
    bus: EventBus, engine: AsyncEngine
) -> None:
    anchors = AuditAnchors(bus, "anchor_sealer")
    await anchors.ensure_stream()
    sealer = AuditSealer(engine, anchors=anchors)
    async with unit_of_work(session_factory(engine)) as session:
        UnitOfWork.of(session).record(actor="svc:test", action="test.anchor")
    await sealer.finish()
    anchor = await anchors.latest()
    assert anchor is not None
    assert await sealer.anchor() is None  # the head did not move
    async with session_factory(engine)() as session:
        assert (await verify_chain(session, anchor=anchor)).ok


async def test_a_rehashed_chain_differs_from_its_anchor(owner_session: AsyncSession) -> None:
    await _write_and_seal(owner_session, 4)
    rows = (
        (await owner_session.execute(select(AuditRecord).order_by(AuditRecord.chain_pos)))
        .scalars()
        .all()
    )
    head = rows[-1]
    assert head.chain_pos is not None
    assert head.hash is not None
    anchor = ChainAnchor("demo", head.chain_pos, head.hash, head.occurred_at)
    # The owner edits a record and re-hashes everything after it: the chain holds together.
    await owner_session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    edited = rows[-3]
    prev = edited.prev_hash
    for row in rows[-3:]:
        fields = {column: getattr(row, column) for column in HASHED}
        fields["target_id"] = "9999999999" if row is edited else row.target_id
        digest = record_hash(prev or "", fields)
        await owner_session.execute(
            text("UPDATE audit_log SET target_id = :t, prev_hash = :p, hash = :h WHERE seq = :s"),
            {"t": fields["target_id"], "p": prev, "h": digest, "s": row.seq},
        )
        prev = digest
    owner_session.expunge_all()
    assert (await verify_chain(owner_session)).ok  # without the anchor nothing shows
    result = await verify_chain(owner_session, anchor=anchor)
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_pos) == (head.seq, head.chain_pos)
    assert result.reason is not None
    assert "anchor" in result.reason
