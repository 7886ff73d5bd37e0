from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.constraints import one_of
from boshi_core.inquiries.schemas import Channel
from mch_common.db import Base
from mch_common.ids import uuid7


class Inquiry(Base):
    """An inquiry about the handling of the file (問合せ), kept from receipt to answer."""

    __tablename__ = "inquiries"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    channel: Mapped[str] = mapped_column(String(20))
    question: Mapped[str] = mapped_column(Text)
    person_no: Mapped[str | None] = mapped_column(String(10), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str] = mapped_column(String(100))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[str | None] = mapped_column(String(100))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        one_of("channel", Channel),
        Index("ix_inquiries_received", "received_at", "id"),
    )
