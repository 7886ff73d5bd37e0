"""Business rules of the registry: registration, life events, corrections, reads and lookups.

Every function takes keyword arguments and no HTTP types, runs inside the caller's unit of
work, and raises mch_common.errors domain errors. Every change writes, in that one
transaction: the person row, a version row, a change-log row, an outbox event and an access
record. Every read writes an access record.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from atena.events import PERSON_EVENTS
from atena.normalize import name_key, search_key
from atena.numbers import is_valid_person_no
from atena.persons import repository as repo
from atena.persons.models import Household, Person, PersonChange, PersonMyNumber, PersonVersion
from atena.persons.schemas import (
    Address,
    AddressChange,
    Birth,
    Correction,
    Death,
    DeliveryAddress,
    DeliveryAddressesChange,
    HouseholdPlacement,
    MoveIn,
    MoveOut,
    MyNumberRegistration,
    NameChange,
    PersonCreate,
    PersonOut,
    SortKey,
)
from atena.persons.snapshot import SNAPSHOT_FIELDS, changed_fields
from mch_common.auth.deps import ensure_ward_access
from mch_common.auth.principal import Principal
from mch_common.dates import today_tokyo
from mch_common.errors import Conflict, Forbidden, InvalidInput, NotFound
from mch_common.lgcode import KITAKYUSHU, KITAKYUSHU_WARDS, is_valid_lg_code
from mch_common.mynumber import EncryptedMyNumber, MyNumberVault, mask_my_number
from mch_common.work import UnitOfWork

EARLIEST_BIRTH = date(1880, 1, 1)
SCOPE_MY_NUMBER_READ = "atena:mynumber:read"
SCOPE_PERSON_READ = "atena:person:read"
IDENTITY_FIELDS = frozenset(
    {"family_name", "given_name", "family_name_kana", "given_name_kana", "sex", "birth_date"}
)


@dataclass(frozen=True)
class RegistryContext:
    """What the rules need from configuration: the city, the vault, the access purpose."""

    tenant: str
    vault: MyNumberVault
    principal: Principal
    purpose: str


def _error(loc: str, msg: str) -> dict[str, Any]:
    return {"loc": loc.split("."), "msg": msg, "type": "value_error"}


def _invalid(loc: str, msg: str) -> InvalidInput:
    return InvalidInput(msg, errors=[_error(loc, msg)])


# --- validation -------------------------------------------------------------------------------


def _city_wards(tenant: str) -> dict[str, str] | None:
    return KITAKYUSHU_WARDS if tenant == KITAKYUSHU else None


def _check_address(address: Address, *, tenant: str, in_city: bool, loc: str = "address") -> None:
    errors: list[dict[str, Any]] = []
    if not is_valid_lg_code(address.municipality_code):
        errors.append(
            _error(f"{loc}.municipality_code", "not a local government code (check digit)")
        )
    elif in_city and address.municipality_code != tenant:
        errors.append(_error(f"{loc}.municipality_code", "a resident's address is in this city"))
    if address.ward_code is not None:
        wards = _city_wards(tenant)
        if not is_valid_lg_code(address.ward_code):
            errors.append(_error(f"{loc}.ward_code", "not a ward code (check digit)"))
        elif (
            address.municipality_code == tenant
            and wards is not None
            and address.ward_code not in wards
        ):
            errors.append(_error(f"{loc}.ward_code", "unknown ward code for this city"))
    elif in_city and _city_wards(tenant) is not None:
        errors.append(_error(f"{loc}.ward_code", "a resident's address needs its ward code"))
    if errors:
        raise InvalidInput("the address is not valid; see errors", errors=errors)


def _check_birth_date(birth_date: date, loc: str = "birth_date") -> None:
    if birth_date > today_tokyo():
        raise _invalid(loc, "the birth date is in the future")
    if birth_date < EARLIEST_BIRTH:
        raise _invalid(loc, "the birth date is implausibly early")


def _check_effective(effective: date, person_birth: date, loc: str = "effective_date") -> None:
    if effective < person_birth:
        raise _invalid(loc, "the effective date precedes the birth date")
    if (effective - today_tokyo()).days > 366:
        raise _invalid(loc, "the effective date is more than a year ahead")


def _check_municipality(code: str, *, tenant: str, loc: str) -> None:
    if not is_valid_lg_code(code):
        raise _invalid(loc, "not a local government code (check digit)")
    if code == tenant:
        raise _invalid(loc, "this is the city's own code; use an address change")


def _check_delivery_addresses(items: list[DeliveryAddress]) -> list[dict[str, Any]]:
    purposes: set[str] = set()
    for i, item in enumerate(items):
        if item.valid_to is not None and item.valid_to < item.valid_from:
            raise _invalid(f"delivery_addresses.{i}.valid_to", "ends before it starts")
        key = f"{item.purpose}/{item.valid_from}"
        if key in purposes:
            raise _invalid(f"delivery_addresses.{i}.purpose", "duplicate purpose and start")
        purposes.add(key)
    return [item.model_dump(mode="json") for item in items]


def _ward_check(principal: Principal, *ward_codes: str | None) -> None:
    """Ward staff act on their own ward's residents; any one of the wards involved will do."""
    if principal.ward is None or principal.ward in ward_codes:
        return
    ensure_ward_access(principal, ward_codes[0] if ward_codes else None)


