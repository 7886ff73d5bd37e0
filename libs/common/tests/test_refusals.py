"""A refusal's access record outlives the refusal's rollback; records are keyed by person and
the hash chain covers the persons they name."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mch_common.audit import AuditRecord, accesses_to_person, seal_pending, verify_chain
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.errors import Forbidden, NotFound
from mch_common.refusals import refusal, refused_as_miss
from mch_common.work import NoUnitOfWorkError, UnitOfWork

STAFF = Principal(
    sub="staff-0001", tenant="401005", scopes=frozenset(), ward="401064", terminal="T-01"
)


async def _records(session: AsyncSession, action: str) -> list[AuditRecord]:
    stmt = select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)
    return list((await session.execute(stmt)).scalars())


async def test_a_refusal_is_committed_after_the_rollback_that_drops_the_rest(
    sessions: async_sessionmaker[AsyncSession], db_session: AsyncSession
) -> None:
    hidden = refused_as_miss(Forbidden("the record belongs to another ward"), NotFound("nobody"))

    async def refused_lookup() -> None:
        async with unit_of_work(sessions) as session:
            UnitOfWork.of(session).record_access(STAFF, action="test.dropped", target_id="x")
            raise refusal(
                session,
                hidden,
                STAFF,
                action="test.lookup",
                target_type="person",
                target_id="1000000010",
            )

    with pytest.raises(NotFound) as raised:
        await refused_lookup()
    assert raised.value.detail == "nobody"
    assert raised.value.access_recorded
    assert await _records(db_session, "test.dropped") == []
    [record] = await _records(db_session, "test.lookup")
    assert (record.actor, record.terminal, record.outcome) == ("staff-0001", "T-01", "refused")
    assert record.detail["reason"] == "the record belongs to another ward"
    assert record.persons == ["1000000010"]


async def test_a_refusal_needs_a_session_factory(db_session: AsyncSession) -> None:
    async with UnitOfWork.on(db_session):
        with pytest.raises(NoUnitOfWorkError):
            refusal(db_session, NotFound("nobody"), STAFF, action="test.lookup")


async def test_every_record_about_a_person_is_one_query(db_session: AsyncSession) -> None:
    odd = 'a "quoted", back\\slashed {id}'
    async with UnitOfWork.on(db_session) as work:
        work.record_access(STAFF, action="test.list", persons=["P1", "P2", "P1", odd])
        work.record_access(STAFF, action="test.read", target_type="person", target_id="P2")
        work.record_access(STAFF, action="test.case", target_type="case", target_id="P1")
    listed, read = await _records(db_session, "test.list"), await _records(db_session, "test.read")
    assert listed[0].persons == ["P1", "P2", odd]
    assert read[0].persons == ["P2"]
    # A record from before the column: the person was its target.
    await db_session.execute(
        text(
            "INSERT INTO audit_log (occurred_at, actor, action, target_type, target_id, outcome,"
            " detail) VALUES (now(), 'old', 'test.old', 'person', 'P2', 'success', '{}')"
        )
    )
    about = await accesses_to_person(db_session, "P2")
    assert [r.action for r in about[:3]] == ["test.old", "test.read", "test.list"]
    assert [r.action for r in await accesses_to_person(db_session, odd)] == ["test.list"]
    page = await accesses_to_person(db_session, "P2", before=about[0].seq, limit=1)
    assert [r.action for r in page] == ["test.read"]
    # Planner-dependent on a tiny table, so force the choice it makes on a real one.
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        (
            await db_session.execute(
                text("EXPLAIN SELECT seq FROM audit_log WHERE persons @> ARRAY['P2']")
            )
        ).scalars()
    )
    assert "ix_audit_log_persons" in plan


async def test_the_chain_and_the_trigger_cover_the_persons(owner_session: AsyncSession) -> None:
    async with UnitOfWork.on(owner_session) as work:
        work.record_access(STAFF, action="test.list", persons=["P1", "P2"])
    await seal_pending(owner_session)
    [record] = await _records(owner_session, "test.list")
    assert (await verify_chain(owner_session)).ok
    with pytest.raises(DBAPIError, match="append-only"):
        async with owner_session.begin_nested():
            await owner_session.execute(
                text("UPDATE audit_log SET persons = '{}' WHERE seq = :seq"), {"seq": record.seq}
            )
    await owner_session.execute(
        text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
    )
    await owner_session.execute(
        text("UPDATE audit_log SET persons = ARRAY['P1'] WHERE seq = :seq"), {"seq": record.seq}
    )
    result = await verify_chain(owner_session)
    assert not result.ok
    assert result.first_broken_seq == record.seq
