from datetime import date, time
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mch_common.inputs import StrictModel

Outcome = Literal["birth", "miscarriage", "stillbirth", "abortion", "other"]
Sex = Literal["male", "female"]
Attendant = Literal["doctor", "midwife", "other"]


class BirthIn(StrictModel):
    child_person_no: str | None = Field(default=None, pattern=r"^\d{10}$")
    birth_date: date
    birth_time: time | None = None
    sex: Sex
    birth_weight_g: int = Field(ge=200, le=7000)
    gestational_weeks: int = Field(ge=20, le=45)
    gestational_days: int = Field(default=0, ge=0, le=6)
    birth_attendant: Attendant
    birth_place: str = Field(min_length=1, max_length=200)


class OutcomeIn(StrictModel):
    """How a pregnancy ended. A birth lists its children; other outcomes list none."""

    outcome: Outcome
    outcome_date: date
    births: list[BirthIn] = Field(default_factory=list, max_length=5)
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _births_match_outcome(self) -> Self:
        if self.outcome == "birth" and not self.births:
            raise ValueError("an outcome of birth lists at least one child")
        if self.outcome != "birth" and self.births:
            raise ValueError(f"an outcome of {self.outcome} lists no children")
        if any(abs((b.birth_date - self.outcome_date).days) > 1 for b in self.births):
            raise ValueError("a child's birth_date is more than a day from the outcome_date")
        return self


class ChildOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    person_no: str | None
    mother_person_no: str
    pregnancy_id: UUID | None
    birth_date: date
    birth_time: time | None
    sex: str | None
    birth_weight_g: int | None
    gestational_weeks: int | None
    gestational_days: int | None
    birth_attendant: str | None
    birth_place: str | None
    ward_code: str | None
    low_birth_weight: bool


class OutcomeOut(BaseModel):
    pregnancy_id: UUID
    status: str
    outcome: str
    children: list[ChildOut]


class LowBirthWeightIn(StrictModel):
    """低体重児の届出: the items of the notification (MCH Act art. 18)."""

    notified_on: date
    notifier_name: str = Field(min_length=1, max_length=200)
    whereabouts: str = Field(min_length=1, max_length=300)
    contact_phone: str | None = Field(default=None, pattern=r"^[0-9+\-() ]{6,20}$")
    birth_time: time | None = None
    birth_place: str | None = Field(default=None, max_length=200)
    birth_attendant: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)


class LowBirthWeightOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    child_id: UUID
    notified_on: date
    notifier_name: str
    whereabouts: str
    contact_phone: str | None
    birth_date: date
    birth_time: time | None
    birth_place: str
    sex: str
    birth_weight_g: int
    gestational_weeks: int
    mother_person_no: str
    birth_attendant: str
    premature_visit_id: UUID
