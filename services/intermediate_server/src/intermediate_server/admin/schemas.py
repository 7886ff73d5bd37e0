"""Response models of system management."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class BatchRunOut(BaseModel):
    job: str
    started_at: datetime
    finished_at: datetime
    counts: dict[str, Any]


class BatchRunsOut(BaseModel):
    items: list[BatchRunOut]


class StatOut(BaseModel):
    tenant: str
    side: str
    item_no: str
    outcome: str
    count: int


class StatsOut(BaseModel):
    items: list[StatOut]


class HealthOut(BaseModel):
    ok: bool
    permission_list_version: int | None
    hub_list_version: int | None
    permission_rules_in_force: int
    signing_key_id: str
    signing_key_expires_at: datetime
    signing_key_days_left: int
    problems: list[str]
