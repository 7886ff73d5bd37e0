import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mch_common.inputs import StrictModel

LoginId = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._-]+$")
WardCode = Field(default=None, pattern=r"^\d{6}$", description="ward code; null = city-wide")


class UserIssue(StrictModel):
    model_config = ConfigDict(str_strip_whitespace=False)  # a password is taken as typed

    login_id: str = LoginId
    display_name: str = Field(min_length=1, max_length=100)
    dept: str = Field(min_length=1, max_length=50)
    ward: str | None = WardCode
    roles: list[str] = Field(min_length=1)
    valid_from: date | None = None
    valid_until: date | None = None
    password: str | None = Field(
        default=None, description="initial password; generated (and returned once) if omitted"
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    login_id: str
    display_name: str
    dept: str
    ward: str | None
    roles: list[str] = Field(validation_alias="role_names")
    status: str
    valid_from: date
    valid_until: date | None
    deleted_at: datetime | None
    locked_until: datetime | None
    second_factor_enrolled: bool = False
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class IssuedCredentials(BaseModel):
    """Shown once: hand over to the staff member in person."""

    user: UserOut
    initial_password: str | None
    totp_secret: str
    totp_uri: str


class UserUpdate(StrictModel):
    """Only the fields sent change; `valid_until: null` means open-ended."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    valid_from: date | None = None
    valid_until: date | None = None

    @field_validator("display_name", "valid_from")
    @classmethod
    def _not_null(cls, value: str | date | None) -> str | date:
        # Runs only for fields that were sent (defaults are not validated): these may be left
        # out, but a user always has a name and a start date.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class RolesChange(StrictModel):
    roles: list[str] = Field(min_length=1)


class TransferIn(StrictModel):
    effective_date: date | None = Field(
        default=None, description="takes effect on this date (Asia/Tokyo); today if omitted"
    )
    ward: str | None = WardCode
    dept: str = Field(min_length=1, max_length=50)
    roles: list[str] = Field(min_length=1)
    reason: str | None = Field(default=None, max_length=500)


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    effective_date: date
    ward: str | None
    dept: str
    roles: list[str]
    status: str
    reason: str | None
    requested_by: str
    requested_at: datetime
    applied_at: datetime | None


class Reason(StrictModel):
    reason: str | None = Field(default=None, max_length=500)


class PasswordReset(StrictModel):
    model_config = ConfigDict(str_strip_whitespace=False)  # a password is taken as typed

    password: str | None = Field(default=None, description="generated if omitted")


class PasswordResetOut(BaseModel):
    generated_password: str | None


class SecondFactorOut(BaseModel):
    totp_secret: str
    totp_uri: str


class ImportedUser(BaseModel):
    line: int
    login_id: str
    user_id: uuid.UUID
    initial_password: str | None
    totp_secret: str
    totp_uri: str


class ImportResult(BaseModel):
    dry_run: bool
    imported: list[ImportedUser]
    errors: list[dict[str, Any]]
