"""Statements of the replica (the tenant's rows only)."""

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from intermediate_server.replica.models import ReplicaEntry


class ReplicaRecord(Protocol):
    """What an answer needs of an entry (the ORM row or the provider's one-statement read)."""

    @property
    def item_no(self) -> str: ...
    @property
    def record_key(self) -> str: ...
    @property
    def as_of(self) -> datetime: ...
    @property
    def no_auto_response(self) -> bool: ...
    @property
    def data(self) -> dict[str, Any]: ...


# A registration older than what is held changes nothing (events may come out of order).
_UPSERT = text(
    "INSERT INTO replica_entry (id, tenant, person_no, item_no, record_key, as_of, "
    "no_auto_response, data) VALUES (:id, :tenant, :person_no, :item_no, :record_key, :as_of, "
    ":no_auto_response, CAST(:data AS jsonb)) "
    "ON CONFLICT (tenant, person_no, item_no, record_key) DO UPDATE SET "
    "as_of = excluded.as_of, no_auto_response = excluded.no_auto_response, "
    "data = excluded.data, registered_at = now() "
    "WHERE replica_entry.as_of <= excluded.as_of RETURNING id"
)
_ENTRIES = (
    select(ReplicaEntry)
    .where(
        ReplicaEntry.person_no == bindparam("person_no"),
        ReplicaEntry.item_no.in_(bindparam("items", expanding=True)),
    )
    .order_by(ReplicaEntry.item_no, ReplicaEntry.as_of)
)


async def upsert(session: AsyncSession, **values: Any) -> bool:
    """True when the entry is now the registered one."""
    return (await session.execute(_UPSERT, values)).first() is not None


_ENTRY = select(ReplicaEntry).where(
    ReplicaEntry.person_no == bindparam("person_no"),
    ReplicaEntry.item_no == bindparam("item_no"),
    ReplicaEntry.record_key == bindparam("record_key"),
)


async def entry(
    session: AsyncSession, person_no: str, item_no: str, record_key: str
) -> ReplicaEntry | None:
    params = {"person_no": person_no, "item_no": item_no, "record_key": record_key}
    return (await session.scalars(_ENTRY, params)).one_or_none()


async def entries(session: AsyncSession, person_no: str, items: list[str]) -> list[ReplicaEntry]:
    return list((await session.scalars(_ENTRIES, {"person_no": person_no, "items": items})).all())
