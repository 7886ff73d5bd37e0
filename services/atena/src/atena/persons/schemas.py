"""Request and response bodies. A My Number is a SecretStr from the moment it is parsed, so a
repr, a log line or a validation error cannot show it."""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from mch_common.mynumber import is_valid_my_number, normalize_my_number

ResidenceStatus = Literal["resident", "non_resident", "moved_out", "deceased"]
Sex = Literal["male", "female"]
Relationship = Literal[
    "head", "spouse", "child", "parent", "grandchild", "grandparent", "sibling", "other"
]
SortKey = Literal["person_no", "kana", "-kana", "birth_date", "-birth_date", "name", "-name"]

_POSTAL = re.compile(r"^\d{7}$")
_DIGIT_RUNS = re.compile(r"\d{12,}")
NameText = Annotated[str, Field(min_length=1, max_length=100)]
KanaText = Annotated[str, Field(min_length=1, max_length=200)]


def contains_my_number(text: str) -> bool:
    """True when any 12-digit window of the text passes the My Number check digit."""
    for run in _DIGIT_RUNS.findall(text):
        if any(is_valid_my_number(run[i : i + 12]) for i in range(len(run) - 11)):
            return True
    return False


class Strict(BaseModel):
    """Rejects unknown fields, and a My Number typed anywhere but in `my_number` (a phone
    number field, a building name): it would otherwise travel in events and exports."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="after")
    def _no_stray_my_number(self) -> "Strict":
        for name, value in self:
            if name != "my_number" and isinstance(value, str) and contains_my_number(value):
                raise ValueError(f"{name} holds what looks like a My Number")
        return self


def _my_number(value: object) -> object:
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if not isinstance(raw, str):
        raise ValueError("a My Number is a string of 12 digits")
    normalized = normalize_my_number(raw)
    if not is_valid_my_number(normalized):
        # Say why, never what: the message reaches the client and may reach logs.
        raise ValueError("not a valid My Number: 12 digits with a matching check digit")
    return SecretStr(normalized)


class Address(Strict):
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


class DeliveryAddress(Strict):
    """送付先: where mail for a purpose goes instead of the registered address."""

    purpose: str = Field(min_length=1, max_length=50, examples=["checkup_notice"])
    postal_code: str | None = None
    address_line: str = Field(min_length=1, max_length=300)
    addressee: str | None = Field(default=None, max_length=100)
    valid_from: date
    valid_to: date | None = None


class HouseholdPlacement(Strict):
    """Join an existing household, or (household_no omitted) found a new one as its head."""

    household_no: str | None = None
    relationship_to_head: Relationship = "head"


class PersonCreate(Strict):
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
    my_number: SecretStr | None = None
    effective_date: date | None = Field(default=None, description="default: today")

    @field_validator("my_number", mode="before")
    @classmethod
    def _check_my_number(cls, value: object) -> object:
        return None if value is None else _my_number(value)


class MoveIn(PersonCreate):
    """転入: a person arriving from another municipality (new, or a former resident returning)."""

    person_no: str | None = Field(default=None, description="set when a former resident returns")
    previous_municipality_code: str


class Birth(Strict):
    """出生: the child joins the mother's household and address."""

    family_name: NameText | None = Field(default=None, description="default: the mother's")
    given_name: NameText
    family_name_kana: KanaText | None = None
    given_name_kana: KanaText
    sex: Sex
    birth_date: date
    relationship_to_head: Relationship = "child"
    my_number: SecretStr | None = None
    external_key: str | None = Field(default=None, max_length=64)

    @field_validator("my_number", mode="before")
    @classmethod
    def _check_my_number(cls, value: object) -> object:
        return None if value is None else _my_number(value)


class AddressChange(Strict):
    """転居: a move within the city, possibly into another household."""

    effective_date: date
    address: Address
    household: HouseholdPlacement | None = None


class MoveOut(Strict):
    effective_date: date
    destination_municipality_code: str


class NameChange(Strict):
    effective_date: date
    family_name: NameText | None = None
    given_name: NameText | None = None
    family_name_kana: KanaText | None = None
    given_name_kana: KanaText | None = None
    reason: str | None = Field(default=None, max_length=200)


class Death(Strict):
    death_date: date
    effective_date: date | None = Field(default=None, description="default: the death date")


class DeliveryAddressesChange(Strict):
    effective_date: date
    delivery_addresses: list[DeliveryAddress]


class CorrectionFields(Strict):
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


class Correction(Strict):
    """職権修正: fixes a recorded error. The correction applies to the history from
    `effective_date` (default: the whole history); superseded versions are kept."""

    changes: CorrectionFields
    reason: str = Field(min_length=1, max_length=200)
    effective_date: date | None = None


class MyNumberLookup(Strict):
    my_number: SecretStr

    @field_validator("my_number", mode="before")
    @classmethod
    def _check_my_number(cls, value: object) -> object:
        return _my_number(value)


class MyNumberRegistration(Strict):
    """A My Number for a registered person: a first one, or a replacement (番号の変更, e.g.
    after a leak), which needs its reason."""

    my_number: SecretStr
    reason: str | None = Field(default=None, min_length=1, max_length=500)

    @field_validator("my_number", mode="before")
    @classmethod
    def _check_my_number(cls, value: object) -> object:
        return _my_number(value)


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
    has_my_number: bool | None = Field(default=None, description="set on reads")
    my_number: str | None = Field(default=None, description="masked unless atena:mynumber:read")


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


class LookupOut(BaseModel):
    person_no: str
    person: PersonOut | None = Field(
        default=None, description="included when the caller also holds atena:person:read"
    )
