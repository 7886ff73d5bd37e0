"""Registered terminals (登録端末): a staff login must name one that is active."""

from datetime import datetime

from sqlalchemy import Boolean, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class Terminal(Base):
    __tablename__ = "terminals"

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Its place: the ward office it stands in, whose staff alone may log in on it; null for
    # headquarters (本庁), whose terminals serve anyone.
    ward: Mapped[str | None] = mapped_column(String(6))
    location: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_by: Mapped[str] = mapped_column(String(100))
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
