from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.ids import uuid7


class CenterCase(Base):
    """A family's case at the child and family center (子ども家庭センター)."""

    __tablename__ = "center_cases"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    household_key: Mapped[str] = mapped_column(String(40), index=True)
    ward_code: Mapped[str | None] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(20))
    opened_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)


class CenterCaseMember(Base):
    __tablename__ = "center_case_members"

    case_id: Mapped[UUID] = mapped_column(ForeignKey("center_cases.id"), primary_key=True)
    person_no: Mapped[str] = mapped_column(String(10), primary_key=True, index=True)
    relationship: Mapped[str] = mapped_column(String(30))  # mother | father | child | other


class CenterConsultation(Base):
    __tablename__ = "center_consultations"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("center_cases.id"), index=True)
    consulted_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("channel IN ('office', 'phone', 'home_visit', 'online')", name="channel"),
    )


class SupportPlan(Base):
    """サポートプラン: a case's support plan, reviewed by `review_on`."""

    __tablename__ = "center_support_plans"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    case_id: Mapped[UUID] = mapped_column(ForeignKey("center_cases.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[date] = mapped_column(Date)
    review_on: Mapped[date] = mapped_column(Date, index=True)
    goals: Mapped[str] = mapped_column(Text)
    supports: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    last_reviewed_on: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("case_id", "version"),
        CheckConstraint("status IN ('active', 'superseded', 'ended')", name="status"),
    )


class SupportPlanReview(Base):
    __tablename__ = "center_plan_reviews"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    plan_id: Mapped[UUID] = mapped_column(ForeignKey("center_support_plans.id"), index=True)
    reviewed_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(20))  # continue | end
    note: Mapped[str | None] = mapped_column(Text)
    next_review_on: Mapped[date | None] = mapped_column(Date)
    reviewed_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (CheckConstraint("outcome IN ('continue', 'end')", name="outcome"),)
