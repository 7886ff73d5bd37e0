"""The audit log: append-only in the database, hash-chained, verified record by record."""

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from mch_common.audit import AuditSealer, seal_pending, verify_chain
from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.work import UnitOfWork

STAFF = Principal(
    sub="staff-0001", tenant="401005", scopes=frozenset(), ward="401064", terminal="T-01"
)


async def _last_seq(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT max(seq) FROM audit_log"))).scalar_one())


async def append_audit(session: AsyncSession, **fields: Any) -> int:
    """One record written at once; returns its seq."""
    work = UnitOfWork(session)  # the test's session was not opened with one
    work.record(**fields)
    await work.flush()
    return await _last_seq(session)


async def _write(session: AsyncSession, n: int) -> list[int]:
    seqs = []
    work = UnitOfWork(session)
    for i in range(n):
        work.record_access(
            STAFF,
            action="person.read",
            target_type="person",
            target_id=f"100000{i:04d}",
            purpose="妊娠届の受付",
        )
        await work.flush()
        seqs.append(await _last_seq(session))
    await seal_pending(session)
    return seqs


async def test_chain_verifies_when_untouched(db_session: AsyncSession) -> None:
    await _write(db_session, 5)
    result = await verify_chain(db_session)
    assert result.ok
    assert result.checked >= 5


async def test_update_and_delete_are_refused_by_the_database(owner_session: AsyncSession) -> None:
    db_session = owner_session  # the trigger itself, as the owner meets it
    seqs = await _write(db_session, 1)
    for statement in (
        "UPDATE audit_log SET actor = 'someone' WHERE seq = :seq",
        "DELETE FROM audit_log WHERE seq = :seq",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with db_session.begin_nested():
                await db_session.execute(text(statement), {"seq": seqs[0]})
    with pytest.raises(DBAPIError, match="append-only"):
        async with db_session.begin_nested():
            await db_session.execute(text("TRUNCATE audit_log"))


async def test_altered_record_is_pinpointed(owner_session: AsyncSession) -> None:
    db_session = owner_session  # the trigger itself, as the owner meets it
    seqs = await _write(db_session, 4)
    # An attacker with superuser rights disables the trigger and edits one record.
    await db_session.execute(
        text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
    )
    await db_session.execute(
        text("UPDATE audit_log SET target_id = '9999999999' WHERE seq = :seq"), {"seq": seqs[2]}
    )
    result = await verify_chain(db_session)
    assert not result.ok
    assert result.first_broken_seq == seqs[2]
    assert result.reason == "record content does not match its hash"


async def test_deleted_record_breaks_the_link(owner_session: AsyncSession) -> None:
    db_session = owner_session  # the trigger itself, as the owner meets it
    seqs = await _write(db_session, 3)
    await db_session.execute(
        text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete")
    )
    await db_session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": seqs[1]})
    result = await verify_chain(db_session)
    assert not result.ok
    assert result.first_broken_seq == seqs[2]
    assert result.reason == "link to the previous record is broken"


async def test_sealed_record_cannot_be_resealed_and_sealing_cannot_change_content(
    owner_session: AsyncSession,
) -> None:
    db_session = owner_session  # the trigger itself, as the owner meets it
    seqs = await _write(db_session, 1)
    with pytest.raises(DBAPIError, match="append-only"):
        async with db_session.begin_nested():
            await db_session.execute(
                text("UPDATE audit_log SET hash = repeat('a', 64) WHERE seq = :seq"),
                {"seq": seqs[0]},
            )
    seq = await append_audit(db_session, actor="x", action="test.unsealed")
    with pytest.raises(DBAPIError, match="append-only"):
        async with db_session.begin_nested():
            await db_session.execute(
                text(
                    "UPDATE audit_log SET hash = repeat('b', 64), chain_pos = 999999, "
                    "prev_hash = repeat('c', 64), actor = 'forged' WHERE seq = :seq"
                ),
                {"seq": seq},
            )


async def test_verification_counts_unsealed_records(db_session: AsyncSession) -> None:
    await _write(db_session, 2)
    await append_audit(db_session, actor="x", action="test.unsealed")
    result = await verify_chain(db_session)
    assert result.ok
    assert result.unsealed == 1


async def test_concurrent_writers_keep_one_chain(engine: AsyncEngine) -> None:
    import asyncio

    from sqlalchemy.ext.asyncio import async_sessionmaker

    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def writer(i: int) -> None:
        async with unit_of_work(sessions) as s:
            UnitOfWork.of(s).record(actor=f"svc:{i}", action="test.concurrent", target_id=str(i))

    await asyncio.gather(*(writer(i) for i in range(20)))
    sealer = AuditSealer(engine)
    while await sealer.seal_once():
        pass
    async with sessions() as s:
        result = await verify_chain(s)
    assert result.ok
    assert result.unsealed == 0
    assert sealer.sealed >= 20


async def test_records_of_every_shape_are_sealed_as_verify_chain_reads_them(
    engine: AsyncEngine,
) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    # The sealer reads its rows on the driver, verify_chain through the ORM: the two must
    # read every column alike, or the chain breaks at the first record that differs.
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with unit_of_work(sessions) as s:
        work = UnitOfWork.of(s)
        work.record(
            actor="batch:notices",
            action="test.shapes",
            detail={
                "ward": "小倉北区",
                "count": 3,
                "ratio": 0.25,
                "big": 10**18,
                "nested": {"b": [1, None, True], "a": "x\ny"},
            },
            persons=["1000000001", "1000000002"],
        )
        work.record(actor="login", action="test.shapes", outcome="failure", terminal="T-9")
        work.record_access(
            STAFF,
            action="test.shapes",
            target_type="person",
            target_id="1000000003",
            purpose="閲覧",
        )
    sealer = AuditSealer(engine)
    while await sealer.seal_once():
        pass
    async with sessions() as s:
        result = await verify_chain(s)
    assert result.ok, result.reason
    assert result.unsealed == 0
    assert sealer.sealed >= 3
