"""The My Number rules: registering (or replacing) a person's number, and the scoped lookup of
the person who has a number. The change log and the access log say that it happened, never
the number; no event is emitted (the number is nobody else's business, and the person's
snapshot does not change)."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.mynumber import repository as repo
from atena.network.service import NETWORK_CODES
from atena.persons import reads
from atena.persons.repository import add_change
from atena.persons.rules import invalid, living_for_change, person_ward_check
from atena.persons.snapshot import PersonState
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, NotFound
from mch_common.jobs import wake_after_commit
from mch_common.refusals import refusal
from mch_common.work import UnitOfWork

SCOPE_PERSON_READ = "atena:person:read"
NO_PERSON_WITH_MY_NUMBER = "no person has this My Number"


@dataclass(frozen=True)
class MyNumberMatch:
    """The person who has the number looked up; `person` only for a caller who may read people."""

    person_no: str
    person: PersonState | None


async def store_my_number(
    session: AsyncSession, ctx: RegistryContext, *, person_no: str, my_number: str
) -> None:
    """The My Number of a person being registered (a registration, a move-in, a birth)."""
    indexes = ctx.vault.lookup_indexes(my_number)
    if await repo.person_by_blind_index(session, indexes) is not None:
        raise Conflict("this My Number is already registered to a person")
    sealed = ctx.vault.encrypt(my_number, aad=person_no.encode())
    repo.add_my_number(
        session,
        person_no=person_no,
        sealed=sealed,
        blind_index=indexes[0],
        index_key_id=ctx.vault.index_key_id,
    )
    wake_after_commit(session, NETWORK_CODES)  # its 符号 obtained once this commits


async def store_my_number_if_none(
    session: AsyncSession, ctx: RegistryContext, *, person_no: str, my_number: str
) -> None:
    """A returning person's My Number (a move-in), unless one is registered already."""
    if await repo.my_number_of(session, person_no) is None:
        await store_my_number(session, ctx, person_no=person_no, my_number=my_number)


async def register_my_number(
    session: AsyncSession,
    *,
    ctx: RegistryContext,
    person_no: str,
    my_number: str,
    reason: str | None,
) -> PersonState:
    """A first My Number for a registered person, or its replacement (with a reason)."""
    person = await living_for_change(session, ctx, person_no)
    indexes = ctx.vault.lookup_indexes(my_number)
    holder = await repo.person_by_blind_index(session, indexes)
    if holder is not None and holder != person_no:
        raise Conflict("this My Number is already registered to another person")
    if holder is None:
        current = await repo.my_number_of(session, person_no)
        if current is not None and reason is None:
            raise invalid("reason", "replacing a registered My Number needs the reason")
        sealed = ctx.vault.encrypt(my_number, aad=person_no.encode())
        blind, index_key_id = indexes[0], ctx.vault.index_key_id
        if current is None:
            repo.add_my_number(
                session,
                person_no=person_no,
                sealed=sealed,
                blind_index=blind,
                index_key_id=index_key_id,
            )
        else:
            repo.replace_my_number(
                current, sealed=sealed, blind_index=blind, index_key_id=index_key_id
            )
        wake_after_commit(session, NETWORK_CODES)  # the new number's 符号
        verb = "my_number_registered" if current is None else "my_number_replaced"
        await add_change(
            session,
            person_no=person_no,
            version=person.version,
            change_type=verb,
            effective_date=today_tokyo(),
            actor=ctx.principal.sub,
            reason=reason,
            before={},
            after={},
            detail={"my_number": verb.removeprefix("my_number_")},
        )
        UnitOfWork.of(session).record_access(
            ctx.principal,
            action=f"person.{verb}",
            target_type="person",
            target_id=person_no,
            purpose=ctx.purpose,
        )
        await session.flush()
    # The same number again changes nothing; either way the answer is the person, masked.
    return await reads.read_person(session, ctx=ctx, person_no=person_no)


async def lookup_by_my_number(
    session: AsyncSession, *, ctx: RegistryContext, my_number: str
) -> MyNumberMatch:
    """Which person has this My Number. Nobody and somebody of another ward get the same 404
    (a refusal tells no more than a miss); its access record is committed apart and says
    which."""
    action = "person.lookup_by_my_number"
    view = await repo.person_view_by_blind_index(session, ctx.vault.lookup_indexes(my_number))
    try:
        if view is None:
            raise NotFound(NO_PERSON_WITH_MY_NUMBER)
        person_ward_check(ctx.principal, view.ward_code, miss=NO_PERSON_WITH_MY_NUMBER)
    except NotFound as miss:
        raise refusal(
            session,
            miss,
            ctx.principal,
            action=action,
            target_type="person",
            target_id=view.person_no if view is not None else None,
            purpose=ctx.purpose,
        ) from None
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action=action,
        target_type="person",
        target_id=view.person_no,
        purpose=ctx.purpose,
    )
    if not ctx.principal.has_scope(SCOPE_PERSON_READ):
        return MyNumberMatch(view.person_no, None)
    person = await reads.read_person(session, ctx=ctx, person_no=view.person_no, view=view)
    return MyNumberMatch(view.person_no, person)
