"""The platform tables, the procedures as data (the pregnancy notification and the low birth
weight notification), applications with their signed versions and encrypted My Numbers, the
applicant challenges and sessions, and the result notices.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from e_application.applicant.models import ApplicantSession, Challenge
from e_application.applications.models import (
    Application,
    ApplicationHistory,
    ApplicationMyNumber,
    ApplicationVersion,
)
from e_application.notices.models import ResultNotice
from e_application.procedures.definitions import PROCEDURES
from e_application.procedures.models import Procedure
from mch_common.migrations import create_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables as of this revision; later revisions alter them, never this file.
_TABLES = (
    Procedure,
    Application,
    ApplicationVersion,
    ApplicationMyNumber,
    ApplicationHistory,
    Challenge,
    ApplicantSession,
    ResultNotice,
)


def upgrade() -> None:
    bind = op.get_bind()
    create_platform_tables(bind)
    op.execute("CREATE SEQUENCE receipt_no_seq")
    for model in _TABLES:
        model.__table__.create(bind)  # type: ignore[attr-defined]
    op.bulk_insert(Procedure.__table__, PROCEDURES)  # type: ignore[arg-type]


def downgrade() -> None:
    for model in reversed(_TABLES):
        model.__table__.drop(op.get_bind())  # type: ignore[attr-defined]
    op.execute("DROP SEQUENCE receipt_no_seq")
