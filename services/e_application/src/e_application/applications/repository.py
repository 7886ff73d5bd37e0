from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, bindparam, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from e_application.applications.models import (
    Application,
    ApplicationHistory,
    ApplicationMyNumber,
    ApplicationVersion,
)

_NEXT_RECEIPT = text("SELECT nextval('receipt_no_seq')")
_BY_RECEIPT = select(Application).where(Application.receipt_no == bindparam("receipt_no"))
_BY_RECEIPT_FOR_UPDATE = _BY_RECEIPT.with_for_update()
_BY_ID_FOR_UPDATE = select(Application).where(Application.id == bindparam("id")).with_for_update()
_VERSIONS = (
    select(ApplicationVersion)
    .where(ApplicationVersion.application_id == bindparam("id"))
    .order_by(ApplicationVersion.version_no)
)
_VERSION = select(ApplicationVersion).where(
    ApplicationVersion.application_id == bindparam("id"),
    ApplicationVersion.version_no == bindparam("version_no"),
)
_BY_CARD = (
    select(Application)
    .where(Application.card_id == bindparam("card"))
    .order_by(Application.submitted_at.desc())
)
_HISTORY = (
    select(ApplicationHistory)
    .where(ApplicationHistory.application_id == bindparam("id"))
    .order_by(ApplicationHistory.id)
)
_DELETE_VERSIONS = delete(ApplicationVersion).where(
    ApplicationVersion.application_id == bindparam("id")
)
_DELETE_MY_NUMBER = delete(ApplicationMyNumber).where(
    ApplicationMyNumber.application_id == bindparam("id")
)
_TO_HAND_OVER = (
    select(Application)
    .where(
        Application.status == "accepted",
        Application.handed_over_at.is_(None),
        Application.procedure_code.in_(bindparam("procedures", expanding=True)),
    )
    .order_by(Application.decided_at, Application.id)
    .limit(bindparam("limit"))
)
_DUE = (
    select(Application)
    .where(Application.status != "deleted", Application.retain_until < bindparam("on"))
    .order_by(Application.retain_until, Application.id)
)


async def next_receipt_no(session: AsyncSession, *, year: int) -> str:
    """`EA2026-0000123`: digit runs far from twelve, so nothing here looks like a My Number."""
    serial = (await session.execute(_NEXT_RECEIPT)).scalar_one()
    return f"EA{year}-{serial:07d}"


async def by_receipt(
    session: AsyncSession, receipt_no: str, *, for_update: bool = False
) -> Application | None:
    stmt = _BY_RECEIPT_FOR_UPDATE if for_update else _BY_RECEIPT
    return (await session.execute(stmt, {"receipt_no": receipt_no})).scalar_one_or_none()


async def by_id_for_update(session: AsyncSession, application_id: UUID) -> Application | None:
    return (await session.execute(_BY_ID_FOR_UPDATE, {"id": application_id})).scalar_one_or_none()


async def versions(session: AsyncSession, application_id: UUID) -> list[ApplicationVersion]:
    return list((await session.execute(_VERSIONS, {"id": application_id})).scalars())


async def version(
    session: AsyncSession, application_id: UUID, version_no: int
) -> ApplicationVersion | None:
    result = await session.execute(_VERSION, {"id": application_id, "version_no": version_no})
    return result.scalar_one_or_none()


async def by_card(session: AsyncSession, card: str) -> list[Application]:
    return list((await session.execute(_BY_CARD, {"card": card})).scalars())


async def history(session: AsyncSession, application_id: UUID) -> list[ApplicationHistory]:
    return list((await session.execute(_HISTORY, {"id": application_id})).scalars())


def add_history(
    session: AsyncSession,
    application: Application,
    *,
    actor: str,
    action: str,
    version_no: int | None = None,
    note: str | None = None,
) -> None:
    session.add(
        ApplicationHistory(
            application_id=application.id,
            actor=actor,
            action=action,
            version_no=version_no,
            note=note,
        )
    )


async def erase_contents(session: AsyncSession, application_id: UUID) -> None:
    """The form, the signed packages and the encrypted My Number go; the history stays."""
    await session.execute(_DELETE_VERSIONS, {"id": application_id})
    await session.execute(_DELETE_MY_NUMBER, {"id": application_id})


async def to_hand_over(
    session: AsyncSession, *, procedures: list[str], limit: int
) -> list[Application]:
    result = await session.execute(_TO_HAND_OVER, {"procedures": procedures, "limit": limit})
    return list(result.scalars())


async def due_for_deletion(session: AsyncSession, *, on: date) -> list[Application]:
    return list((await session.execute(_DUE, {"on": on})).scalars())


def extraction(
    *,
    procedures: list[str],
    ward: str | None,
    status: str | None,
    procedure: str | None,
    ward_code: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> Select[Application]:
    """Applications by conditions, oldest first, keyset-paged on (submitted_at, id)."""
    stmt = select(Application).where(
        Application.procedure_code.in_(procedures), Application.status != "deleted"
    )
    conditions: list[Any] = []
    if ward is not None:
        conditions.append(Application.ward_code == ward)
    if status is not None:
        conditions.append(Application.status == status)
    if procedure is not None:
        conditions.append(Application.procedure_code == procedure)
    if ward_code is not None:
        conditions.append(Application.ward_code == ward_code)
    if since is not None:
        conditions.append(Application.submitted_at >= since)
    if until is not None:
        conditions.append(Application.submitted_at < until)
    if after is not None:
        conditions.append(
            func.row(Application.submitted_at, Application.id) > func.row(after[0], after[1])
        )
    return stmt.where(*conditions).order_by(Application.submitted_at, Application.id).limit(limit)
