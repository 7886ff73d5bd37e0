from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.constraints import one_of
from boshi_core.requests.schemas import Outcome, RequestKind, RequestStatus
from mch_common.db import Base
from mch_common.ids import uuid7


class PersonalDataRequest(Base):
    """A disclosure, correction or suspension request (開示・訂正・利用停止請求), its legal
    deadline, the decision and its fulfilment."""

    __tablename__ = "personal_data_requests"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    requester: Mapped[dict[str, Any]] = mapped_column(JSONB)
    asked: Mapped[str] = mapped_column(Text)
    items: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date)
    extended_to: Mapped[date | None] = mapped_column(Date)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    extension_notified_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="received")
    outcome: Mapped[str | None] = mapped_column(String(20))
    decided_on: Mapped[date | None] = mapped_column(Date)
    withheld: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    disclose_staff: Mapped[bool] = mapped_column(server_default=text("false"))
    fulfilled_on: Mapped[date | None] = mapped_column(Date)
    # The disclosure as delivered (JSON): kept, so the PDF and a later question show exactly
    # what the person received.
    export: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    received_by: Mapped[str] = mapped_column(String(100))
    decided_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        one_of("kind", RequestKind),
        one_of("status", RequestStatus),
        one_of("outcome", Outcome, nullable=True),
        # The overdue list: undecided requests by the day they are due.
        Index(
            "ix_personal_data_requests_undecided_due",
            text("COALESCE(extended_to, deadline)"),
            "id",
            postgresql_where=text("status = 'received'"),
        ),
    )


class RecordCorrection(Base):
    """One field of one record corrected on a decision: the previous value is kept here."""

    __tablename__ = "record_corrections"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    request_id: Mapped[UUID] = mapped_column(ForeignKey("personal_data_requests.id"), index=True)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(40))
    field: Mapped[str] = mapped_column(String(60))
    previous_value: Mapped[Any] = mapped_column(JSONB)
    new_value: Mapped[Any] = mapped_column(JSONB)
    corrected_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    corrected_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_record_corrections_record", "record_type", "record_id"),)
