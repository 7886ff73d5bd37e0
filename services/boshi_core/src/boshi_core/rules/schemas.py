"""Rule versions in and out: one pair per rule book, and the page of a book's versions."""

from datetime import date, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mch_common.inputs import StrictModel

EFFECTIVE_FROM = (
    "The first day the version is in force; after today (Asia/Tokyo): a version already in force "
    "or past is never rewritten, so what was judged by it stays judged by it."
)
SOURCE = "The decision the version implements (告示, 要綱, 課長決裁 ...), for the record."


class RuleVersionIn(StrictModel):
    effective_from: date = Field(description=EFFECTIVE_FROM)
    source: str = Field(min_length=1, max_length=1000, description=SOURCE)


class RuleVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    effective_from: date
    source: str
    recorded_by: str | None = Field(description="who added the version; null: a migration")
    recorded_at: datetime


# --- prenatal checkup vouchers (妊婦健康診査受診券), chosen by the handbook's issue date


class VoucherRuleIn(RuleVersionIn):
    base_count: int = Field(ge=1, le=30, description="vouchers per pregnancy")
    extra_for_multiple: int = Field(ge=0, le=30, description="more for a multiple pregnancy")


class VoucherRuleOut(RuleVersionOut):
    base_count: int
    extra_for_multiple: int


# --- prenatal risk rules (妊婦のリスク判定), chosen by the checkup date


class HypertensionRule(StrictModel):
    systolic_at_least: int = Field(ge=100, le=250)
    diastolic_at_least: int = Field(ge=50, le=150)


class LateFirstCheckupRule(StrictModel):
    after_week: int = Field(ge=4, le=42)


class TeenageMotherRule(StrictModel):
    age_below: int = Field(ge=12, le=25)


class OlderMotherRule(StrictModel):
    age_at_least: int = Field(ge=30, le=55)


class RiskRules(StrictModel):
    """Each rule judged at a checkup; a rule left out is not judged in this version."""

    hypertension: HypertensionRule | None = None
    late_first_checkup: LateFirstCheckupRule | None = None
    teenage_mother: TeenageMotherRule | None = None
    older_mother: OlderMotherRule | None = None


class RiskRulesIn(RuleVersionIn):
    rules: RiskRules


class RiskRulesOut(RuleVersionOut):
    version: int
    rules: dict[str, Any]


# --- birth follow-up (低体重児, 新生児訪問, 乳児家庭全戸訪問, 未熟児訪問), chosen by the birth date


class BirthRuleIn(RuleVersionIn):
    low_birth_weight_below_g: int = Field(
        ge=1000, le=4000, description="低体重児: a birth weight under this many grams"
    )
    newborn_visit_days: int = Field(
        ge=7, le=90, description="the newborn visit is due while the child is under this age"
    )
    infant_household_visit_months: int = Field(
        ge=1, le=12, description="the infant household visit: before this legal month age"
    )
    premature_visit_due_days: int = Field(
        ge=1, le=90, description="the premature infant visit: this many days after the notification"
    )


class BirthRuleOut(RuleVersionOut):
    low_birth_weight_below_g: int
    newborn_visit_days: int
    infant_household_visit_months: int
    premature_visit_due_days: int


# --- infant checkup programmes (乳幼児健康診査), chosen by the month's first day


class ProgrammeVersionIn(RuleVersionIn):
    name: str = Field(min_length=1, max_length=100)
    start_months: int = Field(ge=0, le=72, description="the window opens at this legal age")
    end_months: int = Field(ge=1, le=84, description="and closes the day before this one")
    reminder_days_before_end: int = Field(
        ge=0, le=365, description="a non-attendee from this many days before the window closes"
    )
    detailed_exam_valid_days: int = Field(
        ge=1, le=365, description="a detailed-examination voucher is valid this many days"
    )
    effective_to: date | None = Field(
        default=None, description="the last day in force, when the programme ends"
    )

    @model_validator(mode="after")
    def _window_and_end(self) -> Self:
        if self.end_months <= self.start_months:
            raise ValueError("end_months must be after start_months")
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self


class ProgrammeVersionOut(RuleVersionOut):
    code: str
    name: str
    start_months: int
    end_months: int
    reminder_days_before_end: int
    detailed_exam_valid_days: int
    effective_to: date | None


class VoucherRulePage(BaseModel):
    items: list[VoucherRuleOut]
    next_before: date | None


class RiskRulesPage(BaseModel):
    items: list[RiskRulesOut]
    next_before: date | None


class BirthRulePage(BaseModel):
    items: list[BirthRuleOut]
    next_before: date | None


class ProgrammeVersionPage(BaseModel):
    items: list[ProgrammeVersionOut]
    next_before: date | None
