"""The platform tables, the child register, imported files and records, the overdue doses, and
the routine schedule as data (each rule with its source).

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from immunization_bridge.children.models import Child
from immunization_bridge.records.models import ImportFile, VaccinationRecord
from immunization_bridge.schedule.models import ScheduleRule
from immunization_bridge.status.models import OverdueDose
from mch_common.migrations import create_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as of this revision; later revisions alter them, never this file.
_TABLES = (ScheduleRule, Child, ImportFile, VaccinationRecord, OverdueDose)

# Sources: 予防接種法施行令 (政令) 別表, 予防接種法施行規則, 定期接種実施要領 (厚生労働省健康局長
# 通知, as revised for 2024-04-01); the standard periods (標準的な接種期間) are the 実施要領's.
_ORDINANCE = "予防接種法施行令・定期接種実施要領"
_FIVE_IN_ONE = "定期接種実施要領 (2024-04-01 改正: 5種混合 DPT-IPV-Hib の定期接種化)"
_OLD = date(2013, 4, 1)  # Hib and PCV routine; the earliest row of this table's history
_SWITCH = date(2024, 4, 1)  # 4種混合 + Hib replaced by 5種混合

# (vaccine, name, dose, basis, start (m, d), end (m, d), overdue (m, d) | None,
#  interval (from dose, months, days) | None, effective from, effective to, source)
_Row = tuple[
    str,
    str,
    int,
    str,
    tuple[int, int],
    tuple[int, int],
    tuple[int, int] | None,
    tuple[int, int, int] | None,
    date,
    date | None,
    str,
]
_AGE, _SCHOOL = "age", "pre_school_year"
RULES: list[_Row] = [
    # B型肝炎: 1歳未満; 標準 生後2月から9月 (2nd 27 days after the 1st, 3rd 139 days after the 1st).
    (
        "hepb",
        "B型肝炎",
        1,
        _AGE,
        (2, 0),
        (12, 0),
        (9, 0),
        None,
        date(2016, 10, 1),
        None,
        _ORDINANCE,
    ),
    (
        "hepb",
        "B型肝炎",
        2,
        _AGE,
        (2, 0),
        (12, 0),
        (9, 0),
        (1, 0, 27),
        date(2016, 10, 1),
        None,
        _ORDINANCE,
    ),
    (
        "hepb",
        "B型肝炎",
        3,
        _AGE,
        (2, 0),
        (12, 0),
        (9, 0),
        (1, 0, 139),
        date(2016, 10, 1),
        None,
        _ORDINANCE,
    ),
    # ロタウイルス (1価, 2 doses): 生後6週0日から24週0日まで; 1st by 14週6日; 27 days apart.
    (
        "rotavirus",
        "ロタウイルス",
        1,
        _AGE,
        (0, 42),
        (0, 105),
        None,
        None,
        date(2020, 10, 1),
        None,
        _ORDINANCE,
    ),
    (
        "rotavirus",
        "ロタウイルス",
        2,
        _AGE,
        (0, 42),
        (0, 168),
        None,
        (1, 0, 27),
        date(2020, 10, 1),
        None,
        _ORDINANCE,
    ),
    # 小児の肺炎球菌 (3+1): 生後2月から60月に至るまで; 標準 1st by 7 months.
    ("pcv", "小児の肺炎球菌", 1, _AGE, (2, 0), (60, 0), (7, 0), None, _OLD, None, _ORDINANCE),
    (
        "pcv",
        "小児の肺炎球菌",
        2,
        _AGE,
        (2, 0),
        (24, 0),
        (12, 0),
        (1, 0, 27),
        _OLD,
        None,
        _ORDINANCE,
    ),
    (
        "pcv",
        "小児の肺炎球菌",
        3,
        _AGE,
        (2, 0),
        (24, 0),
        (12, 0),
        (2, 0, 27),
        _OLD,
        None,
        _ORDINANCE,
    ),
    (
        "pcv",
        "小児の肺炎球菌",
        4,
        _AGE,
        (12, 0),
        (60, 0),
        (16, 0),
        (3, 0, 60),
        _OLD,
        None,
        _ORDINANCE,
    ),
    # ヒブ and 4種混合 DPT-IPV until 2024-03-31 (the 5-in-1 replaced both).
    ("hib", "ヒブ", 1, _AGE, (2, 0), (60, 0), (7, 0), None, _OLD, _SWITCH, _ORDINANCE),
    ("hib", "ヒブ", 2, _AGE, (2, 0), (60, 0), (12, 0), (1, 0, 27), _OLD, _SWITCH, _ORDINANCE),
    ("hib", "ヒブ", 3, _AGE, (2, 0), (60, 0), (12, 0), (2, 0, 27), _OLD, _SWITCH, _ORDINANCE),
    ("hib", "ヒブ", 4, _AGE, (2, 0), (60, 0), None, (3, 7, 0), _OLD, _SWITCH, _ORDINANCE),
    ("dpt_ipv", "4種混合", 1, _AGE, (3, 0), (90, 0), (12, 0), None, _OLD, _SWITCH, _ORDINANCE),
    (
        "dpt_ipv",
        "4種混合",
        2,
        _AGE,
        (3, 0),
        (90, 0),
        (12, 0),
        (1, 0, 20),
        _OLD,
        _SWITCH,
        _ORDINANCE,
    ),
    (
        "dpt_ipv",
        "4種混合",
        3,
        _AGE,
        (3, 0),
        (90, 0),
        (12, 0),
        (2, 0, 20),
        _OLD,
        _SWITCH,
        _ORDINANCE,
    ),
    ("dpt_ipv", "4種混合", 4, _AGE, (3, 0), (90, 0), None, (3, 6, 0), _OLD, _SWITCH, _ORDINANCE),
    # 5種混合 DPT-IPV-Hib: 生後2月から90月に至るまで; 標準 1st by 7 months, 3rd by 12 months.
    ("dpt_ipv_hib", "5種混合", 1, _AGE, (2, 0), (90, 0), (7, 0), None, _SWITCH, None, _FIVE_IN_ONE),
    (
        "dpt_ipv_hib",
        "5種混合",
        2,
        _AGE,
        (2, 0),
        (90, 0),
        (12, 0),
        (1, 0, 20),
        _SWITCH,
        None,
        _FIVE_IN_ONE,
    ),
    (
        "dpt_ipv_hib",
        "5種混合",
        3,
        _AGE,
        (2, 0),
        (90, 0),
        (12, 0),
        (2, 0, 20),
        _SWITCH,
        None,
        _FIVE_IN_ONE,
    ),
    (
        "dpt_ipv_hib",
        "5種混合",
        4,
        _AGE,
        (2, 0),
        (90, 0),
        None,
        (3, 6, 0),
        _SWITCH,
        None,
        _FIVE_IN_ONE,
    ),
    # BCG: 1歳に至るまで; 標準 生後5月から8月.
    ("bcg", "BCG", 1, _AGE, (0, 0), (12, 0), (8, 0), None, _OLD, None, _ORDINANCE),
    # 麻しん風しん: 1期 1歳から2歳未満; 2期 小学校就学前の1年間.
    ("mr", "麻しん風しん", 1, _AGE, (12, 0), (24, 0), None, None, _OLD, None, _ORDINANCE),
    ("mr", "麻しん風しん", 2, _SCHOOL, (0, 0), (0, 0), None, None, _OLD, None, _ORDINANCE),
    # 水痘: 1歳から3歳未満, 2 doses 3 months apart; 標準 1st by 15 months.
    (
        "varicella",
        "水痘",
        1,
        _AGE,
        (12, 0),
        (36, 0),
        (15, 0),
        None,
        date(2014, 10, 1),
        None,
        _ORDINANCE,
    ),
    (
        "varicella",
        "水痘",
        2,
        _AGE,
        (12, 0),
        (36, 0),
        None,
        (1, 3, 0),
        date(2014, 10, 1),
        None,
        _ORDINANCE,
    ),
    # 日本脳炎: 1期 生後6月から90月 (標準 3歳から; 2nd 6 days after, booster 6 months after);
    # 2期 9歳から13歳未満.
    ("je", "日本脳炎", 1, _AGE, (36, 0), (90, 0), (48, 0), None, _OLD, None, _ORDINANCE),
    ("je", "日本脳炎", 2, _AGE, (36, 0), (90, 0), (48, 0), (1, 0, 6), _OLD, None, _ORDINANCE),
    ("je", "日本脳炎", 3, _AGE, (36, 0), (90, 0), None, (2, 6, 0), _OLD, None, _ORDINANCE),
    ("je", "日本脳炎", 4, _AGE, (108, 0), (156, 0), None, None, _OLD, None, _ORDINANCE),
]


def _version(effective_from: date) -> str:
    return effective_from.strftime("%Y-%m")


def upgrade() -> None:
    bind = op.get_bind()
    create_platform_tables(bind)
    for model in _TABLES:
        model.__table__.create(bind)  # type: ignore[attr-defined]
    op.bulk_insert(
        sa.table(
            "schedule_rules",
            *(sa.column(c.name) for c in ScheduleRule.__table__.columns if c.name != "id"),
        ),
        [
            {
                "version": _version(valid_from),
                "vaccine": vaccine,
                "vaccine_name": name,
                "dose_no": dose,
                "basis": basis,
                "start_months": start[0],
                "start_days": start[1],
                "end_months": end[0],
                "end_days": end[1],
                "overdue_months": None if overdue is None else overdue[0],
                "overdue_days": None if overdue is None else overdue[1],
                "interval_from_dose": None if interval is None else interval[0],
                "interval_months": 0 if interval is None else interval[1],
                "interval_days": 0 if interval is None else interval[2],
                "effective_from": valid_from,
                "effective_to": valid_to,
                "source": source,
            }
            for (
                vaccine,
                name,
                dose,
                basis,
                start,
                end,
                overdue,
                interval,
                valid_from,
                valid_to,
                source,
            ) in RULES
        ],
    )


def downgrade() -> None:
    for model in reversed(_TABLES):
        model.__table__.drop(op.get_bind())  # type: ignore[attr-defined]