def _ensure_alive(person: Person) -> None:
    if person.residence_status == "deceased":
        raise Conflict("the person is recorded as deceased; record a correction instead")


# --- writing ----------------------------------------------------------------------------------


def _set_names(person: Person) -> None:
    person.name_key = name_key(person.family_name, person.given_name)
    person.kana_key = name_key(person.family_name_kana, person.given_name_kana)


def _set_address(person: Person, address: Address) -> None:
    person.postal_code = address.postal_code
    person.prefecture = address.prefecture
    person.municipality_code = address.municipality_code
    person.ward_code = address.ward_code
    person.town = address.town
    person.block = address.block
    person.building = address.building


async def _place_in_household(
    session: AsyncSession, person: Person, placement: HouseholdPlacement | None
) -> None:
    if placement is None or placement.household_no is None:
        household_no = await repo.next_household_no(session)
        session.add(Household(household_no=household_no))
        await session.flush()
        person.household_no = household_no
        person.relationship_to_head = "head"
        return
    if not await repo.household_exists(session, placement.household_no):
        raise _invalid("household.household_no", "no such household")
    if placement.relationship_to_head == "head":
        raise _invalid("household.relationship_to_head", "the household already has its head")
    person.household_no = placement.household_no
    person.relationship_to_head = placement.relationship_to_head


async def _store_my_number(
    session: AsyncSession, ctx: RegistryContext, person_no: str, my_number: str
) -> None:
    blind = ctx.vault.blind_index(my_number)
    if await repo.person_by_blind_index(session, blind) is not None:
        raise Conflict("this My Number is already registered to a person")
    sealed = ctx.vault.encrypt(my_number, aad=person_no.encode())
    session.add(
        PersonMyNumber(
            person_no=person_no,
            key_id=sealed.key_id,
            ciphertext=sealed.ciphertext,
            blind_index=blind,
        )
    )


