"""Reading the registry: a person now or as of a date, the change log, search, a household.
Every read writes an access record."""

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.mynumber.display import shown_my_number
from atena.mynumber.repository import persons_with_my_number
from atena.persons import repository as repo
from atena.persons.models import PersonChange
from atena.persons.rules import NO_SUCH_PERSON, invalid, load_person, person_ward_check
from atena.persons.schemas import SortKey
from atena.persons.snapshot import PersonState
from mch_common.dates import today_tokyo
from mch_common.errors import Forbidden, NotFound
from mch_common.person_numbers import is_valid_person_no
from mch_common.refusals import refused_as_miss
from mch_common.work import UnitOfWork


async def read_person(
    session: AsyncSession,
    *,
    ctx: RegistryContext,
    person_no: str,
    as_of: date | None = None,
    known_at: datetime | None = None,
    view: repo.PersonView | None = None,
) -> PersonState:
    """The person now, or as recorded for `as_of` (as known at `known_at`); the My Number
    masked unless the caller may see it."""
    if view is None:
        view = await repo.person_view(session, person_no) if is_valid_person_no(person_no) else None
        if view is None:
            raise NotFound(NO_SUCH_PERSON)
    person_ward_check(ctx.principal, view.ward_code)
    snap = view.snapshot
    if as_of is not None or known_at is not None:
        past = await repo.snapshot_as_of(session, person_no, as_of or today_tokyo(), known_at)
        if past is None:
            raise NotFound("the registry has no record of this person on that date")
        snap = past
    has, shown, how = shown_my_number(ctx, view)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.read",
        target_type="person",
        target_id=person_no,
        purpose=ctx.purpose,
        detail={"as_of": as_of.isoformat() if as_of else None, "my_number": how},
    )
    return PersonState(snap, has_my_number=has, my_number=shown)


async def list_changes(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str
) -> list[PersonChange]:
    person = await load_person(session, person_no)
    person_ward_check(ctx.principal, person.ward_code)
    rows = await repo.changes(session, person_no)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.changes.read",
        target_type="person",
        target_id=person_no,
        purpose=ctx.purpose,
    )
    return rows


async def search(
    session: AsyncSession,
    *,
    ctx: RegistryContext,
    filters: repo.PersonFilters,
    sort: SortKey = "kana",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PersonState], int]:
    """People matching every given criterion; ward staff search their own ward only."""
    if not [name for name in filters.criteria() if name != "ward_code"]:
        raise invalid("query", "give at least one search criterion besides the ward")
    if ctx.principal.ward is not None:
        if filters.ward_code is not None and filters.ward_code != ctx.principal.ward:
            raise Forbidden("ward staff search their own ward only")
        filters = filters.in_ward(ctx.principal.ward)
    snaps, total = await repo.search(session, filters, sort=sort, limit=limit, offset=offset)
    numbers = [s["person_no"] for s in snaps]
    with_number = await persons_with_my_number(session, numbers)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.search",
        target_type="person",
        purpose=ctx.purpose,
        detail={"criteria": filters.criteria()},
        persons=numbers,
    )
    items = [PersonState(s, has_my_number=s["person_no"] in with_number) for s in snaps]
    return items, total


async def read_household(
    session: AsyncSession, *, ctx: RegistryContext, household_no: str
) -> list[PersonState]:
    no_household = "no household with this number"
    if not await repo.household_exists(session, household_no):
        raise NotFound(no_household)
    snaps = await repo.household_members(session, household_no)
    if ctx.principal.ward is not None:
        snaps = [s for s in snaps if s["address"]["ward_code"] == ctx.principal.ward]
        if not snaps:
            refusal = Forbidden("the household belongs to another ward")
            raise refused_as_miss(refusal, NotFound(no_household))
    numbers = [s["person_no"] for s in snaps]
    with_number = await persons_with_my_number(session, numbers)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="household.read",
        target_type="household",
        target_id=household_no,
        purpose=ctx.purpose,
        persons=numbers,
    )
    return [PersonState(s, has_my_number=s["person_no"] in with_number) for s in snaps]
