"""The immunization bridge's event catalogue (stream "immunization"). A payload names the
child by person number, never by My Number; keep this module free of heavier imports."""

from datetime import date
from typing import Any

from pydantic import Field

from mch_common.events.catalogue import EventPayload, EventType

SERVICE = "immunization_bridge"
STREAM = "immunization"


class DoseOverdue(EventPayload):
    person_no: str = Field(description="the child's person number (10 digits)")
    vaccine: str = Field(description="vaccine code of the schedule, e.g. `dpt_ipv_hib`")
    dose_no: int
    overdue_from: date = Field(description="the first day past the standard period")
    last_day: date = Field(description="the last day of the routine (legal) window")
    ward_code: str | None


DOSE_OVERDUE: EventType[Any] = EventType(SERVICE, "immunization.dose.overdue", DoseOverdue)
CATALOGUE: tuple[EventType[Any], ...] = (DOSE_OVERDUE,)
