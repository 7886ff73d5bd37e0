"""The permission list as of a date: which rules allow an inquiry."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from national_hub.models import PermissionRule

ANY_MUNICIPALITY = "*"


@dataclass(frozen=True)
class Rule:
    list_version: int
    requester: str
    provider: str
    clause: str
    item_no: str
    item_name: str
    valid_from: date
    valid_to: date | None

    def in_force(self, on: date) -> bool:
        return self.valid_from <= on and (self.valid_to is None or self.valid_to >= on)

    def allows(self, *, requester: str, provider: str, clause: str, item_no: str) -> bool:
        return (
            self.requester in (requester, ANY_MUNICIPALITY)
            and self.provider in (provider, ANY_MUNICIPALITY)
            and self.clause == clause
            and self.item_no == item_no
        )


_RULES_ON = select(PermissionRule).where(
    PermissionRule.valid_from <= bindparam("on"),
    or_(PermissionRule.valid_to.is_(None), PermissionRule.valid_to >= bindparam("on")),
)


_ALL_RULES = select(PermissionRule).order_by(PermissionRule.id)


async def rules_on(session: AsyncSession, on: date | None) -> list[Rule]:
    """The rules in force on `on`; every version of every rule when `on` is None."""
    if on is None:
        rows = (await session.scalars(_ALL_RULES)).all()
    else:
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


# What says the list changed: a change is a new list version (rows are added under it, and a
# gateway's copy is replaced whole), so (latest version, row count) moves with every change.
ListStamp = tuple[int | None, int]


class RuleCache:
    """Every version of a permission list, kept per process and read again only when the
    list's stamp, which the caller reads in a statement it runs anyway, has moved."""

    def __init__(self) -> None:
        self._stamp: ListStamp | None = None
        self._rules: list[Rule] = []

    def current(self, stamp: ListStamp) -> list[Rule] | None:
        """The rules, or None when the stamp says they must be read again."""
        return self._rules if stamp == self._stamp else None

    def latest(self) -> tuple[ListStamp | None, list[Rule]]:
        """The stamp last seen (None: never read) and its rules."""
        return self._stamp, self._rules

    def keep(self, stamp: ListStamp, rules: list[Rule]) -> list[Rule]:
        self._stamp, self._rules = stamp, rules
        return rules


def in_force(rules: list[Rule], on: date) -> list[Rule]:
    return [r for r in rules if r.in_force(on)]


def not_allowed(
    rules: list[Rule], *, requester: str, provider: str, clause: str, items: tuple[str, ...]
) -> list[str]:
    """The items no rule allows (empty: the inquiry is on the list). A municipality never asks
    itself through the network."""
    if requester == provider:
        return list(items)
    return [
        item
        for item in items
        if not any(
            r.allows(requester=requester, provider=provider, clause=clause, item_no=item)
            for r in rules
        )
    ]
