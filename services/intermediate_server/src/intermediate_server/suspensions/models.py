"""Suspensions of provision (利用停止): a person of a municipality whose data its MCH system
decided must not be provided to other municipalities until the decision is lifted."""

import uuid
from datetime import date, datetime

from sqlalchemy import CHAR, Boolean, Date, DateTime, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class ProvisionSuspension(Base):
    """The latest decision about one person's provision: `suspended` or lifted, as of the
    deciding event's time (an older event changes nothing)."""

    __tablename__ = "provision_suspension"
    __table_args__ = (UniqueConstraint("tenant", "person_no"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    tenant: Mapped[str] = mapped_column(CHAR(6))
    person_no: Mapped[str] = mapped_column(String(10))
    suspended: Mapped[bool] = mapped_column(Boolean)
    request_id: Mapped[str] = mapped_column(String(64))
    effective_on: Mapped[date] = mapped_column(Date)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
