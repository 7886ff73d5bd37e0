"""The platform tables; the tenant register; the tenant tables under row-level security
(符号 mapping, replica, inquiries, held provisions, honoured permits); the gateway's copy of
the permission list; batch runs; and the simulated hub's schema `hub` with its permission
list seeded (items 80 and 95).

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op
from national_hub.models import HubPerson, IssuedCode, IssuedPermit, PermissionRule

from intermediate_server.admin.models import BatchRun
from intermediate_server.codes.models import PersonCode
from intermediate_server.exchange.models import HeldProvision, Inquiry, PermissionCopy, UsedPermit
from intermediate_server.replica.models import ReplicaEntry
from intermediate_server.tenancy import Tenant, rls_ddl
from mch_common.migrations import create_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as of this revision; later revisions alter them, never this file.
_TABLES = (
    Tenant,
    PersonCode,
    ReplicaEntry,
    Inquiry,
    HeldProvision,
    UsedPermit,
    PermissionCopy,
    BatchRun,
)
_TENANT_TABLES = ("person_code", "replica_entry", "inquiry", "held_provision", "used_permit")
_HUB_TABLES = (HubPerson, IssuedCode, PermissionRule, IssuedPermit)

# The permission list (照会許可照合リスト), version 1: any municipality's mayor may ask another
# for pregnancy notification information (番号法 別表第二 / 主務省令第2条の表 80の項: the
# disaster victims register) and for prenatal and infant checkup information (95の項: a family
# that moved). Source: 行政手続における特定の個人を識別するための番号の利用等に関する法律
# 第十九条第八号に基づく利用特定個人情報の提供に関する命令 第2条の表.
_RULES = [
    (
        1,
        "*",
        "*",
        "主務省令第2条の表80の項",
        "80",
        "妊娠の届出に関する情報",
        date(2017, 11, 13),
        None,
    ),
    (
        1,
        "*",
        "*",
        "主務省令第2条の表95の項",
        "95",
        "妊婦・乳幼児健康診査に関する情報",
        date(2017, 11, 13),
        None,
    ),
]
_COLUMNS = (
    "list_version",
    "requester",
    "provider",
    "clause",
    "item_no",
    "item_name",
    "valid_from",
    "valid_to",
)


def upgrade() -> None:
    bind = op.get_bind()
    create_platform_tables(bind)
    for model in _TABLES:
        model.__table__.create(bind)  # type: ignore[attr-defined]
    for table in _TENANT_TABLES:
        for statement in rls_ddl(table):
            op.execute(statement)
    op.execute("CREATE SCHEMA hub")
    for hub_model in _HUB_TABLES:
        hub_model.__table__.create(bind)  # type: ignore[attr-defined]
    rows = [dict(zip(_COLUMNS, rule, strict=True)) for rule in _RULES]
    op.bulk_insert(sa.table("permission_rule", *map(sa.column, _COLUMNS), schema="hub"), rows)
    op.bulk_insert(sa.table("permission_copy", *map(sa.column, _COLUMNS)), rows)


def downgrade() -> None:
    raise NotImplementedError("the first revision is not downgraded")
