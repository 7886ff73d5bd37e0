"""What every versioned rule table has, and the birth follow-up rules."""

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, SmallInteger, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base


class RuleVersionColumns:
    """Who added a rule version and when; `recorded_by` is NULL for a migration's seed row."""

    recorded_by: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BirthRule(RuleVersionColumns, Base):
    """The rules that follow a birth, chosen by the child's birth date (the premature infant
    visit's days by the notification date): 低体重児 (MCH Act art. 18), the newborn visit
    (新生児訪問, art. 11), the infant household visit (乳児家庭全戸訪問), the premature infant
    visit (未熟児訪問, art. 19)."""

    __tablename__ = "birth_rules"

    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    low_birth_weight_below_g: Mapped[int] = mapped_column(SmallInteger)
    newborn_visit_days: Mapped[int] = mapped_column(SmallInteger)
    infant_household_visit_months: Mapped[int] = mapped_column(SmallInteger)
    premature_visit_due_days: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "low_birth_weight_below_g > 0 AND newborn_visit_days > 0 "
            "AND infant_household_visit_months > 0 AND premature_visit_due_days > 0",
            name="positive",
        ),
    )
