from datetime import date, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel

# The record types disposed of as a whole (with the rows that belong to them).
RetainedType = Literal["pregnancy", "infant_checkup_result", "inquiry"]


class DueRecordOut(BaseModel):
    record_type: RetainedType
    record_id: UUID
    person_no: str | None
    counted_from: date
    due_on: date


class DuePageOut(BaseModel):
    items: list[DueRecordOut]
    next_cursor: str | None


class DisposalIn(StrictModel):
    record_type: RetainedType
    record_ids: list[UUID] = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=500)


class DisposalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    record_type: str
    record_id: UUID
    person_no: str | None
    rule_version: int
    disposed_at: datetime
    disposed_by: str
    reason: str
