"""The due-for-disposal list and staff disposal (職権削除)."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.paging import next_cursor, parse_cursor
from boshi_core.retention import repository
from boshi_core.retention.models import Disposal
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import InvalidInput
from mch_common.work import UnitOfWork

PURPOSE = "評価書III-7 保存期間満了による廃棄 (disposal after the retention period)"


@dataclass(frozen=True)
class DueRecord:
    record_type: str
    record_id: UUID
    person_no: str | None
    counted_from: date
    due_on: date


@dataclass(frozen=True)
class DuePage:
    items: list[DueRecord]
    next_cursor: str | None


async def _years(session: AsyncSession, record_type: str, on: date) -> tuple[int, int]:
    rule = (await repository.rules_in_force(session, on)).get(record_type)
    if rule is None:
        raise InvalidInput(f"no retention rule for {record_type} is in force")
    return rule


async def due(
    session: AsyncSession,
    *,
    principal: Principal,
    record_type: str,
    as_of: date | None,
    limit: int,
    cursor: str | None,
) -> DuePage:
    """The records of a type past their retention period, oldest due first, paged."""
    on = as_of or today_tokyo()
    _, years = await _years(session, record_type, on)
    after = parse_cursor(cursor)
    rows = await repository.due(
        session, record_type=record_type, years=years, on=on, after=after, limit=limit + 1
    )
    page = [
        DueRecord(record_type, r.id, r.person_no, r.counted_from, r.due_on) for r in rows[:limit]
    ]
    UnitOfWork.of(session).record_access(
        principal,
        action="retention.list_due",
        target_type=f"{record_type}_list",
        purpose=PURPOSE,
        detail={"as_of": on.isoformat(), "count": len(page)},
        persons=sorted({r.person_no for r in page if r.person_no}),
    )
    last = page[-1] if len(rows) > limit else None
    return DuePage(page, next_cursor((last.due_on, last.record_id) if last else None))


async def dispose(
    session: AsyncSession,
    *,
    principal: Principal,
    record_type: str,
    record_ids: list[UUID],
    reason: str,
) -> list[Disposal]:
    """Delete each record past its period, with what belongs to it; one disposal row and one
    access record each. A record not found or not yet due fails the whole disposal (422)."""
    on = today_tokyo()
    version, years = await _years(session, record_type, on)
    rows: list[Any] = []
    for record_id in dict.fromkeys(record_ids):
        row = await repository.due_one(
            session, record_type=record_type, record_id=record_id, years=years, on=on
        )
        if row is None:
            raise InvalidInput(f"record {record_id} does not exist or is not yet due")
        rows.append(row)
    work = UnitOfWork.of(session)
    disposals = []
    for row in rows:
        await repository.delete_record(session, record_type, row.id)
        disposal = Disposal(
            record_type=record_type,
            record_id=row.id,
            person_no=row.person_no,
            rule_version=version,
            disposed_by=principal.sub,
            reason=reason,
        )
        session.add(disposal)
        disposals.append(disposal)
        work.record_access(
            principal,
            action="record.dispose",
            target_type=record_type,
            target_id=str(row.id),
            purpose=PURPOSE,
            detail={"rule_version": version},
            persons=[row.person_no] if row.person_no else [],
        )
    await session.flush()
    return disposals
