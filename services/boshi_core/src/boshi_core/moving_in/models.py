"""Requests to the previous city and the records it provided."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, DateTime, SmallInteger, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class PreviousCityRequest(Base):
    """One move-in's inquiry for one item (95: a child's checkups; 80: a woman's pregnancy
    notification), queued in the transaction that applied atena's event (so a restart
    neither loses nor repeats it) and sent by the fetch job."""

    __tablename__ = "previous_city_requests"
    __table_args__ = (
        UniqueConstraint(
            "person_no",
            "source_municipality",
            "moved_in_on",
            "item_no",
            name="uq_previous_city_requests_move_item",
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    source_municipality: Mapped[str] = mapped_column(String(6))
    moved_in_on: Mapped[date] = mapped_column(Date)
    item_no: Mapped[str] = mapped_column(String(10), server_default="95")
    # pending | held (the provider's staff must confirm) | done | refused
    status: Mapped[str] = mapped_column(String(10), index=True)
    inquiry_id: Mapped[str | None] = mapped_column(String(36))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PreviousCityRecord(Base):
    """A record the previous city provided (its replica's layout: a checkup, item 95, or a
    pregnancy notification, item 80), marked with its source (municipality code) and date
    (its as-of time; when it arrived)."""

    __tablename__ = "previous_city_records"
    __table_args__ = (
        UniqueConstraint(
            "person_no",
            "source_municipality",
            "item_no",
            "record_key",
            name="uq_previous_city_records_record",
        ),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    source_municipality: Mapped[str] = mapped_column(String(6))
    item_no: Mapped[str] = mapped_column(String(10))
    record_key: Mapped[str] = mapped_column(String(64))
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Our programme for an infant checkup record ("4m", ...): what the extraction counts.
    programme_code: Mapped[str | None] = mapped_column(String(10))
    # Whether the checkup was taken (item 95); None for a pregnancy notification (item 80).
    taken: Mapped[bool | None] = mapped_column(Boolean)
    taken_on: Mapped[date | None] = mapped_column(Date)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
