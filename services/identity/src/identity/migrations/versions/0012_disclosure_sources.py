"""Issue 19's remaining disclosure sources: boshi_core's service client, which collects a
disclosure from every service, may call e_application's and the intermediate server's
disclosure endpoints. The intermediate server's export (its provision records and access
records about a person of the caller's municipality) gets a scope of its own, held by the
collector only: a person reads her provision records through マイナポータル, staff through
`ims:records:read`.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLLECTOR = "boshi_core"
COLLECTOR_SCOPES = ["eapp:disclosure:export", "ims:disclosure:export"]
_GRANT = sa.text(
    "UPDATE service_clients SET scopes = array_append(scopes, :scope) "
    "WHERE client_id = :client AND NOT (:scope = ANY(scopes))"
)
_REVOKE = sa.text(
    "UPDATE service_clients SET scopes = array_remove(scopes, :scope) WHERE client_id = :client"
)


def upgrade() -> None:
    # A boshi_core client registered before this revision gets the collector's new scopes.
    for scope in COLLECTOR_SCOPES:
        op.execute(_GRANT.bindparams(scope=scope, client=COLLECTOR))


def downgrade() -> None:
    for scope in COLLECTOR_SCOPES:
        op.execute(_REVOKE.bindparams(scope=scope, client=COLLECTOR))
