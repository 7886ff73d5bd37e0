"""The unit of work: events and access records queued, written together in one statement just
before commit (or at `flush()`), never after a rollback, and with their savepoint."""

import subprocess
import sys
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from sqlalchemy import String, event, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mch_common.auth.principal import Principal
from mch_common.db import unit_of_work
from mch_common.events import CloudEvent
from mch_common.events.catalogue import EventPayload
from mch_common.events.envelope import envelope_json
from mch_common.events.tables import OutboxEvent
from mch_common.ids import uuid7
from mch_common.work import NoUnitOfWorkError, UnitOfWork

Sessions = async_sessionmaker[AsyncSession]
STAFF = Principal(
    sub="staff-1", tenant="401005", scopes=frozenset(), roles=("hoken",), ward="401064"
)


def emit(session: AsyncSession, note: str) -> str:
    """The event's id."""
    return UnitOfWork.of(session).emit(
        source="test", type="work.test.happened", data={"note": note}, tenant="401005"
    )


async def outbox_ids(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(OutboxEvent.event_id).order_by(OutboxEvent.position))
        return [str(event_id) for event_id in rows.scalars()]


async def audit_actions(sessions: Sessions, prefix: str) -> list[str]:
    """The test's records (the audit log is append-only: other tests' records stay)."""
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT action FROM audit_log WHERE starts_with(action, :p) ORDER BY seq"),
            {"p": prefix},
        )
        return list(rows.scalars())


