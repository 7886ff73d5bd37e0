import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel


class ReviewCreate(StrictModel):
    note: str | None = Field(default=None, max_length=2000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int
    created_at: datetime
    created_by: str
    previous_id: uuid.UUID | None
    csv_sha256: str
    users: int = 0
    diff: dict[str, Any]
    signed_off_by: str | None
    signed_off_at: datetime | None
    note: str | None


class PendingChanges(BaseModel):
    since_review: int | None
    added: list[dict[str, str]]
    changed: list[dict[str, Any]]
    removed: list[dict[str, str]]
