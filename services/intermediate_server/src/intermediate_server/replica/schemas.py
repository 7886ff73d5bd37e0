"""Request and response models of the replica."""

from datetime import datetime

from pydantic import BaseModel, Field

from intermediate_server.replica.layout import CheckupInfo, PregnancyNotificationInfo
from mch_common.inputs import StrictModel

RECORD_KEY = Field(
    min_length=1,
    max_length=64,
    pattern=r"^[A-Za-z0-9_.:-]+$",
    description="the business system's id of the record (a pregnancy id, a checkup id)",
)


class _Entry(StrictModel):
    record_key: str = RECORD_KEY
    as_of: datetime = Field(description="when the business system's data was as registered")
    no_auto_response: bool = Field(
        default=False, description="自動応答不可: provide only after staff confirm"
    )


class PregnancyNotificationEntryIn(_Entry):
    data: PregnancyNotificationInfo


class CheckupEntryIn(_Entry):
    data: CheckupInfo


class ReplicaEntryOut(BaseModel):
    person_no: str
    item_no: str
    record_key: str
    as_of: datetime
    no_auto_response: bool
    current: bool = Field(description="false: an entry at least as recent was there already")
