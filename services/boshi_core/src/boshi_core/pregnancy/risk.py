"""Prenatal risk flags from the rule set in force on the checkup date (rules are data)."""

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from boshi_core.pregnancy.models import PrenatalCheckup, RiskRuleSet
from mch_common.dates import years_old
from mch_common.driver_reads import load_rows


@dataclass(frozen=True)
class CheckupFacts:
    gestational_weeks: int
    systolic_bp: int | None
    diastolic_bp: int | None
    is_first_checkup: bool
    mother_birth_date: date
    expected_delivery_date: date


@dataclass(frozen=True)
class RulesInForce:
    rules: dict[str, Any]
    version: int
    is_first_checkup: bool  # of the pregnancy


_IN_FORCE = (
    select(
        RiskRuleSet.rules,
        RiskRuleSet.version,
        (~exists().where(PrenatalCheckup.pregnancy_id == bindparam("pregnancy_id"))).label(
            "is_first"
        ),
    )
    .where(RiskRuleSet.effective_from <= bindparam("on"))
    .order_by(RiskRuleSet.effective_from.desc())
    .limit(1)
)


async def rules_in_force(
    session: AsyncSession, on: date, *, pregnancy_id: UUID
) -> RulesInForce | None:
    """The rule set in force on `on`, and whether this is the pregnancy's first checkup (one
    round trip on the driver: it is on every checkup's write path); None before the first
    rule set."""
    rows = await load_rows(session, _IN_FORCE, on=on, pregnancy_id=pregnancy_id)
    return RulesInForce(rows[0][0], rows[0][1], bool(rows[0][2])) if rows else None


def evaluate(rules: dict[str, Any], facts: CheckupFacts) -> list[str]:
    flags: list[str] = []
    if (rule := rules.get("hypertension")) is not None and (
        (facts.systolic_bp or 0) >= rule["systolic_at_least"]
        or (facts.diastolic_bp or 0) >= rule["diastolic_at_least"]
    ):
        flags.append("hypertension")
    if (rule := rules.get("late_first_checkup")) is not None and (
        facts.is_first_checkup and facts.gestational_weeks > rule["after_week"]
    ):
        flags.append("late_first_checkup")
    age_at_delivery = years_old(facts.mother_birth_date, facts.expected_delivery_date)
    if (rule := rules.get("teenage_mother")) is not None and age_at_delivery < rule["age_below"]:
        flags.append("teenage_mother")
    if (rule := rules.get("older_mother")) is not None and age_at_delivery >= rule["age_at_least"]:
        flags.append("older_mother")
    return flags
