"""Row-level security on the audit log (which holds the provision records): a municipality's
transaction reads only its own records, like every tenant table (tenancy.audit_rls_ddl).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

from intermediate_server.tenancy import audit_rls_ddl

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in audit_rls_ddl():
        op.execute(statement)


def downgrade() -> None:
    for policy in ("tenant_read", "tenant_append", "chain_seal", "chain_retire"):
        op.execute(f"DROP POLICY {policy} ON audit_log")
    op.execute("ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION audit_record_tenant(jsonb, text[])")