async def _record(
    session: AsyncSession,
    ctx: RegistryContext,
    *,
    person: Person,
    verb: str,
    effective_date: date,
    before: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
    reason: str | None = None,
    correction_from: date | None = None,
) -> dict[str, Any]:
    """Bump the version, write history, change log, event and access record; return the snapshot."""
    latest = await repo.latest_live_version(session, person.person_no)
    if latest is not None and verb != "corrected" and effective_date < latest.valid_from:
        raise _invalid(
            "effective_date",
            f"the effective date precedes the latest recorded change ({latest.valid_from}); "
            "record a correction instead",
        )
    person.version = (person.version or 0) + 1
    await session.flush()
    after = await repo.snapshot(session, person.person_no)
    assert after is not None
    if before is None:
        changed_before: dict[str, Any] = {}
        changed_after = {k: after[k] for k in SNAPSHOT_FIELDS if k != "version"}
    else:
        changed_before, changed_after = changed_fields(before, after)
        if not changed_after:
            raise InvalidInput("the request changes nothing")

    if verb == "corrected":
        await _rewrite_history(
            session,
            person_no=person.person_no,
            patch=changed_after,
            snapshot=after,
            from_date=correction_from,
        )
    else:
        await repo.close_open_version(session, person.person_no, effective_date)
        await session.execute(
            insert(PersonVersion).values(
                person_no=person.person_no,
                version=person.version,
                valid_from=effective_date,
                snapshot=after,
                recorded_at=datetime.now(UTC),
            )
        )
    actor = ctx.principal.sub
    await session.execute(
        insert(PersonChange).values(
            person_no=person.person_no,
            version=person.version,
            change_type=verb,
            effective_date=effective_date,
            actor=actor,
            reason=reason,
            before=changed_before,
            after=changed_after,
            detail=extra or {},
        )
    )
    event = PERSON_EVENTS[verb]
    event.emit(
        UnitOfWork.of(session),
        subject=person.person_no,
        tenant=ctx.tenant,
        data=event.payload(
            person_no=person.person_no,
            effective_date=effective_date,
            before=changed_before,
            after=changed_after,
            person=after,
            **(extra or {}),
        ),
    )
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action=f"person.{verb}",
        target_type="person",
        target_id=person.person_no,
        purpose=ctx.purpose,
        detail={"version": person.version, "fields": sorted(changed_after)},
    )
    return after


async def _rewrite_history(
    session: AsyncSession,
    *,
    person_no: str,
    patch: dict[str, Any],
    snapshot: dict[str, Any],
    from_date: date | None,
) -> None:
    """A correction supersedes the affected versions (kept, for `known_at` queries) and writes
    corrected copies; the part of a version before `from_date` is copied unchanged."""
    now = datetime.now(UTC)
    version = snapshot["version"]
    # Without a date, identity facts are wrong for the whole history, but an address or a
    # phone number corrected now says nothing about where the person lived before.
    older_patch = (
        patch if from_date is not None else {k: v for k, v in patch.items() if k in IDENTITY_FIELDS}
    )
    for row in await repo.live_versions(session, person_no):
        if row.valid_to is not None and row.valid_to <= row.valid_from:
            continue  # a version replaced on its first day is never the answer to a query
        if from_date is not None and row.valid_to is not None and row.valid_to <= from_date:
            continue
        if row.valid_to is not None and not older_patch:
            continue
        await session.execute(
            update(PersonVersion).where(PersonVersion.id == row.id).values(superseded_at=now)
        )
        start = row.valid_from
        if from_date is not None and row.valid_from < from_date:
            await session.execute(
                insert(PersonVersion).values(
                    person_no=person_no,
                    version=row.version,
                    valid_from=row.valid_from,
                    valid_to=from_date,
                    snapshot=row.snapshot,
                    recorded_at=now,
                )
            )
            start = from_date
        corrected = (
            snapshot
            if row.valid_to is None
            else {**row.snapshot, **older_patch, "version": version}
        )
        await session.execute(
            insert(PersonVersion).values(
                person_no=person_no,
                version=version,
                valid_from=start,
                valid_to=row.valid_to,
                snapshot=corrected,
                recorded_at=now,
            )
        )


async def _new_person(
    session: AsyncSession, ctx: RegistryContext, body: PersonCreate, *, in_city: bool
) -> tuple[Person, date]:
    _check_birth_date(body.birth_date)
    _check_address(body.address, tenant=ctx.tenant, in_city=in_city)
    effective = body.effective_date or today_tokyo()
    _check_effective(effective, body.birth_date)
    _ward_check(ctx.principal, body.address.ward_code)
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
        delivery_addresses=_check_delivery_addresses(body.delivery_addresses),
    )
    _set_names(person)
    _set_address(person, body.address)
    await _place_in_household(session, person, body.household)
    session.add(person)
    if body.my_number is not None:
        await _store_my_number(session, ctx, person.person_no, body.my_number.get_secret_value())
    return person, effective


