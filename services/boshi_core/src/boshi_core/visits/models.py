from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.constraints import one_of
from boshi_core.visits.schemas import VisitKind, VisitStatus
from mch_common.db import Base
from mch_common.ids import uuid7


class HomeVisit(Base):
    __tablename__ = "home_visits"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    kind: Mapped[str] = mapped_column(String(20))
    child_id: Mapped[UUID] = mapped_column(ForeignKey("children.id"), index=True)
    mother_person_no: Mapped[str] = mapped_column(String(10), index=True)
    ward_code: Mapped[str | None] = mapped_column(String(6))
    due_by: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default="open")
    not_applicable_reason: Mapped[str | None] = mapped_column(String(200))
    assigned_to: Mapped[str | None] = mapped_column(String(100))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    visited_on: Mapped[date | None] = mapped_column(Date)
    within_window: Mapped[bool | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    completed_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("child_id", "kind"),
        one_of("kind", VisitKind),
        one_of("status", VisitStatus),
        Index("ix_home_visits_open_due", "due_by", "id", postgresql_where="status = 'open'"),
    )
