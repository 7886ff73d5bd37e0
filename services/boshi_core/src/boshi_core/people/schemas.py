from datetime import date
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from boshi_core.moving_in.schemas import PreviousCityNotificationOut
from mch_common.inputs import MyNumber, StrictModel


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_no: str
    version: int
    residence_status: str
    family_name: str
    given_name: str
    family_name_kana: str | None
    given_name_kana: str | None
    sex: str | None
    birth_date: date | None
    ward_code: str | None


class PregnancySummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    status: str
    outcome: str | None
    notified_on: date
    expected_delivery_date: date
    expected_children: int


class ChildSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    person_no: str | None
    birth_date: date
    birth_weight_g: int | None


class PersonProfileOut(BaseModel):
    person: PersonOut
    pregnancies: list[PregnancySummary]
    children: list[ChildSummary]
    # Her pregnancy notification in the city she moved from (item 80), with its source.
    previous_city_notifications: list[PreviousCityNotificationOut] = []


class MyNumberSearchIn(StrictModel):
    my_number: MyNumber