async def register(
    session: AsyncSession, *, ctx: RegistryContext, body: PersonCreate
) -> dict[str, Any]:
    """住民登録 / 住登外登録: a resident, or a registered non-resident."""
    in_city = body.residence_status == "resident"
    person, effective = await _new_person(session, ctx, body, in_city=in_city)
    return await _record(
        session, ctx, person=person, verb="registered", effective_date=effective, before=None
    )


async def move_in(session: AsyncSession, *, ctx: RegistryContext, body: MoveIn) -> dict[str, Any]:
    """転入: from another municipality; a former resident returning keeps their number."""
    _check_municipality(
        body.previous_municipality_code, tenant=ctx.tenant, loc="previous_municipality_code"
    )
    if body.residence_status != "resident":
        raise _invalid("residence_status", "a person moving in becomes a resident")
    extra = {"previous_municipality_code": body.previous_municipality_code}
    if body.person_no is None:
        person, effective = await _new_person(session, ctx, body, in_city=True)
        return await _record(
            session,
            ctx,
            person=person,
            verb="moved_in",
            effective_date=effective,
            before=None,
            extra=extra,
        )
    person = await _load(session, body.person_no, lock=True)
    if person.residence_status not in ("moved_out", "non_resident"):
        raise Conflict("only a person who moved out or a non-resident can move in")
    _check_address(body.address, tenant=ctx.tenant, in_city=True)
    _ward_check(ctx.principal, body.address.ward_code)
    effective = body.effective_date or today_tokyo()
    _check_effective(effective, person.birth_date)
    before = await repo.snapshot(session, person.person_no)
    person.residence_status = "resident"
    person.family_name, person.given_name = body.family_name, body.given_name
    person.family_name_kana, person.given_name_kana = body.family_name_kana, body.given_name_kana
    person.phone, person.email = body.phone, body.email
    _set_names(person)
    _set_address(person, body.address)
    await _place_in_household(session, person, body.household)
    if body.my_number is not None and await repo.my_number_of(session, person.person_no) is None:
        await _store_my_number(session, ctx, person.person_no, body.my_number.get_secret_value())
    return await _record(
        session,
        ctx,
        person=person,
        verb="moved_in",
        effective_date=effective,
        before=before,
        extra=extra,
    )


async def _load(session: AsyncSession, person_no: str, *, lock: bool = False) -> Person:
    if not is_valid_person_no(person_no):
        raise NotFound("no person with this person number")
    person = await repo.get_person(session, person_no, lock=lock)
    if person is None:
        raise NotFound("no person with this person number")
    return person


async def _living_for_change(session: AsyncSession, ctx: RegistryContext, person_no: str) -> Person:
    """The person, locked for a life event: in the caller's ward, and not deceased."""
    person = await _load(session, person_no, lock=True)
    _ward_check(ctx.principal, person.ward_code)
    _ensure_alive(person)
    return person


async def record_birth(
    session: AsyncSession, *, ctx: RegistryContext, mother_person_no: str, body: Birth
) -> dict[str, Any]:
    """出生: the child gets a number and joins the mother's household at her address."""
    mother = await _load(session, mother_person_no, lock=True)
    _ward_check(ctx.principal, mother.ward_code)
    if mother.residence_status != "resident":
        raise Conflict("the mother is not a resident of the city")
    if mother.sex != "female":
        raise _invalid("mother_person_no", "the mother is not recorded as female")
    _check_birth_date(body.birth_date)
    if body.birth_date.year - mother.birth_date.year < 10:  # (no date arithmetic on 29 Feb)
        raise _invalid("birth_date", "the birth date is implausible for this mother")
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
    _set_names(child)
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
    session.add(child)
    if body.my_number is not None:
        await _store_my_number(session, ctx, child.person_no, body.my_number.get_secret_value())
    return await _record(
        session,
        ctx,
        person=child,
        verb="born",
        effective_date=body.birth_date,
        before=None,
        extra={"mother_person_no": mother.person_no},
    )


