from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from boshi_core.immunization.client import Vaccinations
from mch_common.inputs import StrictModel

ProgrammeCode = Literal["4m", "7m", "1y6m", "3y"]
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
NoticeKind = Literal["invitation", "reminder"]
Judgement = Literal["no_problem", "follow_up", "detailed_exam"]
FollowUpOutcome = Literal["attended", "refused", "unreachable", "home_visit_needed"]
DevelopmentMark = Literal["pass", "fail", "not_checked"]
Status = Literal["upcoming", "due", "non_attendee", "attended", "window_closed", "not_resident"]


class ProgrammeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    start_months: int
    end_months: int
    reminder_days_before_end: int
    detailed_exam_valid_days: int
    effective_from: date


class ExtractionIn(StrictModel):
    programme: ProgrammeCode
    month: str = Field(pattern=MONTH_PATTERN, examples=["2026-12"])


class ExtractionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    programme: str
    month: str
    invited: int
    invited_total: int
    non_attendees: int


class TargetOut(BaseModel):
    """An invitation of the month: a child whose window is open that month."""

    notice_id: UUID
    person_no: str
    name: str | None
    birth_date: date | None
    ward_code: str | None
    household_key: str
    reason: str
    window_start: date
    window_end: date


class NonAttendeeOut(BaseModel):
    person_no: str
    name: str
    birth_date: date
    ward_code: str | None
    household_key: str
    window_start: date
    window_end: date
    reminder_from: date
    reminded_in: str | None


class TargetList(BaseModel):
    """A page of the month's targets; `next_cursor` is the next page's `cursor` (None: the
    last page)."""

    programme: str
    month: str
    items: list[TargetOut]
    next_cursor: str | None


class NonAttendeeList(BaseModel):
    """A page of the month's non-attendees, paged as the targets."""

    programme: str
    month: str
    items: list[NonAttendeeOut]
    next_cursor: str | None


class Measurements(StrictModel):
    height_cm: Decimal | None = Field(default=None, ge=30, le=130, decimal_places=1)
    weight_kg: Decimal | None = Field(default=None, ge=1, le=40, decimal_places=2)
    head_circumference_cm: Decimal | None = Field(default=None, ge=25, le=60, decimal_places=1)
    chest_circumference_cm: Decimal | None = Field(default=None, ge=25, le=70, decimal_places=1)


class ResultIn(StrictModel):
    programme: ProgrammeCode
    examined_on: date
    institution: str = Field(min_length=1, max_length=200)
    measurements: Measurements = Field(default_factory=Measurements)
    # e.g. {"head_control": "pass", "follows_with_eyes": "pass"} (首のすわり, 追視)
    development: dict[str, DevelopmentMark] = Field(default_factory=dict, max_length=50)
    findings: str | None = Field(default=None, max_length=4000)
    judgement: Judgement
    next_action: str | None = Field(default=None, max_length=2000)
    detailed_exam_reason: str | None = Field(default=None, max_length=1000)


class VoucherOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    voucher_no: str
    issued_on: date
    valid_until: date
    reason: str | None


class ResultOut(BaseModel):
    id: UUID
    person_no: str
    programme: str
    examined_on: date
    institution: str
    measurements: Measurements
    development: dict[str, str]
    findings: str | None
    judgement: str
    next_action: str | None
    voucher: VoucherOut | None


class NoticeOut(BaseModel):
    id: UUID
    kind: str
    period: str
    reason: str
    status: str
    letter_no: str | None
    sent_at: datetime | None
    follow_up_outcome: str | None


class ProgrammeStatus(BaseModel):
    programme: str
    name: str
    window_start: date
    window_end: date
    reminder_from: date
    status: Status
    notices: list[NoticeOut]
    result: ResultOut | None


class CheckupProfile(BaseModel):
    """A child's checkup status, as of a month (the same rule as the lists and letters)."""

    person_no: str
    name: str
    birth_date: date
    residence_status: str
    ward_code: str | None
    month: str
    programmes: list[ProgrammeStatus]
    # The immunization bridge's statuses; `state` says whether it answered.
    vaccinations: Vaccinations


class FollowUpIn(StrictModel):
    outcome: FollowUpOutcome
    note: str | None = Field(default=None, max_length=2000)


class FollowUpOut(BaseModel):
    """A reminder notice after its follow-up (read from the notice's attributes)."""

    model_config = ConfigDict(from_attributes=True)

    notice_id: UUID = Field(validation_alias="id")
    follow_up_outcome: str
    follow_up_at: datetime
