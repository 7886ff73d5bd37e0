"""mch_common.driver_reads: a select of one model sent on the transaction's asyncpg connection
gives the objects the ORM gives for the same rows, detached, in the request's transaction."""

import enum
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    ARRAY,
    Boolean,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    String,
    any_,
    bindparam,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mch_common.db import asyncpg_connection, create_engine, session_factory
from mch_common.driver_reads import columns_for, load_all, load_dicts, load_one, load_rows
from mch_common.ids import uuid7


class _Base(DeclarativeBase):
    pass


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Sample(_Base):
    __tablename__ = "driver_reads_sample"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    owner: Mapped[str] = mapped_column(String(10), index=True)
    # An attribute named apart from its column: the object is filled by attribute.
    label: Mapped[str | None] = mapped_column("label_text", String(50))
    born: Mapped[date | None] = mapped_column(Date)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    tags: Mapped[list[Any] | None] = mapped_column(JSONB)
    colour: Mapped[Colour | None] = mapped_column(Enum(Colour, name="driver_reads_colour"))
    weight: Mapped[Decimal | None] = mapped_column(Numeric(6, 1))
    count: Mapped[int] = mapped_column(Integer)
    flag: Mapped[bool | None] = mapped_column(Boolean)


_OF_OWNER = (
    select(Sample)
    .where(Sample.owner == bindparam("owner"), Sample.count < 5)
    .order_by(Sample.count)
    .limit(10)
)
_BY_ID = select(Sample).where(Sample.id == bindparam("id"))


