"""Statements of the move-in inquiries."""

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.moving_in.models import PreviousCityRecord, PreviousCityRequest
from mch_common.driver_reads import load_all

_QUEUE = text(
    "INSERT INTO previous_city_requests (id, person_no, source_municipality, moved_in_on, "
    "item_no, status, attempts) VALUES (:id, :person_no, :source, :moved_in_on, :item_no, "
    "'pending', 0) ON CONFLICT (person_no, source_municipality, moved_in_on, item_no) DO NOTHING"
)
_CLAIM = (
    select(PreviousCityRequest)
    .where(PreviousCityRequest.status.in_(("pending", "held")))
    .order_by(PreviousCityRequest.requested_at)
    .with_for_update(skip_locked=True)
)
_KEEP_RECORD = text(
    "INSERT INTO previous_city_records (id, person_no, source_municipality, item_no, record_key, "
    "as_of, received_at, programme_code, taken, taken_on, data) VALUES (:id, :person_no, "
    ":source, :item_no, :record_key, :as_of, now(), :programme_code, :taken, :taken_on, "
    "CAST(:data AS jsonb)) ON CONFLICT (person_no, source_municipality, item_no, record_key) "
    "DO UPDATE SET as_of = excluded.as_of, received_at = excluded.received_at, "
    "programme_code = excluded.programme_code, taken = excluded.taken, "
    "taken_on = excluded.taken_on, data = excluded.data "
    "WHERE previous_city_records.as_of <= excluded.as_of"
)


async def queue(
    session: AsyncSession,
    *,
    id: Any,
    person_no: str,
    source: str,
    moved_in_on: date,
    item_no: str,
) -> None:
    await session.execute(
        _QUEUE,
        {
            "id": id,
            "person_no": person_no,
            "source": source,
            "moved_in_on": moved_in_on,
            "item_no": item_no,
        },
    )


async def claim(session: AsyncSession, limit: int) -> Sequence[PreviousCityRequest]:
    return (await session.scalars(_CLAIM.limit(limit))).all()


async def keep_record(session: AsyncSession, **values: Any) -> None:
    await session.execute(_KEEP_RECORD, values)


_RECORDS_OF = (
    select(PreviousCityRecord)
    .where(PreviousCityRecord.person_no == bindparam("person_no"))
    .order_by(PreviousCityRecord.taken_on, PreviousCityRecord.as_of, PreviousCityRecord.record_key)
)
_RECORDS_OF_ITEM = _RECORDS_OF.where(PreviousCityRecord.item_no == bindparam("item_no"))


async def records_of(
    session: AsyncSession, person_no: str, *, item_no: str | None = None
) -> Sequence[PreviousCityRecord]:
    """Read-only (mch_common.driver_reads): every profile read shows them."""
    if item_no is None:
        return await load_all(session, _RECORDS_OF, person_no=person_no)
    return await load_all(session, _RECORDS_OF_ITEM, person_no=person_no, item_no=item_no)
