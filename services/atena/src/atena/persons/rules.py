"""Checks and small steps every change of a person shares: input rules the schemas cannot
hold (they need the city or today's date), ward scoping, and loading the person to change."""

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atena.context import RegistryContext
from atena.persons import repository as repo
from atena.persons.models import Person
from atena.persons.schemas import Address, DeliveryAddress
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from mch_common.lgcode import KITAKYUSHU, KITAKYUSHU_WARDS, is_valid_lg_code
from mch_common.names import name_key
from mch_common.person_numbers import is_valid_person_no
from mch_common.refusals import refused_as_miss

EARLIEST_BIRTH = date(1880, 1, 1)
NO_SUCH_PERSON = "no person with this person number"


def error(loc: str, msg: str) -> dict[str, Any]:
    return {"loc": loc.split("."), "msg": msg, "type": "value_error"}


def invalid(loc: str, msg: str) -> InvalidInput:
    return InvalidInput(msg, errors=[error(loc, msg)])


def _city_wards(tenant: str) -> dict[str, str] | None:
    return KITAKYUSHU_WARDS if tenant == KITAKYUSHU else None


def check_address(address: Address, *, tenant: str, in_city: bool, loc: str = "address") -> None:
    errors: list[dict[str, Any]] = []
    if not is_valid_lg_code(address.municipality_code):
        errors.append(
            error(f"{loc}.municipality_code", "not a local government code (check digit)")
        )
    elif in_city and address.municipality_code != tenant:
        errors.append(error(f"{loc}.municipality_code", "a resident's address is in this city"))
    if address.ward_code is not None:
        wards = _city_wards(tenant)
        if not is_valid_lg_code(address.ward_code):
            errors.append(error(f"{loc}.ward_code", "not a ward code (check digit)"))
        elif (
            address.municipality_code == tenant
            and wards is not None
            and address.ward_code not in wards
        ):
            errors.append(error(f"{loc}.ward_code", "unknown ward code for this city"))
    elif in_city and _city_wards(tenant) is not None:
        errors.append(error(f"{loc}.ward_code", "a resident's address needs its ward code"))
    if errors:
        raise InvalidInput("the address is not valid; see errors", errors=errors)


def check_birth_date(birth_date: date, loc: str = "birth_date") -> None:
    if birth_date > today_tokyo():
        raise invalid(loc, "the birth date is in the future")
    if birth_date < EARLIEST_BIRTH:
        raise invalid(loc, "the birth date is implausibly early")


def check_effective(effective: date, person_birth: date, loc: str = "effective_date") -> None:
    if effective < person_birth:
        raise invalid(loc, "the effective date precedes the birth date")
    if (effective - today_tokyo()).days > 366:
        raise invalid(loc, "the effective date is more than a year ahead")


def check_municipality(code: str, *, tenant: str, loc: str) -> None:
    if not is_valid_lg_code(code):
        raise invalid(loc, "not a local government code (check digit)")
    if code == tenant:
        raise invalid(loc, "this is the city's own code; use an address change")


def check_delivery_addresses(items: list[DeliveryAddress]) -> list[dict[str, Any]]:
    purposes: set[str] = set()
    for i, item in enumerate(items):
        if item.valid_to is not None and item.valid_to < item.valid_from:
            raise invalid(f"delivery_addresses.{i}.valid_to", "ends before it starts")
        key = f"{item.purpose}/{item.valid_from}"
        if key in purposes:
            raise invalid(f"delivery_addresses.{i}.purpose", "duplicate purpose and start")
        purposes.add(key)
    return [item.model_dump(mode="json") for item in items]


def ward_check(principal: Principal, *ward_codes: str | None) -> None:
    """Ward staff act on their own ward's residents; any one of the wards involved will do."""
    if principal.ward is None or principal.ward in ward_codes:
        return
    ensure_ward_access(principal, ward_codes[0] if ward_codes else None)


def person_ward_check(
    principal: Principal, *ward_codes: str | None, miss: str = NO_SUCH_PERSON
) -> None:
    """`ward_check` for a person who exists: another ward's resident is answered as the miss
    (`miss`), so that a refusal tells no more than a miss; the access record says refused."""
    try:
        ward_check(principal, *ward_codes)
    except Forbidden as denied:
        raise refused_as_miss(denied, NotFound(miss)) from None


def ensure_alive(person: Person) -> None:
    if person.residence_status == "deceased":
        raise Conflict("the person is recorded as deceased; record a correction instead")


def set_names(person: Person) -> None:
    person.name_key = name_key(person.family_name, person.given_name)
    person.kana_key = name_key(person.family_name_kana, person.given_name_kana)


def set_address(person: Person, address: Address) -> None:
    person.postal_code = address.postal_code
    person.prefecture = address.prefecture
    person.municipality_code = address.municipality_code
    person.ward_code = address.ward_code
    person.town = address.town
    person.block = address.block
    person.building = address.building


async def load_person(session: AsyncSession, person_no: str, *, lock: bool = False) -> Person:
    if not is_valid_person_no(person_no):
        raise NotFound(NO_SUCH_PERSON)
    person = await repo.get_person(session, person_no, lock=lock)
    if person is None:
        raise NotFound(NO_SUCH_PERSON)
    return person


async def living_for_change(session: AsyncSession, ctx: RegistryContext, person_no: str) -> Person:
    """The person, locked for a life event: in the caller's ward, and not deceased."""
    person = await load_person(session, person_no, lock=True)
    person_ward_check(ctx.principal, person.ward_code)
    ensure_alive(person)
    return person
