from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    occurred_at: datetime
    actor: str
    terminal: str | None
    action: str
    target_type: str | None
    target_id: str | None
    purpose: str | None
    outcome: str
    detail: dict[str, Any]
    correlation_id: str | None


class ChainOut(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None
