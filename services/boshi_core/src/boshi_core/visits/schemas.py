from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel

VisitKind = Literal["newborn", "premature", "infant_household"]
# not_applicable: the visit's legal window had ended before the child became known to the city
# (a late-registered birth, a move-in); recorded with the reason, never listed as overdue.
VisitStatus = Literal["open", "completed", "not_applicable"]


class VisitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    kind: str
    child_id: UUID
    mother_person_no: str
    ward_code: str | None
    due_by: date
    status: VisitStatus
    not_applicable_reason: str | None
    assigned_to: str | None
    assigned_at: datetime | None
    visited_on: date | None
    within_window: bool | None


class AssignIn(StrictModel):
    staff_id: str = Field(min_length=1, max_length=100)


class VisitResultIn(StrictModel):
    visited_on: date
    child_weight_g: int | None = Field(default=None, ge=200, le=20000)
    feeding: Literal["breast", "formula", "mixed"] | None = None
    mother_epds_score: int | None = Field(default=None, ge=0, le=30)  # postnatal depression scale
    concerns: str | None = Field(default=None, max_length=2000)
    needs_follow_up: bool = False


class VisitPageOut(BaseModel):
    items: list[VisitOut]
    next_cursor: str | None
