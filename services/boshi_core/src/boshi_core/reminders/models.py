from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import CheckConstraint, Date, DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class ReminderRun(Base):
    """One month's reminder run. A run that stopped half way keeps status "running" or
    "failed" and is resumed by the next run of the same month; a completed one is not redone."""

    __tablename__ = "reminder_runs"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    period: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(20))
    out_dir: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    children: Mapped[int] = mapped_column(Integer, default=0)
    households: Mapped[int] = mapped_column(Integer, default=0)
    letters_sent: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('running', 'failed', 'completed')", name="status"),
    )
