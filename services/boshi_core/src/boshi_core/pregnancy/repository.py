"""Queries for pregnancies, handbooks, prenatal vouchers and checkups."""

from datetime import date
from uuid import UUID

from sqlalchemy import and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.pregnancy.models import (
    ExpectedChildrenChange,
    Handbook,
    Pregnancy,
    PrenatalCheckup,
    PrenatalVoucher,
    VoucherRule,
)
from mch_common.driver_reads import load_one

# Built once: they are on every checkup's and view's path.
_PREGNANCY = select(Pregnancy).where(Pregnancy.id == bindparam("pregnancy_id"))
_PREGNANCY_FOR_UPDATE = _PREGNANCY.with_for_update()


async def get(
    session: AsyncSession, pregnancy_id: UUID, *, for_update: bool = False
) -> Pregnancy | None:
    """The pregnancy: read-only (mch_common.driver_reads), or `for_update`, locked until the
    transaction ends and loaded by the ORM, for a caller that changes it."""
    if not for_update:
        return await load_one(session, _PREGNANCY, pregnancy_id=pregnancy_id)
    params = {"pregnancy_id": pregnancy_id}
    return (await session.execute(_PREGNANCY_FOR_UPDATE, params)).scalar_one_or_none()


async def lock(session: AsyncSession, pregnancy_id: UUID) -> Pregnancy | None:
    """The pregnancy, locked until the transaction ends, for a caller that adds to it without
    changing it (a checkup): read-only, sent on the driver."""
    return await load_one(session, _PREGNANCY_FOR_UPDATE, pregnancy_id=pregnancy_id)


async def by_external_ref(session: AsyncSession, external_ref: str) -> Pregnancy | None:
    stmt = select(Pregnancy).where(Pregnancy.external_ref == external_ref)
    return (await session.execute(stmt)).scalar_one_or_none()


async def handbooks_of(session: AsyncSession, pregnancy_id: UUID) -> list[Handbook]:
    stmt = (
        select(Handbook).where(Handbook.pregnancy_id == pregnancy_id).order_by(Handbook.child_index)
    )
    return list((await session.execute(stmt)).scalars())


async def handbook_count(session: AsyncSession, pregnancy_id: UUID) -> int:
    stmt = select(func.count()).select_from(Handbook).where(Handbook.pregnancy_id == pregnancy_id)
    return int((await session.execute(stmt)).scalar_one())


async def voucher_count(session: AsyncSession, pregnancy_id: UUID) -> int:
    stmt = (
        select(func.count())
        .select_from(PrenatalVoucher)
        .where(PrenatalVoucher.pregnancy_id == pregnancy_id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def expected_children_changes(
    session: AsyncSession, pregnancy_id: UUID
) -> list[ExpectedChildrenChange]:
    stmt = (
        select(ExpectedChildrenChange)
        .where(ExpectedChildrenChange.pregnancy_id == pregnancy_id)
        .order_by(ExpectedChildrenChange.changed_at, ExpectedChildrenChange.id)
    )
    return list((await session.execute(stmt)).scalars())


async def vouchers_of(session: AsyncSession, pregnancy_id: UUID) -> list[PrenatalVoucher]:
    stmt = (
        select(PrenatalVoucher)
        .where(PrenatalVoucher.pregnancy_id == pregnancy_id)
        .order_by(PrenatalVoucher.seq)
    )
    return list((await session.execute(stmt)).scalars())


async def voucher_for_update(
    session: AsyncSession, pregnancy_id: UUID, voucher_no: str
) -> PrenatalVoucher | None:
    stmt = (
        select(PrenatalVoucher)
        .where(
            PrenatalVoucher.voucher_no == voucher_no,
            PrenatalVoucher.pregnancy_id == pregnancy_id,
        )
        .with_for_update()
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def checkups_of(session: AsyncSession, pregnancy_id: UUID) -> list[PrenatalCheckup]:
    stmt = (
        select(PrenatalCheckup)
        .where(PrenatalCheckup.pregnancy_id == pregnancy_id)
        .order_by(PrenatalCheckup.checkup_date, PrenatalCheckup.recorded_at)
    )
    return list((await session.execute(stmt)).scalars())


async def checkups_page(
    session: AsyncSession, pregnancy_id: UUID, *, after: tuple[date, UUID] | None, limit: int
) -> list[tuple[PrenatalCheckup, str | None]]:
    """The pregnancy's checkups by (checkup_date, id) from after the key `after`, each with
    the number of the voucher it used."""
    stmt = (
        select(PrenatalCheckup, PrenatalVoucher.voucher_no)
        .join(PrenatalVoucher, PrenatalVoucher.id == PrenatalCheckup.voucher_id, isouter=True)
        .where(PrenatalCheckup.pregnancy_id == pregnancy_id)
    )
    if after is not None:
        stmt = stmt.where(
            or_(
                PrenatalCheckup.checkup_date > after[0],
                and_(PrenatalCheckup.checkup_date == after[0], PrenatalCheckup.id > after[1]),
            )
        )
    stmt = stmt.order_by(PrenatalCheckup.checkup_date, PrenatalCheckup.id).limit(limit)
    return [(checkup, voucher_no) for checkup, voucher_no in await session.execute(stmt)]


async def allocate_serials(session: AsyncSession, fy: int, ward_code: str, count: int) -> int:
    """Reserve `count` consecutive serials; returns the first. The counter row stays locked
    until commit, so concurrent issuers queue and a rollback gives the numbers back: no gaps."""
    last = (
        await session.execute(
            text(
                "INSERT INTO handbook_serials (fiscal_year, ward_code, last_serial) "
                "VALUES (:fy, :ward, :n) ON CONFLICT (fiscal_year, ward_code) "
                "DO UPDATE SET last_serial = handbook_serials.last_serial + :n "
                "RETURNING last_serial"
            ),
            {"fy": fy, "ward": ward_code, "n": count},
        )
    ).scalar_one()
    return int(last) - count + 1


async def voucher_rule_in_force(session: AsyncSession, on: date) -> VoucherRule | None:
    stmt = (
        select(VoucherRule)
        .where(VoucherRule.effective_from <= on)
        .order_by(VoucherRule.effective_from.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
