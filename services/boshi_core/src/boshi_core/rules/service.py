"""Rule versions: add one that takes effect on a later date, list a book's versions, read the
version in force on a date. A version in force or past is never rewritten: what was judged
by it (a checkup's risk flags, a visit's window, the vouchers issued) stays judged by it."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.rules import repository
from boshi_core.rules.models import BirthRule
from boshi_core.rules.repository import RuleBook
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, InvalidInput, NotFound
from mch_common.work import UnitOfWork

PURPOSE = "母子保健事務の基準の管理 (rule versions)"


@dataclass(frozen=True)
class VersionPage:
    items: list[Any]
    next_before: date | None


def _label(book: RuleBook, code: str | None) -> str:
    return f"{book.name} {code}" if book.keyed else book.name


async def _require_code(session: AsyncSession, book: RuleBook, code: str | None) -> None:
    if book.keyed and (code is None or not await repository.code_exists(session, code)):
        raise NotFound(f"no checkup programme {code!r}")


async def add_version(
    session: AsyncSession,
    *,
    principal: Principal,
    book: RuleBook,
    effective_from: date,
    fields: dict[str, Any],
    code: str | None = None,
) -> Any:
    """Add a version taking effect on `effective_from`, a day after today at the earliest."""
    today = today_tokyo()
    if effective_from <= today:
        raise InvalidInput(
            f"effective_from must be after today ({today.isoformat()}): a version takes effect "
            "on a later date, since one in force or past is never rewritten"
        )
    await _require_code(session, book, code)
    await repository.lock(session, book)
    if await repository.has_version(session, book, code=code, effective_from=effective_from):
        raise Conflict(
            f"{_label(book, code)} already has a version effective from "
            f"{effective_from.isoformat()}; versions are never rewritten, add one from another date"
        )
    values = dict(fields)
    if book is repository.RISK:
        values["version"] = await repository.next_risk_version(session)
    if book.keyed:
        values["code"] = code
    row = book.model(effective_from=effective_from, recorded_by=principal.sub, **values)
    session.add(row)
    await session.flush()
    await session.refresh(row, attribute_names=["recorded_at"])
    UnitOfWork.of(session).record_access(
        principal,
        action="rules.version.add",
        target_type="rule_version",
        target_id=f"{_label(book, code)} {effective_from.isoformat()}",
        purpose=PURPOSE,
        detail={"book": book.name, "effective_from": effective_from.isoformat()}
        | {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()},
    )
    return row


def _values(row: Any, book: RuleBook) -> dict[str, Any]:
    """A version's values for the access record (dates as ISO text)."""
    columns = [c.key for c in book.model.__table__.columns if c.key not in {"recorded_at", "code"}]
    return {c: v.isoformat() if isinstance(v := getattr(row, c), date) else v for c in columns}


async def withdraw_version(
    session: AsyncSession,
    *,
    principal: Principal,
    book: RuleBook,
    effective_from: date,
    code: str | None = None,
) -> Any:
    """Withdraw a version that has not taken effect yet (a mistake, a decision reversed); one
    in force or past stays (409). The access record keeps the values withdrawn."""
    await _require_code(session, book, code)
    row = await repository.version_for_update(
        session, book, code=code, effective_from=effective_from
    )
    if row is None:
        raise NotFound(f"{_label(book, code)} has no version effective from {effective_from}")
    today = today_tokyo()
    if effective_from <= today:
        raise Conflict(
            f"the {_label(book, code)} version effective from {effective_from.isoformat()} is "
            f"in force or past (today is {today.isoformat()}); it is never rewritten or withdrawn"
        )
    withdrawn = _values(row, book)
    await repository.delete_version(session, row)
    UnitOfWork.of(session).record_access(
        principal,
        action="rules.version.withdraw",
        target_type="rule_version",
        target_id=f"{_label(book, code)} {effective_from.isoformat()}",
        purpose=PURPOSE,
        detail={"book": book.name, "withdrawn": withdrawn},
    )
    return row


async def versions(
    session: AsyncSession,
    *,
    book: RuleBook,
    code: str | None = None,
    before: date | None = None,
    limit: int = 50,
) -> VersionPage:
    """A book's versions, newest effective date first, paged by `before` (the previous page's
    `next_before`)."""
    await _require_code(session, book, code)
    rows = await repository.versions(session, book, code=code, before=before, limit=limit + 1)
    page = rows[:limit]
    return VersionPage(page, page[-1].effective_from if len(rows) > limit else None)


async def in_force(
    session: AsyncSession, *, book: RuleBook, on: date | None = None, code: str | None = None
) -> Any:
    """The version in force on `on` (today by default)."""
    await _require_code(session, book, code)
    day = on or today_tokyo()
    row = await repository.in_force(session, book, code=code, on=day)
    if row is None:
        raise NotFound(f"no {_label(book, code)} version is in force on {day.isoformat()}")
    return row


async def before_the_rules(session: AsyncSession, book: RuleBook, *, field: str) -> InvalidInput:
    """The answer to a date no version of `book` is in force on: the versions begin on one day
    and are never removed once in force, so the date lies before the first, and is bad input
    (it names the field, not the value)."""
    first = await repository.first_effective_from(session, book)
    since = f"{first.isoformat()}, the day" if first else "the day"
    return InvalidInput(
        f"{field} is before {since} the first {book.name} rule version took effect: no rule "
        "judges an earlier date"
    )


async def birth_rule_on(session: AsyncSession, on: date, *, field: str) -> BirthRule:
    """The birth follow-up rule in force on `on` (a birth date, a notification date); `field`
    names the date in the 422 when `on` is before the first version (1966-01-01)."""
    rule = await repository.birth_rule_in_force(session, on)
    if rule is None:
        raise await before_the_rules(session, repository.BIRTH, field=field)
    return rule
