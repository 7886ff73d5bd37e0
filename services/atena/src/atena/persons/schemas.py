"""Request and response bodies. Request bodies are mch_common.inputs.StrictModel, and a My
Number is a MyNumber field: a SecretStr from the moment it is parsed, so a repr, a log line or
a validation error cannot show it."""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator

from atena.persons.snapshot import PersonState
from mch_common.inputs import MyNumber, StrictModel

ResidenceStatus = Literal["resident", "non_resident", "moved_out", "deceased"]
Sex = Literal["male", "female"]
Relationship = Literal[
    "head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"
]
SortKey = Literal["person_no", "kana", "-kana", "birth_date", "-birth_date", "name", "-name"]

_POSTAL = re.compile(r"^\d{7}$")
NameText = Annotated[str, Field(min_length=1, max_length=100)]
KanaText = Annotated[str, Field(min_length=1, max_length=200)]


class Address(StrictModel):
    postal_code: str | None = Field(default=None, description="7 digits; a hyphen is accepted")
    prefecture: str | None = Field(default=None, max_length=20)
    municipality_code: str = Field(description="地方公共団体コード, 6 digits with check digit")
    ward_code: str | None = Field(default=None, description="区コード, 6 digits with check digit")
    town: str | None = Field(default=None, max_length=200)
    block: str | None = Field(default=None, max_length=100)
    building: str | None = Field(default=None, max_length=200)

    @field_validator("postal_code", mode="before")
    @classmethod
    def _postal(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.replace("-", "").replace("〒", "").strip() or None
            if value is not None and not _POSTAL.match(value):
                raise ValueError("a postal code is 7 digits")
        return value


class DeliveryAddress(StrictModel):
    """送付先: where mail for a purpose goes instead of the registered address."""

    purpose: str = Field(min_length=1, max_length=50, examples=["checkup_notice"])
    postal_code: str | None = None
    address_line: str = Field(min_length=1, max_length=300)
    addressee: str | None = Field(default=None, max_length=100)
    valid_from: date
    valid_to: date | None = None


class HouseholdPlacement(StrictModel):
    """Join an existing household, or (household_no omitted) found a new one as its head."""

    household_no: str | None = None
    relationship_to_head: Relationship = "head"


class PersonCreate(StrictModel):
    external_key: str | None = Field(default=None, max_length=64)
    residence_status: Literal["resident", "non_resident"] = "resident"
    family_name: NameText
    given_name: NameText
    family_name_kana: KanaText
    given_name_kana: KanaText
    sex: Sex
    birth_date: date
    address: Address
    household: HouseholdPlacement | None = None
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=254)
    delivery_addresses: list[DeliveryAddress] = Field(default_factory=list)
    my_number: MyNumber | None = None
    effective_date: date | None = Field(default=None, description="default: today")


class MoveIn(PersonCreate):
    """転入: a person arriving from another municipality (new, or a former resident returning)."""

    person_no: str | None = Field(default=None, description="set when a former resident returns")
    previous_municipality_code: str


class Birth(StrictModel):
    """出生: the child joins the mother's household and address."""

    family_name: NameText | None = Field(default=None, description="default: the mother's")
    given_name: NameText
    family_name_kana: KanaText | None = None
    given_name_kana: KanaText
    sex: Sex
    birth_date: date
    relationship_to_head: Relationship = "child"
    my_number: MyNumber | None = None
    external_key: str | None = Field(default=None, max_length=64)


class AddressChange(StrictModel):
    """転居: a move within the city, possibly into another household."""

    effective_date: date
    address: Address
    household: HouseholdPlacement | None = None


class MoveOut(StrictModel):
    effective_date: date
    destination_municipality_code: str


class NameChange(StrictModel):
    effective_date: date
    family_name: NameText | None = None
    given_name: NameText | None = None
    family_name_kana: KanaText | None = None
    given_name_kana: KanaText | None = None
    reason: str | None = Field(default=None, max_length=200)


class Death(StrictModel):
    death_date: date
    effective_date: date | None = Field(default=None, description="default: the death date")


class DeliveryAddressesChange(StrictModel):
    effective_date: date
    delivery_addresses: list[DeliveryAddress]


class CorrectionFields(StrictModel):
    family_name: NameText | None = None
    given_name: NameText | None = None
    family_name_kana: KanaText | None = None
    given_name_kana: KanaText | None = None
    sex: Sex | None = None
    birth_date: date | None = None
    address: Address | None = None
    relationship_to_head: Relationship | None = None
    phone: str | None = Field(default=None, max_length=30)
    email: str | None = Field(default=None, max_length=254)


class Correction(StrictModel):
    """職権修正: fixes a recorded error. The correction applies to the history from
    `effective_date` (default: the whole history); superseded versions are kept."""

    changes: CorrectionFields
    reason: str = Field(min_length=1, max_length=200)
    effective_date: date | None = None


class AddressOut(BaseModel):
    postal_code: str | None
    prefecture: str | None
    municipality_code: str | None
    ward_code: str | None
    town: str | None
    block: str | None
    building: str | None


class PersonOut(BaseModel):
    """The snapshot of the event contract, plus the My Number masked (or, with
    atena:mynumber:read, in clear) on single reads."""

    person_no: str
    residence_status: ResidenceStatus
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    sex: Sex
    birth_date: date
    death_date: date | None
    address: AddressOut
    household_no: str | None
    relationship_to_head: str | None
    phone: str | None
    email: str | None
    delivery_addresses: list[dict[str, Any]]
    mother_person_no: str | None
    version: int
    has_my_number: bool | None = Field(default=None, description="set on reads and changes")
    my_number: str | None = Field(default=None, description="masked unless atena:mynumber:read")

    @classmethod
    def of(cls, state: PersonState) -> "PersonOut":
        return cls.model_validate(
            {**state.snapshot, "has_my_number": state.has_my_number, "my_number": state.my_number}
        )


class PersonPage(BaseModel):
    items: list[PersonOut]
    total: int
    limit: int
    offset: int


class ChangeOut(BaseModel):
    version: int
    change_type: str
    effective_date: date
    recorded_at: datetime
    actor: str
    reason: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    detail: dict[str, Any]


class ChangeList(BaseModel):
    person_no: str
    items: list[ChangeOut]


class HouseholdOut(BaseModel):
    household_no: str
    members: list[PersonOut]
