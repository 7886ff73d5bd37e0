"""Events queued on the session: written with the next statement's round trip or at commit,
never after a rollback, and never outside a savepoint that was rolled back."""

from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mch_common.audit import append_audit
from mch_common.events import CloudEvent, emit_event
from mch_common.events.tables import OutboxEvent

Sessions = async_sessionmaker[AsyncSession]


async def emit(session: AsyncSession, note: str) -> CloudEvent:
    return await emit_event(
        session, source="test", type="queue.test.happened", data={"note": note}, tenant="401005"
    )


async def outbox_ids(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxEvent.event_id).order_by(OutboxEvent.position))
        return [str(event_id) for event_id in rows.scalars()]


@pytest.fixture
def statements(engine: AsyncEngine) -> Any:
    """The SQL statements sent to PostgreSQL, in order."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_an_event_and_the_access_record_after_it_go_in_one_statement(
    committed_sessions: Sessions, statements: list[str]
) -> None:
    async with committed_sessions() as session, session.begin():
        first = await emit(session, "first")
        second = await emit(session, "second")
        assert statements == []  # queued: no round trip of its own
        await append_audit(session, actor="staff", action="queue.test")
    assert len(statements) == 1
    assert statements[0].startswith("WITH queued_events AS (INSERT INTO outbox")
    assert await outbox_ids(committed_sessions) == [first.id, second.id]


async def test_a_queued_event_is_written_before_the_next_statement_and_at_commit(
    committed_sessions: Sessions,
) -> None:
    async with committed_sessions() as session, session.begin():
        seen = await emit(session, "read back")
        # The transaction's own reads see its events.
        count = await session.execute(text("SELECT count(*) FROM outbox"))
        assert count.scalar_one() == 1
        at_commit = await emit(session, "at commit")
    assert await outbox_ids(committed_sessions) == [seen.id, at_commit.id]


async def test_a_rolled_back_transaction_leaves_no_queued_event_behind(
    committed_sessions: Sessions,
) -> None:
    async with committed_sessions() as session:

        async def failing_work() -> None:
            async with session.begin():
                await emit(session, "doomed")
                raise RuntimeError("the work failed")

        with pytest.raises(RuntimeError):
            await failing_work()
        # The same session's next transaction must not carry the doomed event along.
        async with session.begin():
            kept = await emit(session, "kept")
    assert await outbox_ids(committed_sessions) == [kept.id]


async def test_savepoints_keep_their_own_events(committed_sessions: Sessions) -> None:
    async with committed_sessions() as session, session.begin():

        async def failing_message() -> None:
            async with session.begin_nested():
                await emit(session, "inside a savepoint rolled back")
                await session.execute(text("SELECT 1"))
                raise RuntimeError("one message failed")

        before = await emit(session, "queued before the savepoint")
        with pytest.raises(RuntimeError):
            await failing_message()
        async with session.begin_nested():
            inside = await emit(session, "inside a savepoint released")
    assert sorted(await outbox_ids(committed_sessions)) == sorted([before.id, inside.id])


async def test_an_event_before_the_session_began_is_written_at_once(
    committed_sessions: Sessions,
) -> None:
    session = committed_sessions()
    abandoned = await emit(session, "session closed without commit")
    await session.close()  # rolled back
    # The same session object, used again, carries nothing along.
    async with session.begin():
        kept = await emit(session, "kept")
    await session.close()
    assert await outbox_ids(committed_sessions) == [kept.id]
    assert abandoned.id != kept.id
