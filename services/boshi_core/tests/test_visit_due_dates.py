"""Home visits are due by the last day of their window, computed with mch_common.dates from
the birth follow-up rule (migration 0009's seed row: 28 days, 4 months, 14 days)."""

from datetime import date

import pytest

from boshi_core.rules.models import BirthRule
from boshi_core.visits.service import due_by

SEED = BirthRule(
    effective_from=date(1966, 1, 1),
    low_birth_weight_below_g=2500,
    newborn_visit_days=28,
    infant_household_visit_months=4,
    premature_visit_due_days=14,
    source="test",
)


def test_newborn_visit_is_due_on_day_27() -> None:
    assert due_by("newborn", birth_date=date(2026, 2, 10), rule=SEED) == date(2026, 3, 9)


@pytest.mark.parametrize(
    ("birth", "last_day_under_4_months"),
    [
        (date(2026, 1, 15), date(2026, 5, 14)),
        (date(2025, 10, 31), date(2026, 2, 28)),  # 4 months old from 1 March
        (date(2023, 10, 29), date(2024, 2, 28)),  # 29 Feb 2024 is the anniversary
    ],
)
def test_infant_household_visit_is_due_before_4_months(
    birth: date, last_day_under_4_months: date
) -> None:
    assert due_by("infant_household", birth_date=birth, rule=SEED) == last_day_under_4_months
