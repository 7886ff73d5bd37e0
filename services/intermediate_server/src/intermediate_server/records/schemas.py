"""Response models of the provision records."""

from datetime import datetime

from pydantic import BaseModel


class ProvisionRecordOut(BaseModel):
    seq: int
    occurred_at: datetime
    outcome: str
    side: str
    requester: str
    provider: str
    clause: str
    items: list[str]
    asked_at: str
    answered_at: str | None
    provided: list[str]
    held: list[str]
    not_held: list[str]
    suspended: list[str] = []  # records written before suspensions were honoured have none
    refused_reason: str | None


class ProvisionRecordsOut(BaseModel):
    items: list[ProvisionRecordOut]
    next_before: int | None
