"""Queries over the versioned rule tables; a book names its table and its key columns."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.checkups.models import CheckupProgramme
from boshi_core.pregnancy.models import RiskRuleSet, VoucherRule
from boshi_core.rules.models import BirthRule


@dataclass(frozen=True)
class RuleBook:
    """One kind of versioned rule: its table, and `keyed` when versions are per code
    (checkup programmes: one history per programme)."""

    name: str
    model: Any
    keyed: bool = False


VOUCHERS = RuleBook("prenatal_vouchers", VoucherRule)
RISK = RuleBook("prenatal_risk", RiskRuleSet)
BIRTH = RuleBook("birth_follow_up", BirthRule)
PROGRAMMES = RuleBook("checkup_programmes", CheckupProgramme, keyed=True)


def _select(book: RuleBook, code: str | None) -> Any:
    stmt = select(book.model)
    if book.keyed:
        stmt = stmt.where(book.model.code == code)
    return stmt


async def versions(
    session: AsyncSession, book: RuleBook, *, code: str | None, before: date | None, limit: int
) -> list[Any]:
    """Newest first, from before the effective date `before`."""
    stmt = _select(book, code)
    if before is not None:
        stmt = stmt.where(book.model.effective_from < before)
    stmt = stmt.order_by(book.model.effective_from.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())


async def in_force(session: AsyncSession, book: RuleBook, *, code: str | None, on: date) -> Any:
    """The newest version effective on or before `on` (None when there is none, or when a
    programme's version in force has ended by then)."""
    stmt = (
        _select(book, code)
        .where(book.model.effective_from <= on)
        .order_by(book.model.effective_from.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is not None and book.keyed and row.effective_to is not None and row.effective_to < on:
        return None
    return row


async def first_effective_from(session: AsyncSession, book: RuleBook) -> date | None:
    """The day the book's first version took effect (of any programme, for a keyed book)."""
    stmt = select(func.min(book.model.effective_from))
    return (await session.execute(stmt)).scalar_one()  # type: ignore[no-any-return]


async def has_version(
    session: AsyncSession, book: RuleBook, *, code: str | None, effective_from: date
) -> bool:
    stmt = _select(book, code).where(book.model.effective_from == effective_from)
    return (await session.execute(stmt)).first() is not None


async def version_for_update(
    session: AsyncSession, book: RuleBook, *, code: str | None, effective_from: date
) -> Any:
    stmt = _select(book, code).where(book.model.effective_from == effective_from)
    return (await session.execute(stmt.with_for_update())).scalar_one_or_none()


async def delete_version(session: AsyncSession, row: Any) -> None:
    await session.delete(row)
    await session.flush()


async def code_exists(session: AsyncSession, code: str) -> bool:
    stmt = select(CheckupProgramme.code).where(CheckupProgramme.code == code).limit(1)
    return (await session.execute(stmt)).first() is not None


async def lock(session: AsyncSession, book: RuleBook) -> None:
    """Writers of the same book queue (readers do not), so two admins adding the same date, or
    the next risk rule version number, cannot both pass the checks."""
    await session.execute(
        text(f"LOCK TABLE {book.model.__tablename__} IN SHARE ROW EXCLUSIVE MODE")
    )


async def next_risk_version(session: AsyncSession) -> int:
    last = (await session.execute(select(func.max(RiskRuleSet.version)))).scalar_one()
    return int(last or 0) + 1


async def birth_rule_in_force(session: AsyncSession, on: date) -> BirthRule | None:
    return await in_force(session, BIRTH, code=None, on=on)  # type: ignore[no-any-return]
