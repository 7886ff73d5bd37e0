from datetime import date, datetime
from typing import Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mch_common.inputs import StrictModel

Relationship = Literal["mother", "father", "child", "guardian", "other"]
Channel = Literal["office", "phone", "home_visit", "online"]
ReviewOutcome = Literal["continue", "end"]


class MemberIn(StrictModel):
    person_no: str = Field(pattern=r"^\d{10}$")
    relationship: Relationship


class CaseIn(StrictModel):
    """A family's case: its members must be known to the read model; the case's ward and
    household come from the first member."""

    members: list[MemberIn] = Field(min_length=1, max_length=20)
    opened_on: date
    reason: str = Field(min_length=1, max_length=4000)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_no: str
    relationship: str


class ConsultationIn(StrictModel):
    consulted_on: date
    channel: Channel
    summary: str = Field(min_length=1, max_length=8000)


class ConsultationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    consulted_on: date
    channel: str
    summary: str
    recorded_by: str
    recorded_at: datetime


class PlanIn(StrictModel):
    starts_on: date
    review_on: date
    goals: str = Field(min_length=1, max_length=4000)
    supports: list[dict[str, Any]] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _review_after_start(self) -> Self:
        if self.review_on <= self.starts_on:
            raise ValueError("review_on must be after starts_on")
        return self


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    case_id: UUID
    version: int
    status: str
    starts_on: date
    review_on: date
    goals: str
    supports: list[dict[str, Any]]
    last_reviewed_on: date | None


class ReviewIn(StrictModel):
    reviewed_on: date
    outcome: ReviewOutcome
    note: str | None = Field(default=None, max_length=4000)
    next_review_on: date | None = None

    @model_validator(mode="after")
    def _next_review(self) -> Self:
        if self.outcome == "continue" and (
            self.next_review_on is None or self.next_review_on <= self.reviewed_on
        ):
            raise ValueError("a continued plan needs a next_review_on after reviewed_on")
        if self.outcome == "end" and self.next_review_on is not None:
            raise ValueError("an ended plan has no next review")
        return self


class CaseOut(BaseModel):
    id: UUID
    household_key: str
    ward_code: str | None
    status: str
    opened_on: date
    closed_on: date | None
    reason: str
    members: list[MemberOut]
    consultations: list[ConsultationOut]
    plans: list[PlanOut]


class OverdueReview(BaseModel):
    plan_id: UUID
    case_id: UUID
    ward_code: str | None
    review_on: date
    days_overdue: int
    version: int


class OverdueList(BaseModel):
    on: date
    count: int
    items: list[OverdueReview]
