from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from boshi_core.checkups.schemas import FollowUpOutcome, Judgement, NoticeKind
from boshi_core.constraints import one_of
from boshi_core.rules.models import RuleVersionColumns
from mch_common.db import Base
from mch_common.ids import uuid7


class CheckupProgramme(RuleVersionColumns, Base):
    """One version of an infant checkup programme (乳幼児健康診査), effective from a date."""

    __tablename__ = "checkup_programmes"

    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    effective_to: Mapped[date | None] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
    start_months: Mapped[int] = mapped_column(SmallInteger)
    end_months: Mapped[int] = mapped_column(SmallInteger)
    reminder_days_before_end: Mapped[int] = mapped_column(SmallInteger)
    # 精密健康診査受診票 issued on this version's results: valid this many days from issue.
    detailed_exam_valid_days: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("start_months >= 0 AND end_months > start_months", name="window"),
        CheckConstraint("reminder_days_before_end >= 0", name="reminder_days"),
        CheckConstraint("detailed_exam_valid_days > 0", name="detailed_exam_valid_days"),
    )


class CheckupNotice(Base):
    """A child's invitation (extraction) or reminder (受診勧奨) for one programme and month.
    The unique key is what makes extraction and reminder runs idempotent."""

    __tablename__ = "checkup_notices"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10))
    programme_code: Mapped[str] = mapped_column(String(10))
    period: Mapped[date] = mapped_column(Date)  # first day of the month
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(20))  # entered | catch_up | non_attendee
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    ward_code: Mapped[str | None] = mapped_column(String(6))
    household_key: Mapped[str] = mapped_column(String(40))
    run_id: Mapped[UUID | None] = mapped_column(ForeignKey("reminder_runs.id"))
    status: Mapped[str] = mapped_column(String(20))  # recorded | pending | sent
    letter_no: Mapped[str | None] = mapped_column(String(40))
    letter_file: Mapped[str | None] = mapped_column(String(80))  # the print file, and
    letter_page: Mapped[int | None] = mapped_column(SmallInteger)  # the letter's first page
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    follow_up_outcome: Mapped[str | None] = mapped_column(String(30))
    follow_up_note: Mapped[str | None] = mapped_column(Text)
    follow_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    follow_up_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("person_no", "programme_code", "period", "kind"),
        # The month's list in its paging order (ward, household, person; migration 0017).
        Index(
            "ix_checkup_notices_list_order",
            "period",
            "kind",
            "programme_code",
            text("COALESCE(ward_code, '')"),
            "household_key",
            "person_no",
        ),
        # Only reminders belong to a run; invitations stay out of this index.
        Index(
            "ix_checkup_notices_run_household",
            "run_id",
            "household_key",
            postgresql_where=text("run_id IS NOT NULL"),
        ),
        one_of("kind", NoticeKind),
        CheckConstraint("status IN ('recorded', 'pending', 'sent')", name="status"),
        one_of("follow_up_outcome", FollowUpOutcome, nullable=True),
    )


class CheckupResult(Base):
    """An infant checkup result; it closes the child's non-attendance for the programme."""

    __tablename__ = "checkup_results"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    person_no: Mapped[str] = mapped_column(String(10))
    programme_code: Mapped[str] = mapped_column(String(10))
    examined_on: Mapped[date] = mapped_column(Date)
    institution: Mapped[str] = mapped_column(String(200))
    ward_code: Mapped[str | None] = mapped_column(String(6))
    height_cm: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    head_circumference_cm: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    chest_circumference_cm: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    development: Mapped[dict[str, Any]] = mapped_column(JSONB)
    findings: Mapped[str | None] = mapped_column(Text)
    judgement: Mapped[str] = mapped_column(String(20))
    next_action: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("person_no", "programme_code"),
        one_of("judgement", Judgement),
    )


class DetailedExamVoucher(Base):
    """精密健康診査受診票: issued when a checkup refers the child for a detailed examination."""

    __tablename__ = "detailed_exam_vouchers"

    id: Mapped[UUID] = mapped_column(primary_key=True, default=uuid7)
    voucher_no: Mapped[str] = mapped_column(String(20), unique=True)
    result_id: Mapped[UUID] = mapped_column(ForeignKey("checkup_results.id"), unique=True)
    person_no: Mapped[str] = mapped_column(String(10), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
