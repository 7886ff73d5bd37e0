"""insert_new: one INSERT outside the unit of work, with the model's Python-side defaults."""

from uuid import UUID

from sqlalchemy import String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mch_common.db import insert_new
from mch_common.ids import uuid7


class _Base(DeclarativeBase):
    pass


class Sample(_Base):
    __tablename__ = "insert_new_sample"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    status: Mapped[str] = mapped_column(String(10), default="open")
    note: Mapped[str | None] = mapped_column(String(50))
    created: Mapped[str] = mapped_column(String(40), server_default=func.now().cast(String))


async def test_insert_new_writes_the_row_and_sets_python_defaults(db_session: AsyncSession) -> None:
    # DDL inside the test's transaction: rolled back with it.
    await (await db_session.connection()).run_sync(_Base.metadata.create_all)
    row = Sample(note=None)

    await insert_new(db_session, row)

    assert row.id.version == 7
    assert row.status == "open"
    assert row not in db_session  # outside the unit of work: nothing is flushed twice
    stored = (await db_session.execute(select(Sample.__table__))).one()
    assert (stored.id, stored.status, stored.note) == (row.id, "open", None)
    assert stored.created  # the server default was left to the database