async def change_address(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: AddressChange
) -> dict[str, Any]:
    """転居: a move within the city."""
    person = await _load(session, person_no, lock=True)
    _ward_check(ctx.principal, person.ward_code, body.address.ward_code)
    _ensure_alive(person)
    if person.residence_status != "resident":
        raise Conflict("only a resident moves within the city")
    _check_address(body.address, tenant=ctx.tenant, in_city=True)
    _check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    _set_address(person, body.address)
    if body.household is not None:
        await _place_in_household(session, person, body.household)
    return await _record(
        session,
        ctx,
        person=person,
        verb="address_changed",
        effective_date=body.effective_date,
        before=before,
    )


async def move_out(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: MoveOut
) -> dict[str, Any]:
    """転出: the record stays with its last address; the destination goes into the event."""
    person = await _living_for_change(session, ctx, person_no)
    if person.residence_status != "resident":
        raise Conflict("only a resident moves out")
    _check_municipality(
        body.destination_municipality_code, tenant=ctx.tenant, loc="destination_municipality_code"
    )
    _check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.residence_status = "moved_out"
    return await _record(
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
) -> dict[str, Any]:
    person = await _living_for_change(session, ctx, person_no)
    _check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    for field in ("family_name", "given_name", "family_name_kana", "given_name_kana"):
        value = getattr(body, field)
        if value is not None:
            setattr(person, field, value)
    _set_names(person)
    return await _record(
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
) -> dict[str, Any]:
    person = await _living_for_change(session, ctx, person_no)
    if body.death_date > today_tokyo():
        raise _invalid("death_date", "the death date is in the future")
    if body.death_date < person.birth_date:
        raise _invalid("death_date", "the death date precedes the birth date")
    effective = body.effective_date or body.death_date
    _check_effective(effective, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.residence_status = "deceased"
    person.death_date = body.death_date
    return await _record(
        session, ctx, person=person, verb="died", effective_date=effective, before=before
    )


async def change_delivery_addresses(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: DeliveryAddressesChange
) -> dict[str, Any]:
    person = await _living_for_change(session, ctx, person_no)
    _check_effective(body.effective_date, person.birth_date)
    before = await repo.snapshot(session, person_no)
    person.delivery_addresses = _check_delivery_addresses(body.delivery_addresses)
    return await _record(
        session,
        ctx,
        person=person,
        verb="delivery_address_changed",
        effective_date=body.effective_date,
        before=before,
    )


async def register_my_number(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: MyNumberRegistration
) -> PersonOut:
    """A first My Number for a registered person, or its replacement (with a reason). The change
    log and the access log say that it happened, never the number; no event is emitted (the
    number is nobody else's business, and the person's snapshot does not change)."""
    person = await _living_for_change(session, ctx, person_no)
    number = body.my_number.get_secret_value()
    blind = ctx.vault.blind_index(number)
    holder = await repo.person_by_blind_index(session, blind)
    if holder is not None and holder != person_no:
        raise Conflict("this My Number is already registered to another person")
    if holder is None:
        current = await repo.my_number_of(session, person_no)
        if current is not None and body.reason is None:
            raise _invalid("reason", "replacing a registered My Number needs the reason")
        sealed = ctx.vault.encrypt(number, aad=person_no.encode())
        if current is None:
            session.add(
                PersonMyNumber(
                    person_no=person_no,
                    key_id=sealed.key_id,
                    ciphertext=sealed.ciphertext,
                    blind_index=blind,
                )
            )
        else:
            current.key_id, current.ciphertext = sealed.key_id, sealed.ciphertext
            current.blind_index, current.registered_at = blind, datetime.now(UTC)
        verb = "my_number_registered" if current is None else "my_number_replaced"
        await session.execute(
            insert(PersonChange).values(
                person_no=person_no,
                version=person.version,
                change_type=verb,
                effective_date=today_tokyo(),
                actor=ctx.principal.sub,
                reason=body.reason,
                before={},
                after={},
                detail={"my_number": verb.removeprefix("my_number_")},
            )
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
    return await read_person(session, ctx=ctx, person_no=person_no)


async def correct(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str, body: Correction
) -> dict[str, Any]:
    """職権修正: also used for contact details (phone, e-mail), which have no life event."""
    person = await _load(session, person_no, lock=True)
    changes = body.changes.model_dump(exclude_unset=True)
    if not changes:
        raise _invalid("changes", "name at least one field to correct")
    _ward_check(ctx.principal, person.ward_code)
    if body.changes.birth_date is not None:
        _check_birth_date(body.changes.birth_date, loc="changes.birth_date")
    if body.changes.address is not None:
        _check_address(
            body.changes.address,
            tenant=ctx.tenant,
            in_city=person.residence_status == "resident",
            loc="changes.address",
        )
    for field in ("family_name", "given_name", "family_name_kana", "given_name_kana", "sex"):
        if field in changes and changes[field] is None:
            raise _invalid(f"changes.{field}", "this field cannot be emptied")
    before = await repo.snapshot(session, person_no)
    for field, value in changes.items():
        if field == "address":
            assert body.changes.address is not None
            _set_address(person, body.changes.address)
        else:
            setattr(person, field, value)
    _set_names(person)
    effective = body.effective_date or today_tokyo()
    return await _record(
        session,
        ctx,
        person=person,
        verb="corrected",
        effective_date=effective,
        before=before,
        reason=body.reason,
        correction_from=body.effective_date,
    )


# --- reading ----------------------------------------------------------------------------------


def _my_number_shown(ctx: RegistryContext, view: repo.PersonView) -> tuple[bool, str | None, str]:
    if view.my_number_key_id is None or view.my_number_ciphertext is None:
        return False, None, "none"
    number = ctx.vault.decrypt(
        EncryptedMyNumber(view.my_number_key_id, view.my_number_ciphertext),
        aad=view.person_no.encode(),
    )
    if ctx.principal.has_scope(SCOPE_MY_NUMBER_READ):
        return True, number, "revealed"
    return True, mask_my_number(number), "masked"


async def read_person(
    session: AsyncSession,
    *,
    ctx: RegistryContext,
    person_no: str,
    as_of: date | None = None,
    known_at: datetime | None = None,
    view: repo.PersonView | None = None,
) -> PersonOut:
    if view is None:
        view = await repo.person_view(session, person_no) if is_valid_person_no(person_no) else None
        if view is None:
            raise NotFound("no person with this person number")
    _ward_check(ctx.principal, view.ward_code)
    if as_of is None and known_at is None:
        snap: dict[str, Any] | None = view.snapshot
    else:
        snap = await repo.snapshot_as_of(session, person_no, as_of or today_tokyo(), known_at)
        if snap is None:
            raise NotFound("the registry has no record of this person on that date")
    assert snap is not None
    has, shown, how = _my_number_shown(ctx, view)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.read",
        target_type="person",
        target_id=person_no,
        purpose=ctx.purpose,
        detail={"as_of": as_of.isoformat() if as_of else None, "my_number": how},
    )
    return PersonOut.model_validate({**snap, "has_my_number": has, "my_number": shown})


async def list_changes(
    session: AsyncSession, *, ctx: RegistryContext, person_no: str
) -> list[PersonChange]:
    person = await _load(session, person_no)
    _ward_check(ctx.principal, person.ward_code)
    rows = await repo.changes(session, person_no)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.changes.read",
        target_type="person",
        target_id=person_no,
        purpose=ctx.purpose,
    )
    return rows


