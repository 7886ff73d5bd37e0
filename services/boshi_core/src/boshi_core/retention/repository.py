"""The retention rules in force, the records past their period, and the deletes of a disposal."""

from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import Date, Integer, String, bindparam, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.births.models import Child
from boshi_core.checkups.models import CheckupResult, DetailedExamVoucher
from boshi_core.inquiries.models import Inquiry
from boshi_core.pregnancy.models import (
    ExpectedChildrenChange,
    Handbook,
    Pregnancy,
    PrenatalCheckup,
    PrenatalVoucher,
)
from boshi_core.requests.models import RecordCorrection

# Each record type: its id, whose it is, and the day its period runs from (only records whose
# period has started: a closed pregnancy, an answered inquiry).
_SOURCES = {
    "pregnancy": "SELECT id, person_no, outcome_date AS counted_from FROM pregnancies "
    "WHERE status = 'closed' AND outcome_date IS NOT NULL",
    "infant_checkup_result": "SELECT id, person_no, examined_on AS counted_from "
    "FROM checkup_results",
    "inquiry": "SELECT id, person_no, (answered_at AT TIME ZONE 'Asia/Tokyo')::date "
    "AS counted_from FROM inquiries WHERE answered_at IS NOT NULL",
}

_RULES_IN_FORCE = text(
    """
    SELECT DISTINCT ON (record_type) record_type, version, years
    FROM retention_rules WHERE effective_from <= :on
    ORDER BY record_type, effective_from DESC, version DESC
    """
).bindparams(bindparam("on", type_=Date))


async def rules_in_force(session: AsyncSession, on: date) -> dict[str, tuple[int, int]]:
    """record type -> (version, years) of the rule in force on `on`."""
    rows = await session.execute(_RULES_IN_FORCE, {"on": on})
    return {r.record_type: (r.version, r.years) for r in rows}


def _due_query(record_type: str) -> Any:
    return text(
        f"""
        SELECT * FROM (
            SELECT s.id, s.person_no, s.counted_from,
                   (s.counted_from + make_interval(years => :years))::date AS due_on
            FROM ({_SOURCES[record_type]}) s
        ) d
        WHERE d.due_on <= :on AND (d.due_on, d.id) > (:after_due, CAST(:after_id AS uuid))
        ORDER BY d.due_on, d.id
        LIMIT :limit
        """  # noqa: S608 - the source is a module constant; values are bound
    ).bindparams(
        bindparam("years", type_=Integer),
        bindparam("on", type_=Date),
        bindparam("after_due", type_=Date),
        bindparam("after_id", type_=String),
        bindparam("limit", type_=Integer),
    )


_DUE = {record_type: _due_query(record_type) for record_type in _SOURCES}
_NO_ID = "00000000-0000-0000-0000-000000000000"


async def due(
    session: AsyncSession,
    *,
    record_type: str,
    years: int,
    on: date,
    after: tuple[date, UUID] | None,
    limit: int,
) -> list[Any]:
    params = {
        "years": years,
        "on": on,
        "after_due": after[0] if after else date.min,
        "after_id": str(after[1]) if after else _NO_ID,
        "limit": limit,
    }
    return list(await session.execute(_DUE[record_type], params))


async def due_one(
    session: AsyncSession, *, record_type: str, record_id: UUID, years: int, on: date
) -> Any | None:
    """The record if it exists and its period has ended on `on`, locked for the disposal."""
    stmt = text(
        f"SELECT s.id, s.person_no FROM ({_SOURCES[record_type]}) s "  # noqa: S608 - constant
        "WHERE s.id = :id AND (s.counted_from + make_interval(years => :years))::date <= :on"
    )
    row = (await session.execute(stmt, {"id": record_id, "years": years, "on": on})).first()
    if row is not None:
        model = _MODELS[record_type]
        await session.execute(select(model.id).where(model.id == record_id).with_for_update())
    return row


_MODELS: dict[str, Any] = {
    "pregnancy": Pregnancy,
    "infant_checkup_result": CheckupResult,
    "inquiry": Inquiry,
}


async def delete_record(session: AsyncSession, record_type: str, record_id: UUID) -> None:
    """Delete the record and the rows that are part of it (a pregnancy's handbooks, vouchers,
    checkups and count changes; a result's detailed-examination voucher), and the previous
    values kept by corrections of them. A child's own record is not part of the pregnancy:
    it stays, unlinked."""
    if record_type == "pregnancy":
        checkups = select(PrenatalCheckup.id).where(PrenatalCheckup.pregnancy_id == record_id)
        corrected = [str(record_id), *(str(i) for i in (await session.scalars(checkups)))]
        await session.execute(
            delete(RecordCorrection).where(RecordCorrection.record_id.in_(corrected))
        )
        for model in (PrenatalCheckup, PrenatalVoucher, Handbook, ExpectedChildrenChange):
            await session.execute(delete(model).where(model.pregnancy_id == record_id))
        await session.execute(
            update(Child).where(Child.pregnancy_id == record_id).values(pregnancy_id=None)
        )
    elif record_type == "infant_checkup_result":
        await session.execute(
            delete(RecordCorrection).where(RecordCorrection.record_id == str(record_id))
        )
        await session.execute(
            delete(DetailedExamVoucher).where(DetailedExamVoucher.result_id == record_id)
        )
    model = _MODELS[record_type]
    await session.execute(delete(model).where(model.id == record_id))
