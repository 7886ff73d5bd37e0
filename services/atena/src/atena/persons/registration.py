"""Registering people: 住民登録 / 住登外登録 (a resident, or a registered non-resident), 転入
(moving in from another municipality) and 出生 (a birth)."""

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.mynumber.service import store_my_number, store_my_number_if_none
from atena.persons import repository as repo
from atena.persons.history import record_change
from atena.persons.models import Person
from atena.persons.rules import (
    check_address,
    check_birth_date,
    check_delivery_addresses,
    check_effective,
    check_municipality,
    invalid,
    load_person,
    set_address,
    set_names,
    ward_check,
)
from atena.persons.schemas import Birth, HouseholdPlacement, MoveIn, PersonCreate
from atena.persons.snapshot import PersonState
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict
from mch_common.names import name_key


async def place_in_household(
    session: AsyncSession, person: Person, placement: HouseholdPlacement | None
) -> None:
    if placement is None or placement.household_no is None:
        person.household_no = await repo.add_household(session)
        person.relationship_to_head = "head"
        return
    if not await repo.household_exists(session, placement.household_no):
        raise invalid("household.household_no", "no such household")
    if placement.relationship_to_head == "head":
        raise invalid("household.relationship_to_head", "the household already has its head")
    person.household_no = placement.household_no
    person.relationship_to_head = placement.relationship_to_head


async def _new_person(
    session: AsyncSession, ctx: RegistryContext, body: PersonCreate, *, in_city: bool
) -> tuple[Person, date]:
    check_birth_date(body.birth_date)
    check_address(body.address, tenant=ctx.tenant, in_city=in_city)
    effective = body.effective_date or today_tokyo()
    check_effective(effective, body.birth_date)
    ward_check(ctx.principal, body.address.ward_code)
    if body.external_key and await repo.person_no_by_external_key(session, body.external_key):
        raise Conflict("a person with this external key is already registered")
    key = name_key(body.family_name, body.given_name)
    if await repo.same_person_registered(
        session,
        name_key=key,
        birth_date=body.birth_date,
        town=body.address.town,
        block=body.address.block,
    ):
        raise Conflict("a person with the same name, birth date and address is already registered")
    person = Person(
        person_no=await repo.next_person_no(session),
        external_key=body.external_key,
        version=0,
        residence_status=body.residence_status,
        family_name=body.family_name,
        given_name=body.given_name,
        family_name_kana=body.family_name_kana,
        given_name_kana=body.given_name_kana,
        sex=body.sex,
        birth_date=body.birth_date,
        phone=body.phone,
        email=body.email,
        delivery_addresses=check_delivery_addresses(body.delivery_addresses),
    )
    set_names(person)
    set_address(person, body.address)
    await place_in_household(session, person, body.household)
    repo.add_person(session, person)
    if body.my_number is not None:
        await store_my_number(
            session, ctx, person_no=person.person_no, my_number=body.my_number.get_secret_value()
        )
    return person, effective


async def register(
    session: AsyncSession, *, ctx: RegistryContext, body: PersonCreate
) -> PersonState:
    """住民登録 / 住登外登録: a resident, or a registered non-resident."""
    in_city = body.residence_status == "resident"
    person, effective = await _new_person(session, ctx, body, in_city=in_city)
    return await record_change(
        session, ctx, person=person, verb="registered", effective_date=effective, before=None
    )


async def move_in(session: AsyncSession, *, ctx: RegistryContext, body: MoveIn) -> PersonState:
    """転入: from another municipality; a former resident returning keeps their number."""
    check_municipality(
        body.previous_municipality_code, tenant=ctx.tenant, loc="previous_municipality_code"
    )
    if body.residence_status != "resident":
        raise invalid("residence_status", "a person moving in becomes a resident")
    extra = {"previous_municipality_code": body.previous_municipality_code}
    if body.person_no is None:
        person, effective = await _new_person(session, ctx, body, in_city=True)
        return await record_change(
            session,
            ctx,
            person=person,
            verb="moved_in",
            effective_date=effective,
            before=None,
            extra=extra,
        )
    person = await load_person(session, body.person_no, lock=True)
    if person.residence_status not in ("moved_out", "non_resident"):
        raise Conflict("only a person who moved out or a non-resident can move in")
    check_address(body.address, tenant=ctx.tenant, in_city=True)
    ward_check(ctx.principal, body.address.ward_code)
    effective = body.effective_date or today_tokyo()
    check_effective(effective, person.birth_date)
    before = await repo.snapshot(session, person.person_no)
    person.residence_status = "resident"
    person.family_name, person.given_name = body.family_name, body.given_name
    person.family_name_kana, person.given_name_kana = body.family_name_kana, body.given_name_kana
    person.phone, person.email = body.phone, body.email
    set_names(person)
    set_address(person, body.address)
    await place_in_household(session, person, body.household)
    if body.my_number is not None:
        await store_my_number_if_none(
            session, ctx, person_no=person.person_no, my_number=body.my_number.get_secret_value()
        )
    return await record_change(
        session,
        ctx,
        person=person,
        verb="moved_in",
        effective_date=effective,
        before=before,
        extra=extra,
    )


async def record_birth(
    session: AsyncSession, *, ctx: RegistryContext, mother_person_no: str, body: Birth
) -> PersonState:
    """出生: the child gets a number and joins the mother's household at her address."""
    mother = await load_person(session, mother_person_no, lock=True)
    ward_check(ctx.principal, mother.ward_code)
    if mother.residence_status != "resident":
        raise Conflict("the mother is not a resident of the city")
    if mother.sex != "female":
        raise invalid("mother_person_no", "the mother is not recorded as female")
    check_birth_date(body.birth_date)
    if body.birth_date.year - mother.birth_date.year < 10:  # (no date arithmetic on 29 Feb)
        raise invalid("birth_date", "the birth date is implausible for this mother")
    if body.external_key and await repo.person_no_by_external_key(session, body.external_key):
        raise Conflict("a person with this external key is already registered")
    family_name = body.family_name or mother.family_name
    if await repo.same_person_registered(
        session,
        name_key=name_key(family_name, body.given_name),
        birth_date=body.birth_date,
        town=mother.town,
        block=mother.block,
    ):
        raise Conflict("this birth is already registered")
    child = Person(
        person_no=await repo.next_person_no(session),
        external_key=body.external_key,
        version=0,
        residence_status="resident",
        family_name=family_name,
        given_name=body.given_name,
        family_name_kana=body.family_name_kana or mother.family_name_kana,
        given_name_kana=body.given_name_kana,
        sex=body.sex,
        birth_date=body.birth_date,
        household_no=mother.household_no,
        relationship_to_head=body.relationship_to_head,
        mother_person_no=mother.person_no,
        delivery_addresses=[],
    )
    set_names(child)
    for column in (
        "postal_code",
        "prefecture",
        "municipality_code",
        "ward_code",
        "town",
        "block",
        "building",
    ):
        setattr(child, column, getattr(mother, column))
    repo.add_person(session, child)
    if body.my_number is not None:
        await store_my_number(
            session, ctx, person_no=child.person_no, my_number=body.my_number.get_secret_value()
        )
    return await record_change(
        session,
        ctx,
        person=child,
        verb="born",
        effective_date=body.birth_date,
        before=None,
        extra={"mother_person_no": mother.person_no},
    )
