"""HTTP endpoints of the registry: parse, call one service function, return a schema."""

from datetime import date, datetime
from typing import Annotated

from fastapi import Query, Request

from atena.persons import corrections, life_events, reads, registration
from atena.persons.repository import PersonFilters
from atena.persons.schemas import (
    AddressChange,
    Birth,
    ChangeList,
    ChangeOut,
    Correction,
    Death,
    DeliveryAddressesChange,
    HouseholdOut,
    MoveIn,
    MoveOut,
    NameChange,
    PersonCreate,
    PersonOut,
    PersonPage,
    ResidenceStatus,
    Sex,
    SortKey,
)
from atena.web import PurposeHeader, registry_context
from mch_common.auth.deps import require_scope
from mch_common.auth.principal import Principal
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["persons"])

Reader = Annotated[Principal, require_scope("atena:person:read")]
Writer = Annotated[Principal, require_scope("atena:person:write")]


@router.post("/persons", status_code=201, summary="Register a resident or a non-resident")
async def register_person(
    body: PersonCreate,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await registration.register(
            session, ctx=registry_context(request, principal, purpose), body=body
        )
    )


@router.post("/persons/move-in", status_code=201, summary="転入: move in from another city")
async def move_in(
    body: MoveIn,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await registration.move_in(
            session, ctx=registry_context(request, principal, purpose), body=body
        )
    )


@router.get("/persons", summary="Search by name, kana, birth date, address, household")
async def search_persons(
    session: Session,
    principal: Reader,
    request: Request,
    purpose: PurposeHeader = None,
    name: Annotated[str | None, Query(max_length=100, description="name or kana prefix")] = None,
    kana: Annotated[str | None, Query(max_length=100)] = None,
    birth_date: date | None = None,
    birth_date_from: date | None = None,
    birth_date_to: date | None = None,
    postal_code: Annotated[str | None, Query(max_length=8)] = None,
    ward_code: Annotated[str | None, Query(max_length=6)] = None,
    town: Annotated[str | None, Query(max_length=100)] = None,
    household_no: Annotated[str | None, Query(max_length=10)] = None,
    residence_status: ResidenceStatus | None = None,
    sex: Sex | None = None,
    sort: SortKey = "kana",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PersonPage:
    filters = PersonFilters(
        name=name,
        kana=kana,
        birth_date=birth_date,
        birth_date_from=birth_date_from,
        birth_date_to=birth_date_to,
        postal_code=postal_code,
        town=town,
        household_no=household_no,
        residence_status=residence_status,
        sex=sex,
        ward_code=ward_code,
    )
    items, total = await reads.search(
        session,
        ctx=registry_context(request, principal, purpose),
        filters=filters,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    return PersonPage(
        items=[PersonOut.of(item) for item in items], total=total, limit=limit, offset=offset
    )


@router.get("/persons/{person_no}", summary="A person now, or as of a date (as_of, known_at)")
async def read_person(
    person_no: str,
    session: Session,
    principal: Reader,
    request: Request,
    purpose: PurposeHeader = None,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> PersonOut:
    person = await reads.read_person(
        session,
        ctx=registry_context(request, principal, purpose),
        person_no=person_no,
        as_of=as_of,
        known_at=known_at,
    )
    return PersonOut.of(person)


@router.get("/persons/{person_no}/changes", summary="The list of changes (change log)")
async def list_changes(
    person_no: str,
    session: Session,
    principal: Reader,
    request: Request,
    purpose: PurposeHeader = None,
) -> ChangeList:
    rows = await reads.list_changes(
        session, ctx=registry_context(request, principal, purpose), person_no=person_no
    )
    return ChangeList(
        person_no=person_no,
        items=[ChangeOut.model_validate(row, from_attributes=True) for row in rows],
    )


@router.get("/households/{household_no}", summary="The members of a household")
async def read_household(
    household_no: str,
    session: Session,
    principal: Reader,
    request: Request,
    purpose: PurposeHeader = None,
) -> HouseholdOut:
    members = await reads.read_household(
        session, ctx=registry_context(request, principal, purpose), household_no=household_no
    )
    return HouseholdOut(household_no=household_no, members=[PersonOut.of(m) for m in members])


@router.post("/persons/{person_no}/births", status_code=201, summary="出生: a child of this mother")
async def record_birth(
    person_no: str,
    body: Birth,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await registration.record_birth(
            session,
            ctx=registry_context(request, principal, purpose),
            mother_person_no=person_no,
            body=body,
        )
    )


@router.post("/persons/{person_no}/address-change", summary="転居: move within the city")
async def change_address(
    person_no: str,
    body: AddressChange,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await life_events.change_address(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )


@router.post("/persons/{person_no}/move-out", summary="転出: move to another municipality")
async def move_out(
    person_no: str,
    body: MoveOut,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await life_events.move_out(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )


@router.post("/persons/{person_no}/name-change", summary="氏名変更")
async def change_name(
    person_no: str,
    body: NameChange,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await life_events.change_name(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )


@router.post("/persons/{person_no}/death", summary="死亡")
async def record_death(
    person_no: str,
    body: Death,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await life_events.record_death(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )


@router.put("/persons/{person_no}/delivery-addresses", summary="送付先: replace the list")
async def change_delivery_addresses(
    person_no: str,
    body: DeliveryAddressesChange,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await life_events.change_delivery_addresses(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )


@router.post("/persons/{person_no}/corrections", summary="職権修正 (also contact details)")
async def correct(
    person_no: str,
    body: Correction,
    session: Session,
    principal: Writer,
    request: Request,
    purpose: PurposeHeader = None,
) -> PersonOut:
    return PersonOut.of(
        await corrections.correct(
            session,
            ctx=registry_context(request, principal, purpose),
            person_no=person_no,
            body=body,
        )
    )
