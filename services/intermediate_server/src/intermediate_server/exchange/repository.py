"""Statements of the exchange (tenant tables: the rows of the transaction's tenant only)."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from national_hub.permission_list import Rule
from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from intermediate_server.exchange.models import HeldProvision, Inquiry, PermissionCopy

_USE_PERMIT = text(
    "INSERT INTO used_permit (jti, tenant, used_at, expires_at) "
    "VALUES (:jti, :tenant, :used_at, :expires_at) ON CONFLICT (jti) DO NOTHING RETURNING jti"
)
_RULES_ON = select(PermissionCopy).where(
    PermissionCopy.valid_from <= bindparam("on"),
    or_(PermissionCopy.valid_to.is_(None), PermissionCopy.valid_to >= bindparam("on")),
)
_LIST_VERSION = select(func.max(PermissionCopy.list_version))
_HELD = (
    select(HeldProvision)
    .where(HeldProvision.status == "held")
    .order_by(HeldProvision.deadline)
    .limit(bindparam("limit"))
)
_OVERDUE = (
    select(HeldProvision)
    .where(HeldProvision.status == "held", HeldProvision.deadline < bindparam("now"))
    .with_for_update(skip_locked=True)
)
_INQUIRY_FOR_UPDATE = select(Inquiry).where(Inquiry.id == bindparam("id")).with_for_update()


async def use_permit(
    session: AsyncSession, *, jti: uuid.UUID, tenant: str, now: datetime, expires_at: datetime
) -> bool:
    """False when the permit was honoured before."""
    row = await session.execute(
        _USE_PERMIT, {"jti": jti, "tenant": tenant, "used_at": now, "expires_at": expires_at}
    )
    return row.first() is not None


async def rules_on(session: AsyncSession, on: date) -> list[Rule]:
    rows = (await session.scalars(_RULES_ON, {"on": on})).all()
    return [
        Rule(
            list_version=r.list_version,
            requester=r.requester,
            provider=r.provider,
            clause=r.clause,
            item_no=r.item_no,
            item_name=r.item_name,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
        )
        for r in rows
    ]


async def list_version(session: AsyncSession) -> int | None:
    return await session.scalar(_LIST_VERSION)


async def replace_permission_copy(session: AsyncSession, rules: list[Rule]) -> None:
    await session.execute(delete(PermissionCopy))
    if rules:
        await session.execute(
            insert(PermissionCopy),
            [
                {
                    "list_version": r.list_version,
                    "requester": r.requester,
                    "provider": r.provider,
                    "clause": r.clause,
                    "item_no": r.item_no,
                    "item_name": r.item_name,
                    "valid_from": r.valid_from,
                    "valid_to": r.valid_to,
                }
                for r in rules
            ],
        )


async def held_provisions(session: AsyncSession, *, limit: int) -> Sequence[HeldProvision]:
    return (await session.scalars(_HELD, {"limit": limit})).all()


async def overdue_held(session: AsyncSession, now: datetime) -> Sequence[HeldProvision]:
    return (await session.scalars(_OVERDUE, {"now": now})).all()


async def inquiry_for_update(session: AsyncSession, inquiry_id: uuid.UUID) -> Inquiry | None:
    return (await session.scalars(_INQUIRY_FOR_UPDATE, {"id": inquiry_id})).first()


async def mark_decided(
    session: AsyncSession, held: HeldProvision, *, status: str, at: datetime, by: str
) -> None:
    await session.execute(
        update(HeldProvision)
        .where(HeldProvision.id == held.id)
        .values(status=status, decided_at=at, decided_by=by)
    )
    for name, value in (("status", status), ("decided_at", at), ("decided_by", by)):
        set_committed_value(held, name, value)
