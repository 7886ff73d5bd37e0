"""Correction (訂正, 個人情報保護法 art. 90) of boshi_core's records, one mechanism for every
record type: a registry of the types, the fields a decision may correct and whose record it
is. Each corrected field keeps its previous value (`record_corrections`, with the request),
and each corrected record is passed on as `boshi.record.corrected`: the names of the fields,
and the new values of those the intermediate server's replica holds (items 80 and 95), so that
its copy is corrected too."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from sqlalchemy import String, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core import events
from boshi_core.births.models import Child, LowBirthWeightNotification
from boshi_core.checkups.models import CheckupResult
from boshi_core.pregnancy.models import Pregnancy, PrenatalCheckup
from boshi_core.requests.models import PersonalDataRequest, RecordCorrection
from boshi_core.visits.models import HomeVisit
from mch_common.auth.principal import Principal
from mch_common.errors import InvalidInput
from mch_common.work import UnitOfWork

Owners = Callable[[AsyncSession, Any], Awaitable[set[str]]]


def _columns(*names: str) -> Owners:
    async def owners(session: AsyncSession, row: Any) -> set[str]:
        return {value for name in names if (value := getattr(row, name))}

    return owners


async def _pregnancy_owner(session: AsyncSession, row: Any) -> set[str]:
    stmt = select(Pregnancy.person_no).where(Pregnancy.id == row.pregnancy_id)
    return {(await session.execute(stmt)).scalar_one()}


@dataclass(frozen=True)
class Correctable:
    model: type[Any]
    fields: frozenset[str]
    owners: Owners  # the people whose record it is: the request's person must be one


# Fields with a CHECK of their own (sex, status) or set by the system (ids, who recorded) are
# not corrected here: those change through their own procedures.
CORRECTABLE: dict[str, Correctable] = {
    "pregnancy": Correctable(
        Pregnancy,
        frozenset(
            {
                "name",
                "name_kana",
                "birth_date",
                "occupation",
                "residence",
                "nationality",
                "expected_delivery_date",
                "notifier_name",
                "contact_name",
                "contact_address",
                "contact_phone",
                "contact_email",
            }
        ),
        _columns("person_no"),
    ),
    "prenatal_checkup": Correctable(
        PrenatalCheckup,
        frozenset(
            {
                "checkup_date",
                "gestational_weeks",
                "institution",
                "systolic_bp",
                "diastolic_bp",
                "weight_kg",
                "findings",
            }
        ),
        _pregnancy_owner,
    ),
    "child": Correctable(
        Child,
        frozenset({"birth_weight_g", "birth_place", "birth_attendant", "gestational_weeks"}),
        _columns("person_no", "mother_person_no"),
    ),
    "low_birth_weight_notification": Correctable(
        LowBirthWeightNotification,
        frozenset(
            {"whereabouts", "contact_phone", "birth_place", "birth_weight_g", "notifier_name"}
        ),
        _columns("mother_person_no"),
    ),
    "home_visit": Correctable(HomeVisit, frozenset({"visited_on"}), _columns("mother_person_no")),
    "infant_checkup_result": Correctable(
        CheckupResult,
        frozenset(
            {
                "examined_on",
                "institution",
                "height_cm",
                "weight_kg",
                "head_circumference_cm",
                "chest_circumference_cm",
                "findings",
            }
        ),
        _columns("person_no"),
    ),
}

# The fields the intermediate server's replica holds a copy of (its consumer maps them onto
# items 80 and 95): their new values travel in the event, as they did in the record's own.
REPLICATED: dict[str, frozenset[str]] = {
    "pregnancy": frozenset({"expected_delivery_date"}),
    "prenatal_checkup": frozenset({"checkup_date", "gestational_weeks"}),
    "infant_checkup_result": frozenset({"examined_on"}),
}

_INT_RANGE = range(0, 32768)
_DECIMAL_MAX = Decimal(999)


def _coerce(model: type[Any], field: str, value: Any) -> Any:
    """The value as the column holds it, or ValueError saying why (never quoting it)."""
    column = inspect(model).columns[field]
    if value is None:
        if not column.nullable:
            raise ValueError("this field cannot be empty")
        return None
    kind = column.type.python_type
    if kind is date:
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError("not a date (YYYY-MM-DD)") from None
    if kind is int:
        if isinstance(value, bool) or not str(value).isdigit() or int(value) not in _INT_RANGE:
            raise ValueError("not a whole number in range")
        return int(value)
    if kind is Decimal:
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError("not a number") from exc
        if not Decimal(0) <= number <= _DECIMAL_MAX:
            raise ValueError("out of range")
        return number
    if kind is str:
        text = str(value).strip()
        length = column.type.length if isinstance(column.type, String) else None
        if not text or (length is not None and len(text) > length):
            raise ValueError("empty or too long")
        return text
    raise ValueError("this field cannot be corrected here")


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _record(
    session: AsyncSession, item: dict[str, Any], *, lock: bool
) -> tuple[Correctable, Any]:
    kind = CORRECTABLE.get(item["record_type"])
    if kind is None:
        raise ValueError(f"record types that can be corrected: {', '.join(sorted(CORRECTABLE))}")
    if item["field"] not in kind.fields:
        raise ValueError(f"correctable fields: {', '.join(sorted(kind.fields))}")
    try:
        record_id = UUID(item["record_id"])
    except ValueError as exc:
        raise ValueError("not a record id") from exc
    row = await session.get(kind.model, record_id, with_for_update=lock)
    if row is None:
        raise ValueError("no such record")
    return kind, row


async def check(session: AsyncSession, *, person_no: str, items: list[dict[str, Any]]) -> None:
    """At receipt: each item names a correctable field of a record of the person, and a value
    the field can hold; else 422 naming the item (and nothing is registered)."""
    errors = []
    for number, item in enumerate(items, start=1):
        try:
            kind, row = await _record(session, item, lock=False)
            if person_no not in await kind.owners(session, row):
                raise ValueError("no such record")  # another person's record is not named
            _coerce(kind.model, item["field"], item["value"])
        except ValueError as exc:
            errors.append({"loc": ["body", "corrections", number - 1], "msg": str(exc)})
    if errors:
        raise InvalidInput("some corrections cannot be made as asked", errors=errors)


async def apply(
    session: AsyncSession,
    *,
    principal: Principal,
    request: PersonalDataRequest,
) -> list[RecordCorrection]:
    """Make the decided corrections (a partial decision's withheld items left out), keeping
    each previous value; one event per corrected record."""
    made: list[RecordCorrection] = []
    by_record: dict[tuple[str, str], list[str]] = {}
    copies: dict[tuple[str, str], dict[str, Any]] = {}
    copy_keys: dict[tuple[str, str], str] = {}
    for number, item in enumerate(request.items["corrections"], start=1):
        if str(number) in request.withheld:
            continue
        kind, row = await _record(session, item, lock=True)
        new = _coerce(kind.model, item["field"], item["value"])
        previous = getattr(row, item["field"])
        setattr(row, item["field"], new)
        correction = RecordCorrection(
            request_id=request.id,
            person_no=request.person_no,
            record_type=item["record_type"],
            record_id=item["record_id"],
            field=item["field"],
            previous_value=_plain(previous),
            new_value=_plain(new),
            corrected_by=principal.sub,
        )
        session.add(correction)
        made.append(correction)
        key = (item["record_type"], item["record_id"])
        by_record.setdefault(key, []).append(item["field"])
        if item["field"] in REPLICATED.get(item["record_type"], ()):
            copies.setdefault(key, {})[item["field"]] = _plain(new)
            if isinstance(row, CheckupResult):
                copy_keys[key] = row.programme_code
    work = UnitOfWork.of(session)
    for (record_type, record_id), fields in by_record.items():
        events.RECORD_CORRECTED.emit(
            work,
            subject=record_id,
            tenant=principal.tenant,
            data=events.RecordCorrected(
                person_no=request.person_no,
                record_type=record_type,
                record_id=record_id,
                fields=sorted(set(fields)),
                request_id=str(request.id),
                values=copies.get((record_type, record_id), {}),
                copy_key=copy_keys.get((record_type, record_id)),
            ),
        )
    await session.flush()
    return made