@pytest.fixture
def statements(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The SQL statements sent to PostgreSQL, in order: through SQLAlchemy, and straight on
    the asyncpg connection (mch_common.db.execute_on_driver; BEGIN and COMMIT too)."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    driver_execute = asyncpg.Connection.execute

    async def execute(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await driver_execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", execute)
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_events_and_access_records_go_in_one_statement_whatever_their_order(
    committed_sessions: Sessions, statements: list[str]
) -> None:
    async with unit_of_work(committed_sessions) as session:
        work = UnitOfWork.of(session)
        work.record_access(STAFF, action="work.one.read", target_type="person", target_id="1")
        first = emit(session, "first")
        work.record(actor="svc:job", action="work.one.job")
        second = emit(session, "second")
        assert statements == []  # queued: no round trip of its own
    writes = [s for s in statements if s.startswith(("WITH", "INSERT"))]
    assert len(writes) == 1
    assert writes[0].startswith("WITH events AS (INSERT INTO outbox")
    assert await outbox_ids(committed_sessions) == [first, second]
    assert await audit_actions(committed_sessions, "work.one.") == ["work.one.read", "work.one.job"]


async def test_a_read_sees_the_transaction_s_own_writes_after_flush(
    committed_sessions: Sessions,
) -> None:
    async with unit_of_work(committed_sessions) as session:
        seen = emit(session, "read back")
        await UnitOfWork.of(session).flush()
        count = await session.execute(text("SELECT count(*) FROM outbox"))
        assert count.scalar_one() == 1
        at_commit = emit(session, "at commit")
    assert await outbox_ids(committed_sessions) == [seen, at_commit]


async def test_a_rolled_back_unit_of_work_writes_nothing(committed_sessions: Sessions) -> None:
    async def failing_work() -> None:
        async with unit_of_work(committed_sessions) as session:
            emit(session, "doomed")
            UnitOfWork.of(session).record_access(STAFF, action="work.doomed.read")
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        await failing_work()
    assert await outbox_ids(committed_sessions) == []
    assert await audit_actions(committed_sessions, "work.doomed.") == []


async def test_savepoints_keep_their_own_events_and_records(committed_sessions: Sessions) -> None:
    async with unit_of_work(committed_sessions) as session:
        work = UnitOfWork.of(session)
        before = emit(session, "queued before the savepoint")

        async def failing_message() -> None:
            async with work.savepoint():
                emit(session, "inside a savepoint rolled back")
                work.record_access(STAFF, action="work.savepoint.read")
                raise RuntimeError("one message failed")

        with pytest.raises(RuntimeError):
            await failing_message()
        async with work.savepoint():
            inside = emit(session, "inside a savepoint released")
    assert await outbox_ids(committed_sessions) == [before, inside]
    assert await audit_actions(committed_sessions, "work.savepoint.") == []


async def test_a_session_opened_without_a_unit_of_work_refuses_to_queue(
    committed_sessions: Sessions,
) -> None:
    async with committed_sessions() as session, session.begin():
        with pytest.raises(NoUnitOfWorkError):
            emit(session, "nobody would write this")


def test_mch_common_work_can_be_the_first_module_imported() -> None:
    # A job's module importing the unit of work before anything else of mch_common used to
    # meet a half-made module (work -> events -> consumer -> work).
    done = subprocess.run(
        [sys.executable, "-c", "import mch_common.work"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-500:]


class _Base(DeclarativeBase):
    pass


class Queued(_Base):
    """A row queued with `UnitOfWork.insert`: a Python-side default and a JSON column."""

    __tablename__ = "work_queued_row"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    note: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)


@pytest.fixture
async def queued_table(owner_engine: AsyncEngine) -> None:
    async with owner_engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)


async def queued_rows(sessions: Sessions) -> list[tuple[str, dict[str, Any]]]:
    async with sessions() as session:
        rows = await session.execute(select(Queued.note, Queued.data).order_by(Queued.note))
        return [(note, data) for note, data in rows]


@pytest.mark.usefixtures("queued_table")
async def test_queued_rows_go_with_the_events_and_records_in_one_statement(
    committed_sessions: Sessions, statements: list[str]
) -> None:
    async with unit_of_work(committed_sessions) as session:
        work = UnitOfWork.of(session)
        first = Queued(note="first", data={"items": ["95"]})
        work.insert(first)
        work.record_access(STAFF, action="work.rows.read", target_type="person", target_id="1")
        event = emit(session, "with rows")
        work.insert(Queued(note="second", data={}))
        assert first.id.version == 7  # its defaults set when queued
        assert statements == []
    writes = [s for s in statements if s.startswith(("WITH", "INSERT"))]
    assert len(writes) == 1
    assert await queued_rows(committed_sessions) == [("first", {"items": ["95"]}), ("second", {})]
    assert await outbox_ids(committed_sessions) == [event]
    assert await audit_actions(committed_sessions, "work.rows.") == ["work.rows.read"]

    # Rows alone, and rows with records alone: the same one statement.
    for with_record in (False, True):
        async with unit_of_work(committed_sessions) as session:
            UnitOfWork.of(session).insert(Queued(note=f"alone {with_record}", data={}))
            if with_record:
                UnitOfWork.of(session).record(actor="svc:job", action="work.rows.job")
    assert len([s for s in statements if s.startswith(("WITH", "INSERT"))]) == 3
    assert [n for n, _ in await queued_rows(committed_sessions)][:2] == [
        "alone False",
        "alone True",
    ]
    assert await audit_actions(committed_sessions, "work.rows.") == [
        "work.rows.read",
        "work.rows.job",
    ]


@pytest.mark.usefixtures("queued_table")
async def test_a_queued_row_that_fails_fails_the_whole_unit_of_work(
    committed_sessions: Sessions,
) -> None:
    taken = uuid7()

    async def duplicate() -> None:
        async with unit_of_work(committed_sessions) as session:
            work = UnitOfWork.of(session)
            work.insert(Queued(id=taken, note="one", data={}))
            work.insert(Queued(id=taken, note="two", data={}))
            work.record(actor="svc:job", action="work.failed_row.job")
            emit(session, "doomed with its row")

    with pytest.raises(IntegrityError):
        await duplicate()
    assert await queued_rows(committed_sessions) == []
    assert await outbox_ids(committed_sessions) == []
    assert await audit_actions(committed_sessions, "work.failed_row.") == []


@pytest.mark.usefixtures("queued_table")
async def test_a_rolled_back_savepoint_drops_its_queued_rows(committed_sessions: Sessions) -> None:
    async with unit_of_work(committed_sessions) as session:
        work = UnitOfWork.of(session)

        async def failing_message() -> None:
            async with work.savepoint():
                work.insert(Queued(note="dropped", data={}))
                raise RuntimeError("one message failed")

        with pytest.raises(RuntimeError):
            await failing_message()
        async with work.savepoint():
            work.insert(Queued(note="kept", data={}))
    assert await queued_rows(committed_sessions) == [("kept", {})]


class _Happened(EventPayload):
    case_id: UUID
    on: date
    note: str


async def test_the_envelope_written_is_the_cloud_event_model_s_own_json(
    committed_sessions: Sessions,
) -> None:
    """emit writes the envelope from its values (mch_common.events.envelope.envelope_json):
    the text is what the CloudEvent model would write, field for field and in its order."""
    payload = _Happened(case_id=uuid7(), on=date(2027, 5, 1), note="北九州 区役所")
    async with unit_of_work(committed_sessions) as session:
        event_id = UnitOfWork.of(session).emit(
            source="urn:mch:401005:test",
            type="work.envelope.happened",
            subject="s-1",
            data=payload,
            tenant="401005",
        )
        as_mapping = UnitOfWork.of(session).emit(
            source="urn:mch:401005:test",
            type="work.envelope.happened",
            data={"on": date(2027, 5, 1), "n": 1},
            tenant="401005",
        )
    async with committed_sessions() as session:
        rows = await session.execute(
            text(
                "SELECT envelope::text FROM outbox WHERE event_id = ANY(CAST(:ids AS uuid[]))"
                " ORDER BY position"
            ),
            {"ids": [event_id, as_mapping]},
        )
        stored = [CloudEvent.model_validate_json(envelope) for envelope in rows.scalars()]
    assert [event.id for event in stored] == [event_id, as_mapping]
    assert stored[0].data == payload.model_dump(mode="json")
    assert stored[0].subject == "s-1"
    assert stored[0].source == "urn:mch:401005:test"
    assert stored[1].data == {"on": "2027-05-01", "n": 1}
    assert stored[1].subject is None


def test_envelope_json_writes_what_the_model_writes() -> None:
    payload = _Happened(case_id=uuid7(), on=date(2027, 5, 1), note="妊娠届出")
    event_id, text_ = envelope_json(
        source="urn:mch:401005:test",
        type="work.envelope.happened",
        subject=None,
        data=payload,
        tenant="401005",
        correlationid="c-1",
    )
    event = CloudEvent.model_validate_json(text_)
    assert event.id == event_id
    assert UUID(event_id).version == 7
    assert event.model_dump_json() == text_  # same fields, same order, same formats
    assert event.time.tzinfo is not None
