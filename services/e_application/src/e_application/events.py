"""e_application's event catalogue (stream "eapp"). A payload names the application by id and
receipt number and, once accepted, the person by person number: never the My Number, never the
form's contents. Keep this module free of heavier imports (boshi_core consumes it)."""

from typing import Any

from pydantic import Field

from mch_common.events.catalogue import EventPayload, EventType

SERVICE = "e_application"
STREAM = "eapp"


class ApplicationSubmitted(EventPayload):
    application_id: str
    receipt_no: str
    procedure: str = Field(description="procedure code, e.g. `pregnancy_notification`")
    channel: str = Field(description="`city_form` or `portal` (子育てワンストップサービス)")
    ward_code: str = Field(description="the ward office the applicant chose")


class ApplicationCorrected(EventPayload):
    application_id: str
    receipt_no: str
    version_no: int = Field(description="the applicant's new signed version")


class ApplicationReturned(EventPayload):
    application_id: str
    receipt_no: str


class ApplicationAccepted(EventPayload):
    application_id: str
    receipt_no: str
    procedure: str
    person_no: str = Field(description="the applicant's person number (10 digits), from atena")
    ward_code: str
    handover: str | None = Field(
        description="which export carries it (`boshi_pregnancy`: boshi_core pulls it)"
    )


class ApplicationDeleted(EventPayload):
    application_id: str
    receipt_no: str


APPLICATION_SUBMITTED: EventType[Any] = EventType(
    SERVICE, "eapp.application.submitted", ApplicationSubmitted
)
APPLICATION_CORRECTED: EventType[Any] = EventType(
    SERVICE, "eapp.application.corrected", ApplicationCorrected
)
APPLICATION_RETURNED: EventType[Any] = EventType(
    SERVICE, "eapp.application.returned", ApplicationReturned
)
APPLICATION_ACCEPTED: EventType[Any] = EventType(
    SERVICE, "eapp.application.accepted", ApplicationAccepted
)
APPLICATION_DELETED: EventType[Any] = EventType(
    SERVICE, "eapp.application.deleted", ApplicationDeleted
)
CATALOGUE: tuple[EventType[Any], ...] = (
    APPLICATION_SUBMITTED,
    APPLICATION_CORRECTED,
    APPLICATION_RETURNED,
    APPLICATION_ACCEPTED,
    APPLICATION_DELETED,
)
