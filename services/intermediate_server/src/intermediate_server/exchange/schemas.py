"""Request and response models of inquiries and held provisions."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from intermediate_server.codes.schemas import PERSON_NO
from intermediate_server.replica.layout import ItemNo
from mch_common.inputs import StrictModel


class InquiryIn(StrictModel):
    person_no: str = PERSON_NO
    provider: str = Field(pattern=r"^\d{6}$", description="the providing municipality's code")
    clause: str = Field(
        min_length=1, max_length=100, description="the legal clause, as on the permission list"
    )
    items: list[ItemNo] = Field(min_length=1, max_length=2)


class ItemAnswerOut(BaseModel):
    status: Literal["provided", "not_held", "held", "refused", "suspended"] = Field(
        description="`not_held`: the provider's replica has nothing for the item yet; "
        "`suspended`: the person's provision is suspended (利用停止) at the provider"
    )
    records: list[dict[str, Any]] = Field(
        description="the replica's records: `record_key`, `as_of`, `data` (see the layout)"
    )
    reason: str | None = None


class InquiryOut(BaseModel):
    id: uuid.UUID
    person_no: str
    provider: str
    clause: str
    items: list[str]
    status: Literal["answered", "partly_held"]
    asked_at: datetime
    answered_at: datetime | None
    answer: dict[str, ItemAnswerOut]


class HeldProvisionOut(BaseModel):
    id: uuid.UUID
    person_no: str
    requester: str
    clause: str
    items: list[str]
    held_at: datetime
    deadline: datetime
    status: Literal["held", "approved", "refused", "expired"]
    decided_at: datetime | None
    decided_by: str | None


class HeldProvisionsOut(BaseModel):
    items: list[HeldProvisionOut]


class DecisionIn(StrictModel):
    decision: Literal["approve", "refuse"]