_SORTS: dict[str, list[Any]] = {
    "person_no": [Person.person_no],
    "kana": [Person.kana_key, Person.person_no],
    "-kana": [Person.kana_key.desc(), Person.person_no],
    "name": [Person.name_key, Person.person_no],
    "-name": [Person.name_key.desc(), Person.person_no],
    "birth_date": [Person.birth_date, Person.person_no],
    "-birth_date": [Person.birth_date.desc(), Person.person_no],
}


async def search(
    session: AsyncSession,
    *,
    ctx: RegistryContext,
    name: str | None = None,
    kana: str | None = None,
    birth_date: date | None = None,
    birth_date_from: date | None = None,
    birth_date_to: date | None = None,
    postal_code: str | None = None,
    ward_code: str | None = None,
    town: str | None = None,
    household_no: str | None = None,
    residence_status: str | None = None,
    sex: str | None = None,
    sort: SortKey = "kana",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[PersonOut], int]:
    where: list[ColumnElement[bool]] = []
    criteria: list[str] = []
    if name:
        where.append(repo.name_matches(search_key(name)))
        criteria.append("name")
    if kana:
        where.append(repo.prefix(Person.kana_key, search_key(kana)))
        criteria.append("kana")
    if birth_date is not None:
        where.append(Person.birth_date == birth_date)
        criteria.append("birth_date")
    if birth_date_from is not None:
        where.append(Person.birth_date >= birth_date_from)
        criteria.append("birth_date_from")
    if birth_date_to is not None:
        where.append(Person.birth_date <= birth_date_to)
        criteria.append("birth_date_to")
    if postal_code:
        where.append(Person.postal_code == postal_code.replace("-", ""))
        criteria.append("postal_code")
    if town:
        where.append(repo.prefix(Person.town, town.strip()))
        criteria.append("town")
    if household_no:
        where.append(Person.household_no == household_no)
        criteria.append("household_no")
    if residence_status:
        where.append(Person.residence_status == residence_status)
        criteria.append("residence_status")
    if sex:
        where.append(Person.sex == sex)
        criteria.append("sex")
    if not criteria:
        raise _invalid("query", "give at least one search criterion besides the ward")
    if ctx.principal.ward is not None:
        if ward_code is not None and ward_code != ctx.principal.ward:
            raise Forbidden("ward staff search their own ward only")
        ward_code = ctx.principal.ward
    if ward_code:
        where.append(Person.ward_code == ward_code)
        criteria.append("ward_code")
    snaps, total = await repo.snapshots(
        session, where, order_by=_SORTS[sort], limit=limit, offset=offset
    )
    numbers = [s["person_no"] for s in snaps]
    with_number = await repo.persons_with_my_number(session, numbers)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.search",
        target_type="person",
        purpose=ctx.purpose,
        detail={"criteria": criteria, "person_nos": numbers},
    )
    items = [
        PersonOut.model_validate({**s, "has_my_number": s["person_no"] in with_number})
        for s in snaps
    ]
    return items, total


