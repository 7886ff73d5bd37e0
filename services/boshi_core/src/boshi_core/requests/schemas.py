from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mch_common.inputs import StrictModel

RequestKind = Literal["disclosure", "correction", "suspension"]
RequesterKind = Literal["self", "legal_representative"]
# 本人確認書類: what the requester showed at the window (or sent, for a request by post).
IdDocument = Literal[
    "my_number_card", "driving_licence", "passport", "residence_card", "health_insurance", "other"
]
Outcome = Literal["full", "partial", "refusal"]
RequestStatus = Literal["received", "decided", "fulfilled"]
# The uses a suspension names: the checkup reminders (受診勧奨), the checkup invitations
# (対象者抽出), and provision to other municipalities (情報提供, honoured by the intermediate
# server from the event).
SuspendedUse = Literal["reminders", "invitations", "provision"]
# The parts of a disclosure export a partial decision can withhold (the export's sections).
DisclosureSection = Literal[
    "atena",
    "boshi_core",
    "immunization_bridge",
    "e_application",
    "intermediate_server",
    "access_log",
]


class RequesterIn(StrictModel):
    kind: RequesterKind
    # A legal representative (法定代理人: a parent for a child, a guardian) is named; the
    # person herself is the record's subject and is not named again.
    name: str | None = Field(default=None, min_length=1, max_length=100)
    relationship: str | None = Field(default=None, min_length=1, max_length=50)
    id_document: IdDocument
    representation_document: str | None = Field(
        default=None, max_length=100, description="the document proving the representation"
    )

    @model_validator(mode="after")
    def _representative_is_named(self) -> "RequesterIn":
        if self.kind == "legal_representative" and not (
            self.name and self.relationship and self.representation_document
        ):
            raise ValueError(
                "a legal representative's name, relationship and proof of representation "
                "are required"
            )
        return self


class CorrectionItem(StrictModel):
    record_type: str = Field(min_length=1, max_length=40)
    record_id: str = Field(min_length=1, max_length=40)
    field: str = Field(min_length=1, max_length=60)
    value: str | int | bool | None = Field(description="the corrected value (dates as ISO text)")


class RequestIn(StrictModel):
    person_no: str = Field(pattern=r"^\d{10}$")
    kind: RequestKind
    requester: RequesterIn
    asked: str = Field(min_length=1, max_length=2000, description="what is asked, in short")
    received_on: date
    # correction: the corrections asked for; suspension: the uses to stop (or, with lift, to
    # restore).
    corrections: list[CorrectionItem] = Field(default_factory=list, max_length=50)
    uses: list[SuspendedUse] = Field(default_factory=list, max_length=3)
    lift: bool = False

    @model_validator(mode="after")
    def _asks_something(self) -> "RequestIn":
        if self.kind == "correction" and not self.corrections:
            raise ValueError("a correction request names at least one correction")
        if self.kind == "suspension" and not self.uses:
            raise ValueError("a suspension request names at least one use")
        if self.kind != "correction" and self.corrections:
            raise ValueError("corrections belong to a correction request")
        if self.kind != "suspension" and (self.uses or self.lift):
            raise ValueError("uses belong to a suspension request")
        return self


class ExtensionIn(StrictModel):
    extended_to: date
    reason: str = Field(min_length=1, max_length=1000)
    notified_on: date = Field(description="the day the requester was notified (延長通知)")


class DecisionIn(StrictModel):
    outcome: Outcome
    decided_on: date
    # partial: the parts withheld (disclosure: export sections; correction: item numbers from 1)
    withheld: list[str] = Field(default_factory=list, max_length=50)
    reason: str | None = Field(default=None, min_length=1, max_length=2000)
    # Staff names are withheld from the access section unless the decision discloses them.
    disclose_staff: bool = False

    @model_validator(mode="after")
    def _reasoned(self) -> "DecisionIn":
        if self.outcome != "full" and not self.reason:
            raise ValueError("a partial decision or a refusal states its reason")
        if self.outcome == "partial" and not self.withheld:
            raise ValueError("a partial decision names the withheld parts")
        if self.outcome != "partial" and self.withheld:
            raise ValueError("only a partial decision withholds parts")
        return self


class RequestOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    person_no: str
    kind: RequestKind
    requester: dict[str, Any]
    asked: str
    items: dict[str, Any]
    received_on: date
    deadline: date
    extended_to: date | None
    extension_reason: str | None
    extension_notified_on: date | None
    status: RequestStatus
    outcome: Outcome | None
    decided_on: date | None
    withheld: list[str]
    decision_reason: str | None
    disclose_staff: bool
    fulfilled_on: date | None
    received_by: str
    decided_by: str | None


class RequestPageOut(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None


class ExportOut(BaseModel):
    request_id: UUID
    export: dict[str, Any]


class FulfilmentOut(BaseModel):
    request: RequestOut
    summary: dict[str, Any] = Field(description="what the fulfilment did, by part")


class CorrectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    request_id: UUID
    record_type: str
    record_id: str
    field: str
    previous_value: Any
    new_value: Any
    corrected_at: datetime
    corrected_by: str
