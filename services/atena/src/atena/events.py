"""atena's event catalogue (stream "atena"): a person's change, one type per verb, carrying the
changed fields and the whole snapshot after it, never a My Number. Consumers subscribe from
here (`PERSON_EVENTS`); keep this module free of the service's heavier imports."""

from datetime import date
from typing import Any

from pydantic import Field

from mch_common.events.catalogue import EventPayload, EventType

SERVICE = "atena"
STREAM = "atena"


class PersonChanged(EventPayload):
    person_no: str = Field(description="person number (10 digits)")
    effective_date: date
    before: dict[str, Any] = Field(description="old values of the changed fields")
    after: dict[str, Any] = Field(description="new values of the changed fields")
    person: dict[str, Any] = Field(description="the snapshot after the change, with `version`")


class PersonMovedIn(PersonChanged):
    previous_municipality_code: str | None = Field(
        description="null when a bulk load inferred the move"
    )


class PersonMovedOut(PersonChanged):
    destination_municipality_code: str | None = Field(
        description="null when a bulk load inferred the move"
    )


class PersonBorn(PersonChanged):
    mother_person_no: str


def _person(verb: str, payload: type[PersonChanged] = PersonChanged) -> EventType[Any]:
    return EventType(SERVICE, f"atena.person.{verb}", payload)


PERSON_EVENTS: dict[str, EventType[Any]] = {
    "registered": _person("registered"),
    "address_changed": _person("address_changed"),
    "name_changed": _person("name_changed"),
    "moved_in": _person("moved_in", PersonMovedIn),
    "moved_out": _person("moved_out", PersonMovedOut),
    "born": _person("born", PersonBorn),
    "died": _person("died"),
    "delivery_address_changed": _person("delivery_address_changed"),
    "corrected": _person("corrected"),
}
PERSON_REGISTERED = PERSON_EVENTS["registered"]
PERSON_BORN = PERSON_EVENTS["born"]
CATALOGUE: tuple[EventType[Any], ...] = tuple(PERSON_EVENTS.values())