async def read_household(
    session: AsyncSession, *, ctx: RegistryContext, household_no: str
) -> list[PersonOut]:
    if not await repo.household_exists(session, household_no):
        raise NotFound("no household with this number")
    where: list[ColumnElement[bool]] = [Person.household_no == household_no]
    snaps, _ = await repo.snapshots(
        session, where, order_by=[Person.birth_date, Person.person_no], limit=100, offset=0
    )
    if ctx.principal.ward is not None:
        snaps = [s for s in snaps if s["address"]["ward_code"] == ctx.principal.ward]
        if not snaps:
            raise Forbidden("the household belongs to another ward")
    numbers = [s["person_no"] for s in snaps]
    with_number = await repo.persons_with_my_number(session, numbers)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="household.read",
        target_type="household",
        target_id=household_no,
        purpose=ctx.purpose,
        detail={"person_nos": numbers},
    )
    return [
        PersonOut.model_validate({**s, "has_my_number": s["person_no"] in with_number})
        for s in snaps
    ]


async def lookup_by_my_number(
    session: AsyncSession, *, ctx: RegistryContext, my_number: str
) -> PersonOut | str | None:
    """Which person has this My Number. Returns None when nobody does (the caller answers 404
    and still commits the access record), the person when the caller may read people, else
    just the person number."""
    view = await repo.person_view_by_blind_index(session, ctx.vault.blind_index(my_number))
    if view is None:
        UnitOfWork.of(session).record_access(
            ctx.principal,
            action="person.lookup_by_my_number",
            outcome="not_found",
            target_type="person",
            purpose=ctx.purpose,
        )
        return None
    _ward_check(ctx.principal, view.ward_code)
    UnitOfWork.of(session).record_access(
        ctx.principal,
        action="person.lookup_by_my_number",
        target_type="person",
        target_id=view.person_no,
        purpose=ctx.purpose,
    )
    if not ctx.principal.has_scope(SCOPE_PERSON_READ):
        return view.person_no
    return await read_person(session, ctx=ctx, person_no=view.person_no, view=view)
