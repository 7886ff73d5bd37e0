"""Life events of a registered person: 転居 (a move within the city), 転出 (moving out), 氏名変更
(a name change), 死亡 (a death) and 送付先 (delivery addresses)."""

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.persons import repository as repo
from atena.persons.history import record_change
from atena.persons.registration import place_in_household
from atena.persons.rules import (
    check_address,
    check_delivery_addresses,
    check_effective,
    check_municipality,
    ensure_alive,
    invalid,
    living_for_change,
    load_person,
    person_ward_check,
    set_address,
    set_names,
)
from atena.persons.schemas import AddressChange, Death, DeliveryAddressesChange, MoveOut, NameChange
from atena.persons.snapshot import PersonState
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict


async def change_address(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: AddressChange
) -> PersonState:
    """転居: a move within the city."""
    person = await load_person(session, person_no, lock=True)
    person_ward_check(ctx.principal, person.ward_code, body.address.ward_code)
    ensure_alive(person)
    if person.residence_status != "resident":
        raise Conflict("only a resident moves within the city")
    check_address(body.address, tenant=ctx.tenant, in_city=True)
    check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    set_address(person, body.address)
    if body.household is not None:
        await place_in_household(session, person, body.household)
    return await record_change(
        session,
        ctx,
        person=person,
        verb="address_changed",
        effective_date=body.effective_date,
        before=before,
    )


async def move_out(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: MoveOut
) -> PersonState:
    """転出: the record stays with its last address; the destination goes into the event."""
    person = await living_for_change(session, ctx, person_no)
    if person.residence_status != "resident":
        raise Conflict("only a resident moves out")
    check_municipality(
        body.destination_municipality_code, tenant=ctx.tenant, loc="destination_municipality_code"
    )
    check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.residence_status = "moved_out"
    return await record_change(
        session,
        ctx,
        person=person,
        verb="moved_out",
        effective_date=body.effective_date,
        before=before,
        extra={"destination_municipality_code": body.destination_municipality_code},
    )


async def change_name(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: NameChange
) -> PersonState:
    person = await living_for_change(session, ctx, person_no)
    check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    for field in ("family_name", "given_name", "family_name_kana", "given_name_kana"):
        value = getattr(body, field)
        if value is not None:
            setattr(person, field, value)
    set_names(person)
    return await record_change(
        session,
        ctx,
        person=person,
        verb="name_changed",
        effective_date=body.effective_date,
        before=before,
        reason=body.reason,
    )


async def record_death(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: Death
) -> PersonState:
    person = await living_for_change(session, ctx, person_no)
    if body.death_date > today_tokyo():
        raise invalid("death_date", "the death date is in the future")
    if body.death_date < person.birth_date:
        raise invalid("death_date", "the death date precedes the birth date")
    effective = body.effective_date or body.death_date
    check_effective(effective, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.residence_status = "deceased"
    person.death_date = body.death_date
    return await record_change(
        session, ctx, person=person, verb="died", effective_date=effective, before=before
    )


async def change_delivery_addresses(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: DeliveryAddressesChange
) -> PersonState:
    person = await living_for_change(session, ctx, person_no)
    check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.delivery_addresses = check_delivery_addresses(body.delivery_addresses)
    return await record_change(
        session,
        ctx,
        person=person,
        verb="delivery_address_changed",
        effective_date=body.effective_date,
        before=before,
    )
