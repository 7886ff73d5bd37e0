from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel

PACKAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "The signed package (format kitakyushu-eapp-signed/1), kept byte for "
        "byte: the canonical JSON document (RFC 8785) with its detached signature and the "
        "signing certificate.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["format", "document", "signature", "certificate"],
                    "properties": {
                        "format": {"type": "string", "enum": ["kitakyushu-eapp-signed/1"]},
                        "document": {"type": "string", "format": "byte"},
                        "signature": {"type": "string", "format": "byte"},
                        "certificate": {"type": "string", "format": "byte"},
                        "intermediates": {
                            "type": "array",
                            "items": {"type": "string", "format": "byte"},
                        },
                    },
                }
            }
        },
    }
}


class CheckOut(BaseModel):
    check: str
    ok: bool
    detail: str


class ReceiptOut(BaseModel):
    """What the applicant gets on submission: the receipt number and how it was verified."""

    application_id: UUID
    receipt_no: str
    status: str
    procedure: str
    procedure_version: int
    version_no: int
    channel: str
    purpose: str = Field(description="the purpose statement shown and stored (利用目的)")
    checks: list[CheckOut]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version_no: int
    channel: str
    received_at: datetime
    signed_at: datetime
    form: dict[str, Any]
    checks: list[CheckOut]
    authority: str
    certificate_serial: str
    package_sha256: str


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    version_no: int | None
    note: str | None


class ApplicationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    receipt_no: str
    procedure_code: str
    procedure_version: int
    department: str
    ward_code: str
    channel: str
    status: str
    current_version: int
    purpose: str
    person_no: str | None
    submitted_at: datetime
    updated_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    return_reason: str | None
    retain_until: date


class ApplicationDetailOut(ApplicationOut):
    versions: list[VersionOut]
    history: list[HistoryOut]
    has_my_number: bool


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_after: str | None = Field(
        description="pass as `after` for the next page; null on the last page"
    )


class ApplicantApplicationOut(BaseModel):
    receipt_no: str
    procedure_code: str
    status: str
    return_reason: str | None
    current_version: int
    submitted_at: datetime
    updated_at: datetime
    purpose: str
    versions: list[VersionOut]
    history: list[HistoryOut]


class ReturnIn(StrictModel):
    reason: str = Field(min_length=1, max_length=2000, description="what the applicant must fix")


class EditIn(StrictModel):
    """Whatever staff would change: refused, staff never edit an application."""

    form: dict[str, Any] = Field(default_factory=dict)
