"""Statements of the exchange (tenant tables: the rows of the transaction's tenant only)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from national_hub.permission_list import ListStamp, Rule
from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from intermediate_server.exchange.models import HeldProvision, Inquiry, PermissionCopy
from mch_common.db import on_driver

_USE_PERMIT = text(
    "INSERT INTO used_permit (jti, tenant, used_at, expires_at) "
    "VALUES (:jti, :tenant, :used_at, :expires_at) ON CONFLICT (jti) DO NOTHING RETURNING jti"
)
_RULES_ON = select(PermissionCopy).where(
    PermissionCopy.valid_from <= bindparam("on"),
    or_(PermissionCopy.valid_to.is_(None), PermissionCopy.valid_to >= bindparam("on")),
)
# The requester's read, one statement: is the provider on the platform, and the person's
# sealed 符号 (the caller's tenant's row only).
_REQUEST_READ = (
    "SELECT EXISTS (SELECT 1 FROM tenant WHERE code = $1) AS provider_known,"
    " (SELECT code_ciphertext FROM person_code WHERE person_no = $2) AS sealed_code"
)
_ALL_RULES = select(PermissionCopy).order_by(PermissionCopy.id)
_LIST_VERSION = select(func.max(PermissionCopy.list_version))
# The provider's checks and answer in one round trip: the permit's jti (single use), the person
# behind the 符号, the stamp of the list copy, whether her provision is suspended (利用停止) and
# her replica entries of the items.
_USE_PERMIT_AND_READ = (
    "WITH used AS (INSERT INTO used_permit (jti, tenant, used_at, expires_at)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING RETURNING jti),"
    " person AS (SELECT person_no FROM person_code WHERE code_index = $5 LIMIT 1),"
    " list AS (SELECT max(list_version) AS list_version, count(*) AS list_rows"
    " FROM permission_copy)"
    " SELECT (SELECT count(*) FROM used) AS fresh, list.list_version, list.list_rows,"
    " person.person_no, coalesce((SELECT s.suspended FROM provision_suspension AS s"
    " WHERE s.person_no = person.person_no), false) AS suspended,"
    " r.item_no, r.record_key, r.as_of, r.no_auto_response, r.data"
    " FROM list LEFT JOIN person ON true LEFT JOIN replica_entry AS r"
    " ON r.person_no = person.person_no AND r.item_no = ANY(CAST($6 AS text[]))"
    " ORDER BY r.item_no, r.as_of"
)


async def provider_and_code(
    session: AsyncSession, *, provider: str, person_no: str
) -> tuple[bool, bytes | None]:
    """Whether `provider` is a municipality on the platform, and the person's sealed 符号."""
    row = await on_driver(
        session, _REQUEST_READ, lambda driver: driver.fetchrow(_REQUEST_READ, provider, person_no)
    )
    return bool(row["provider_known"]), row["sealed_code"]


@dataclass(frozen=True)
class ReplicaRow:
    item_no: str
    record_key: str
    as_of: datetime
    no_auto_response: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class ProvisionRead:
    permit_fresh: bool  # False: the permit was honoured before
    person_no: str | None
    suspended: bool  # the person's provision suspended (利用停止)
    list_stamp: ListStamp
    entries: list[ReplicaRow]


async def use_permit_and_read(
    session: AsyncSession,
    *,
    jti: uuid.UUID,
    tenant: str,
    now: datetime,
    expires_at: datetime,
    code_index: bytes,
    items: tuple[str, ...],
) -> ProvisionRead:
    # On the driver (mch_common.db.on_driver): the inquiry's hot path, one statement.
    arguments = (jti, tenant, now, expires_at, code_index, list(items))
    rows = await on_driver(
        session,
        _USE_PERMIT_AND_READ,
        lambda driver: driver.fetch(_USE_PERMIT_AND_READ, *arguments),
    )
    first = rows[0]
    return ProvisionRead(
        permit_fresh=first["fresh"] == 1,
        person_no=first["person_no"],
        suspended=first["suspended"],
        list_stamp=(first["list_version"], first["list_rows"]),
        entries=[
            ReplicaRow(r["item_no"], r["record_key"], r["as_of"], r["no_auto_response"], r["data"])
            for r in rows
            if r["item_no"] is not None
        ],
    )


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
    return _rules(await session.scalars(_RULES_ON, {"on": on}))


async def all_rules(session: AsyncSession) -> list[Rule]:
    """Every version of every rule of the copy (for the provider's cache)."""
    return _rules(await session.scalars(_ALL_RULES))


def _rules(rows: Any) -> list[Rule]:
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