@pytest.fixture
async def sessions(owner_engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions as a request has them, on a table committed for the test and dropped after."""
    async with owner_engine.begin() as conn:
        await conn.run_sync(_Base.metadata.create_all)
    try:
        yield session_factory(owner_engine)
    finally:
        async with owner_engine.begin() as conn:
            await conn.run_sync(_Base.metadata.drop_all)


def _samples(owner: str) -> list[Sample]:
    tokyo = timezone(timedelta(hours=9))
    return [
        Sample(
            owner=owner,
            label="一",
            born=date(1994, 5, 10),
            seen_at=datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=tokyo),
            details={"ward": "401005", "nested": {"n": [1, 2.5, None, True]}},
            tags=["a", "b"],
            colour=Colour.BLUE,
            weight=Decimal("2280.5"),
            count=1,
            flag=True,
        ),
        Sample(
            owner=owner,
            label=None,
            born=None,
            seen_at=datetime(2026, 1, 1, tzinfo=UTC),
            details={},
            tags=None,
            colour=None,
            weight=None,
            count=2,
            flag=None,
        ),
        # Past the where-clause's fixed value:
        Sample(owner=owner, seen_at=datetime.now(UTC), details={"x": 1}, count=9),
    ]


def _columns(row: Sample) -> dict[str, Any]:
    return {a.key: getattr(row, a.key) for a in inspect(Sample).column_attrs}


async def test_rows_come_back_as_the_orm_loads_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        session.add_all(_samples("p1"))
    async with sessions() as session, session.begin():
        loaded = await load_all(session, _OF_OWNER, owner="p1")
    async with sessions() as session, session.begin():
        orm = list((await session.execute(_OF_OWNER, {"owner": "p1"})).scalars())

    assert [row.count for row in loaded] == [1, 2]  # the fixed value and the limit apply
    for ours, theirs in zip(loaded, orm, strict=True):
        assert _columns(ours) == _columns(theirs)
        assert {k: type(v) for k, v in _columns(ours).items()} == {
            k: type(v) for k, v in _columns(theirs).items()
        }
    first = loaded[0]
    assert first.seen_at.utcoffset() == timedelta(0)  # aware, as the ORM gives it (UTC session)
    assert first.colour is Colour.BLUE
    assert first.details["nested"] == {"n": [1, 2.5, None, True]}


async def test_the_objects_are_detached_and_their_changes_not_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        sample = _samples("p2")[0]
        session.add(sample)
    async with sessions() as session, session.begin():
        row = await load_one(session, _BY_ID, id=sample.id)
        assert row is not None
        state = inspect(row)
        assert state.detached
        assert row not in session
        assert state.identity == (sample.id,)
        row.label = "changed"
    async with sessions() as session, session.begin():
        again = await load_one(session, _BY_ID, id=sample.id)
        assert again is not None
        assert again.label == "一"


async def test_it_reads_in_the_transaction_also_as_its_first_statement(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        assert await load_all(session, _OF_OWNER, owner="p3") == []  # BEGIN sent first
        assert (await asyncpg_connection(session)).is_in_transaction()
        session.add_all(_samples("p3"))
        await session.flush()
        assert len(await load_all(session, _OF_OWNER, owner="p3")) == 2  # its own writes
        await session.rollback()
    async with sessions() as session, session.begin():
        assert await load_all(session, _OF_OWNER, owner="p3") == []


async def test_each_transaction_of_a_session_reads_on_its_own_connection(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The driver is kept for the transaction (mch_common.db): never past its end.
    async with sessions() as session:
        async with session.begin():
            session.add_all(_samples("p5"))
            await session.flush()
            assert len(await load_all(session, _OF_OWNER, owner="p5")) == 2
            await session.rollback()
        async with session.begin():
            assert await load_all(session, _OF_OWNER, owner="p5") == []
            assert (await asyncpg_connection(session)).is_in_transaction()


_OF_OWNERS = select(Sample).where(Sample.owner == any_(bindparam("owners", type_=ARRAY(String))))


async def test_no_row_and_too_many_rows(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add_all(_samples("p4"))
        await session.flush()
        assert len(await load_all(session, _OF_OWNERS, owners=["p4", "nobody"])) == 3  # a list
        assert await load_one(session, _BY_ID, id=uuid7()) is None
        with pytest.raises(MultipleResultsFound):
            await load_one(session, _OF_OWNER, owner="p4")


async def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(
    sessions: async_sessionmaker[AsyncSession], owner_database_url: str, owner_engine: AsyncEngine
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(text("DROP TABLE driver_reads_sample"))
        with pytest.raises(ProgrammingError) as failure:
            await load_all(
                session, select(Sample).where(Sample.owner == bindparam("owner")), owner="secret"
            )
        assert "secret" not in str(failure.value)  # parameters hidden
        await session.rollback()

    pooled = create_engine(owner_database_url, pool_size=1, ping_after_idle=60)
    try:
        async with AsyncSession(pooled) as session:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            async with owner_engine.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as disconnect:
                await load_one(session, _BY_ID, id=uuid7())
            assert disconnect.value.connection_invalidated
            await session.rollback()
    finally:
        await pooled.dispose()


_SUMMARY = select(
    Sample.owner,
    func.jsonb_build_object("n", Sample.count, "colour", Sample.colour).label("summary"),
    Sample.colour,
    Sample.weight,
    Sample.seen_at,
).where(Sample.owner == bindparam("owner"))


async def test_a_select_of_columns_gives_the_rows_session_execute_gives(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        session.add_all(_samples("p6"))
        await session.flush()
        ours = sorted(await load_rows(session, _SUMMARY, owner="p6"), key=str)
        theirs = sorted(
            (tuple(row) for row in await session.execute(_SUMMARY, {"owner": "p6"})), key=str
        )
    assert ours == theirs
    assert [[type(v) for v in row] for row in ours] == [[type(v) for v in row] for row in theirs]
    with pytest.raises(TypeError):
        await load_rows(session, _OF_OWNER, owner="p6")  # a model's select: load_all


class SampleOut(BaseModel):
    """An answer's model of some of Sample's columns (one named apart from its column)."""

    model_config = ConfigDict(from_attributes=True)

    id: UUID
    label: str | None
    seen_at: datetime
    details: dict[str, Any]
    colour: Colour | None
    weight: Decimal | None
    count: int


_SAMPLE_OUT = (
    select(*columns_for(SampleOut, Sample))
    .where(Sample.owner == bindparam("owner"))
    .order_by(Sample.count)
)


async def test_rows_as_dicts_are_what_the_model_reads_from_the_objects(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        session.add_all(_samples("p7"))
        await session.flush()
        ours = await load_dicts(session, _SAMPLE_OUT, owner="p7")
        assert await load_dicts(session, _SAMPLE_OUT, owner="nobody") == []
        mappings = [
            dict(row) for row in (await session.execute(_SAMPLE_OUT, {"owner": "p7"})).mappings()
        ]
        objects = (
            await session.scalars(select(Sample).where(Sample.owner == "p7").order_by(Sample.count))
        ).all()
    assert ours == mappings
    assert list(ours[0]) == list(SampleOut.model_fields)  # "label", not its column's name
    assert [SampleOut.model_validate(row) for row in ours] == [
        SampleOut.model_validate(o) for o in objects
    ]
    assert ours[0]["colour"] is Colour.BLUE
    assert ours[0]["weight"] == Decimal("2280.5")


def test_a_model_of_what_is_not_a_column_is_refused() -> None:
    class WithName(BaseModel):
        id: UUID
        full_name: str

    with pytest.raises(TypeError, match="full_name"):
        columns_for(WithName, Sample)


def test_only_a_select_of_one_model_without_in_lists_is_taken(owner_engine: AsyncEngine) -> None:
    from mch_common.driver_reads import _compiled

    with pytest.raises(TypeError):
        _compiled(select(Sample.id, Sample.owner), owner_engine.dialect, entity=True)
    with pytest.raises(TypeError):
        _compiled(select(Sample).where(Sample.count.in_((1, 2))), owner_engine.dialect, entity=True)
