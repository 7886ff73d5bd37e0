from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel

Channel = Literal["window", "phone", "letter", "email", "online_form", "other"]


class InquiryIn(StrictModel):
    channel: Channel
    question: str = Field(min_length=1, max_length=2000, description="the question, in short")
    person_no: str | None = Field(default=None, pattern=r"^\d{10}$")
    received_at: datetime | None = Field(default=None, description="default: now")


class AnswerIn(StrictModel):
    answer: str = Field(min_length=1, max_length=4000)


class InquiryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    channel: Channel
    question: str
    person_no: str | None
    received_at: datetime
    received_by: str
    answer: str | None
    answered_by: str | None
    answered_at: datetime | None


class InquiryPageOut(BaseModel):
    items: list[InquiryOut]
    next_cursor: str | None
