from datetime import date, datetime
from decimal import Decimal
from typing import Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from boshi_core.moving_in.schemas import PreviousCityNotificationOut
from boshi_core.wards import WardCode
from mch_common.inputs import MyNumber, StrictModel

Channel = Literal["window", "online"]
IdDocument = Literal[
    "my_number_card",
    "driver_license",
    "passport",
    "residence_card",
    "health_insurance_card",
    "jpki_signature",
    "other",
]
UrineResult = Literal["-", "±", "+", "2+", "3+"]
OedemaResult = Literal["-", "+", "2+"]

_TEXT = Field(min_length=1, max_length=200)


class NotificationForm(StrictModel):
    """The items of the pregnancy notification (妊娠届出書, seed 別添1). The My Number written on
    the form is used only to find the person through atena; it is never stored here."""

    name: str = _TEXT
    name_kana: str = _TEXT
    birth_date: date
    occupation: str | None = Field(default=None, max_length=100)
    residence: str = Field(min_length=1, max_length=300)
    nationality: str = Field(default="日本", min_length=1, max_length=100)
    weeks_of_pregnancy: int = Field(ge=0, le=42)
    expected_delivery_date: date
    expected_children: int = Field(default=1, ge=1, le=5)
    diagnosed_by: str = _TEXT
    std_tested: bool
    tb_tested: bool
    notifier_name: str = _TEXT
    # Supplementary part
    contact_name: str | None = Field(default=None, max_length=200)
    contact_address: str | None = Field(default=None, max_length=300)
    contact_phone: str | None = Field(default=None, pattern=r"^[0-9+\-() ]{6,20}$")
    contact_email: str | None = Field(
        default=None, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    application_date: date
    collection_ward_code: WardCode

    @model_validator(mode="after")
    def _dates_agree(self) -> Self:
        if self.birth_date >= self.application_date:
            raise ValueError("birth_date must be before application_date")
        days_ahead = (self.expected_delivery_date - self.application_date).days
        if not 0 <= days_ahead <= 300:
            raise ValueError("expected_delivery_date must be within 300 days after application")
        return self


class IdentityCheck(StrictModel):
    document_type: IdDocument
    checked_by: str = Field(min_length=1, max_length=100)


class WindowNotificationIn(StrictModel):
    """Staff at the ward window: the person by number, or by My Number through atena."""

    person_no: str | None = Field(default=None, pattern=r"^\d{10}$")
    my_number: MyNumber | None = None
    form: NotificationForm
    identity_check: IdentityCheck

    @model_validator(mode="after")
    def _one_way_to_find_the_person(self) -> Self:
        if (self.person_no is None) == (self.my_number is None):
            raise ValueError("give exactly one of person_no and my_number")
        return self


class PregnancyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    person_no: str
    ward_code: str
    channel: str
    status: str
    outcome: str | None
    outcome_date: date | None
    notified_on: date
    name: str
    name_kana: str
    birth_date: date
    age_at_notification: int
    occupation: str | None
    residence: str
    nationality: str
    weeks_at_notification: int
    expected_delivery_date: date
    expected_children: int
    diagnosed_by: str
    std_tested: bool
    tb_tested: bool
    notifier_name: str
    contact_name: str | None
    contact_address: str | None
    contact_phone: str | None
    contact_email: str | None
    application_date: date
    collection_ward_code: str
    id_document_type: str
    id_checked_by: str
    id_checked_at: datetime


class ExpectedChildrenChangeIn(StrictModel):
    expected_children: int = Field(ge=1, le=5)
    reason: str = Field(min_length=1, max_length=500, description="why the count changed")


class ExpectedChildrenChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    pregnancy_id: UUID
    previous: int
    expected_children: int
    reason: str
    changed_by: str
    changed_at: datetime


class HandbookIssueIn(StrictModel):
    ward_code: WardCode
    issued_on: date | None = None


class VoucherOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    voucher_no: str
    seq: int
    used_on: date | None


class HandbookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    handbook_no: str
    child_index: int
    ward_code: str
    issued_on: date


class HandbookIssueOut(BaseModel):
    handbooks: list[HandbookOut]
    vouchers: list[VoucherOut]


class CheckupIn(StrictModel):
    checkup_date: date
    gestational_weeks: int = Field(ge=0, le=45)
    institution: str | None = Field(default=None, max_length=200)
    systolic_bp: int | None = Field(default=None, ge=50, le=260)
    diastolic_bp: int | None = Field(default=None, ge=20, le=180)
    urine_protein: UrineResult | None = None
    urine_sugar: UrineResult | None = None
    weight_kg: Decimal | None = Field(default=None, ge=25, le=250, decimal_places=1)
    oedema: OedemaResult | None = None
    findings: str | None = Field(default=None, max_length=2000)
    referral: str | None = Field(default=None, max_length=2000)
    voucher_no: str | None = Field(default=None, max_length=30)


class CheckupOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    pregnancy_id: UUID
    checkup_date: date
    gestational_weeks: int
    institution: str | None
    systolic_bp: int | None
    diastolic_bp: int | None
    urine_protein: str | None
    urine_sugar: str | None
    weight_kg: Decimal | None
    oedema: str | None
    findings: str | None
    referral: str | None
    voucher_no: str | None = None
    risk_flags: list[str]
    risk_rules_version: int


class CheckupPageOut(BaseModel):
    items: list[CheckupOut]
    next_cursor: str | None


class PregnancyDetailOut(BaseModel):
    pregnancy: PregnancyOut
    handbooks: list[HandbookOut]
    vouchers: list[VoucherOut]
    checkups: list[CheckupOut]
    risk_flags: list[str]
    expected_children_changes: list[ExpectedChildrenChangeOut]
    # The mother's pregnancy notification in the city she moved from (item 80, its source).
    previous_city_notifications: list[PreviousCityNotificationOut] = []
