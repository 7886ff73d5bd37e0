"""Requests from the people in the records (issue 19): the MCH division's city-wide staff
register and decide disclosure, correction and suspension requests and keep the inquiry log
(boshi:requests:*) and dispose of records past their retention period
(boshi:retention:admin); atena's disclosure export gets a scope of its own; and boshi_core's service
client, which collects a disclosure from every service, may call atena's and the bridge's
disclosure endpoints.

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTS = [
    ("mch_staff", "boshi:requests:read"),
    ("mch_staff", "boshi:requests:write"),
    ("mch_staff", "atena:disclosure:export"),
    ("mch_staff", "boshi:retention:admin"),
    ("auditor", "boshi:requests:read"),
]
COLLECTOR = "boshi_core"
COLLECTOR_SCOPES = ["atena:disclosure:export", "immunization:disclosure:export"]


def upgrade() -> None:
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(role_scopes, [{"role": role, "scope": scope} for role, scope in GRANTS])
    # A boshi_core client registered before this revision gets the collector's scopes.
    for scope in COLLECTOR_SCOPES:
        op.execute(
            sa.text(
                "UPDATE service_clients SET scopes = array_append(scopes, :scope) "
                "WHERE client_id = :client AND NOT (:scope = ANY(scopes))"
            ).bindparams(scope=scope, client=COLLECTOR)
        )


def downgrade() -> None:
    for scope in COLLECTOR_SCOPES:
        op.execute(
            sa.text(
                "UPDATE service_clients SET scopes = array_remove(scopes, :scope) "
                "WHERE client_id = :client"
            ).bindparams(scope=scope, client=COLLECTOR)
        )
    op.execute(
        "DELETE FROM role_scopes WHERE scope IN "
        "('boshi:requests:read', 'boshi:requests:write', 'atena:disclosure:export', "
        "'boshi:retention:admin')"
    )
