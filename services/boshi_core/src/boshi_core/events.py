"""boshi_core's event catalogue (stream "boshi"): the types it emits and their payloads, ids
and minimal facts, never a My Number. Emit through a type: `await X.emit(session, ...)`."""

from datetime import date
from typing import Any

from pydantic import Field

from boshi_core.config import SERVICE
from mch_common.events.catalogue import EventPayload, EventType


class PregnancyOpened(EventPayload):
    pregnancy_id: str
    person_no: str
    ward_code: str
    channel: str
    expected_children: int
    expected_delivery_date: date


class ExpectedChildrenChanged(EventPayload):
    pregnancy_id: str
    person_no: str
    previous: int
    expected_children: int


class HandbookIssued(EventPayload):
    handbook_no: str
    pregnancy_id: str
    person_no: str
    child_index: int
    ward_code: str
    issued_on: date
    vouchers: int


class PrenatalCheckupRecorded(EventPayload):
    pregnancy_id: str
    checkup_id: str
    person_no: str
    checkup_date: date
    gestational_weeks: int
    voucher_used: bool
    risk_flags: list[str]


class PregnancyClosed(EventPayload):
    pregnancy_id: str
    person_no: str
    outcome: str
    outcome_date: date
    children: int


class ChildRegistered(EventPayload):
    child_id: str
    person_no: str | None  # until atena's birth registration links it
    mother_person_no: str
    pregnancy_id: str | None
    birth_date: date


class LowBirthWeightNotified(EventPayload):
    notification_id: str
    child_id: str
    child_person_no: str | None
    mother_person_no: str
    birth_weight_g: int | None
    premature_visit_id: str


class VisitCompleted(EventPayload):
    visit_id: str
    kind: str
    child_id: str
    child_person_no: str | None
    visited_on: date
    within_window: bool | None


class InfantCheckupRecorded(EventPayload):
    person_no: str
    programme: str
    examined_on: date
    judgement: str


class UseSuspensionChanged(EventPayload):
    """A decision stopped (suspended true) or restored a use of the person's data; a service
    that makes that use honours it (the intermediate server: provision to other
    municipalities)."""

    person_no: str
    use: str
    suspended: bool
    request_id: str
    effective_on: date


class RecordCorrected(EventPayload):
    """Fields of a record corrected on a decision (訂正): their names; the new values only of
    the fields another service holds a copy of (the intermediate server's replica, items 80
    and 95), which travelled in the record's own event already. The previous values stay in
    boshi_core."""

    person_no: str
    record_type: str
    record_id: str
    fields: list[str]
    request_id: str
    values: dict[str, Any] = Field(
        default_factory=dict, description="new values of the corrected fields a copy holds"
    )
    copy_key: str | None = Field(
        default=None,
        description="the key the copy holds the record under when not its id (an infant "
        "checkup's programme)",
    )


PREGNANCY_OPENED = EventType(SERVICE, "boshi.pregnancy.opened", PregnancyOpened)
EXPECTED_CHILDREN_CHANGED = EventType(
    SERVICE, "boshi.pregnancy.expected_children_changed", ExpectedChildrenChanged
)
HANDBOOK_ISSUED = EventType(SERVICE, "boshi.handbook.issued", HandbookIssued)
PRENATAL_CHECKUP_RECORDED = EventType(
    SERVICE, "boshi.prenatal_checkup.recorded", PrenatalCheckupRecorded
)
PREGNANCY_CLOSED = EventType(SERVICE, "boshi.pregnancy.closed", PregnancyClosed)
CHILD_REGISTERED = EventType(SERVICE, "boshi.child.registered", ChildRegistered)
LOW_BIRTH_WEIGHT_NOTIFIED = EventType(
    SERVICE, "boshi.low_birth_weight.notified", LowBirthWeightNotified
)
VISIT_COMPLETED = EventType(SERVICE, "boshi.visit.completed", VisitCompleted)
INFANT_CHECKUP_RECORDED = EventType(SERVICE, "boshi.infant_checkup.recorded", InfantCheckupRecorded)
USE_SUSPENSION_CHANGED = EventType(SERVICE, "boshi.use_suspension.changed", UseSuspensionChanged)
RECORD_CORRECTED = EventType(SERVICE, "boshi.record.corrected", RecordCorrected)

CATALOGUE: tuple[EventType[Any], ...] = (
    PREGNANCY_OPENED,
    EXPECTED_CHILDREN_CHANGED,
    HANDBOOK_ISSUED,
    PRENATAL_CHECKUP_RECORDED,
    PREGNANCY_CLOSED,
    CHILD_REGISTERED,
    LOW_BIRTH_WEIGHT_NOTIFIED,
    VISIT_COMPLETED,
    INFANT_CHECKUP_RECORDED,
    USE_SUSPENSION_CHANGED,
    RECORD_CORRECTED,
)
