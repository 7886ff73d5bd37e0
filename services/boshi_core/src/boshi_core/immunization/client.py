"""The immunization bridge's REST API as boshi_core uses it: a child's dose statuses, for the
checkup profile and the disclosure export. The bridge is another system: when it does not
answer, the caller gets an `unavailable` marker and shows the rest, never a 500."""

from datetime import date
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from mch_common.errors import ServiceUnavailable

STATUS_READ_SCOPE = "immunization:status:read"

# Sent as the bridge's X-Access-Purpose, which its access record takes (a header is ASCII).
PROFILE_PURPOSE = "boshi_core: infant checkups profile (Maternal and Child Health Act art. 12-13)"
DISCLOSURE_PURPOSE = (
    "boshi_core: disclosure request (Act on the Protection of Personal Information art. 77)"
)

VaccinationsState = Literal["available", "not_registered", "unavailable"]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DoseStatus(_Answer):
    vaccine: str
    dose_no: int
    status: str  # the bridge's: not_yet_due, due, overdue, complete, not_applicable
    window_start: date | None
    overdue_from: date | None
    last_day: date
    given_on: date | None


class Vaccination(_Answer):
    record_id: str
    vaccine: str
    dose_no: int
    given_on: date
    lot: str | None
    institution_code: str | None


class Vaccinations(BaseModel):
    """What the bridge said about one child, or why it said nothing."""

    state: VaccinationsState
    # Why there is nothing to show (unavailable, not_registered); null when available.
    reason: str | None = None
    on: date | None = None
    doses: list[DoseStatus] = []
    records: list[Vaccination] = []


class _StatusAnswer(_Answer):
    on: date
    doses: list[DoseStatus]
    records: list[Vaccination]


class ImmunizationClient:
    """Wraps an httpx client made in lifespan (the service token auth attached)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def vaccinations(self, person_no: str, *, purpose: str) -> Vaccinations:
        try:
            response = await self.client.get(
                f"/children/{person_no}/status", headers={"X-Access-Purpose": purpose}
            )
        except (httpx.HTTPError, ServiceUnavailable) as exc:  # the bridge or identity is down
            return _unavailable(f"the immunization bridge cannot be reached ({type(exc).__name__})")
        if response.status_code == 404:
            return Vaccinations(
                state="not_registered",
                reason="not in the bridge's child register (past the schedule's age limit, "
                "or atena's event has not reached it)",
            )
        if response.status_code != 200:
            return _unavailable(f"the immunization bridge answered HTTP {response.status_code}")
        try:
            answer = _StatusAnswer.model_validate_json(response.content)
        except ValidationError:
            return _unavailable("the immunization bridge sent an unreadable answer")
        return Vaccinations(
            state="available", on=answer.on, doses=answer.doses, records=answer.records
        )


def _unavailable(reason: str) -> Vaccinations:
    return Vaccinations(state="unavailable", reason=reason)
