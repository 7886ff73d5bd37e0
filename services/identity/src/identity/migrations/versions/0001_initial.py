"""Initial schema: platform tables, staff users, roles (with their scopes, as data), terminals,
service clients, signing keys, refresh tokens, revoked token ids, user-list reviews.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 10:32:03.303953
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from mch_common.migrations import create_platform_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables(op.get_bind())
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("exp", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "revoked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_exp"), "revoked_tokens", ["exp"], unique=False)
    op.create_table(
        "roles",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("title_ja", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("ward_level", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_roles")),
    )
    op.create_table(
        "service_clients",
        sa.Column("client_id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_service_clients")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=10), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("private_key_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publish_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "terminals",
        sa.Column("id", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("ward", sa.String(length=6), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("registered_by", sa.String(length=100), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terminals")),
    )
    op.create_table(
        "user_reviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("previous_id", sa.Uuid(), nullable=True),
        sa.Column("rows", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("csv_sha256", sa.String(length=64), nullable=False),
        sa.Column("diff", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signed_off_by", sa.String(length=100), nullable=True),
        sa.Column("signed_off_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["user_reviews.id"],
            name=op.f("fk_user_reviews_previous_id_user_reviews"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_reviews")),
        sa.UniqueConstraint("number", name=op.f("uq_user_reviews_number")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("login_id", sa.String(length=50), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("dept", sa.String(length=50), nullable=False),
        sa.Column("ward", sa.String(length=6), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("totp_secret_encrypted", sa.LargeBinary(), nullable=False),
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("totp_last_step", sa.BigInteger(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login_id", name=op.f("uq_users_login_id")),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("terminal_id", sa.String(length=50), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("access_jti", sa.String(length=64), nullable=False),
        sa.Column("access_exp", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_family_id"), "refresh_tokens", ["family_id"], unique=False
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "role_scopes",
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["role"], ["roles.name"], name=op.f("fk_role_scopes_role_roles"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("role", "scope", name=op.f("pk_role_scopes")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["role"], ["roles.name"], name=op.f("fk_user_roles_role_roles")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "user_transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("ward", sa.String(length=6), nullable=True),
        sa.Column("dept", sa.String(length=50), nullable=False),
        sa.Column("roles", sa.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_transfers_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_transfers")),
    )
    op.create_index(
        op.f("ix_user_transfers_effective_date"), "user_transfers", ["effective_date"], unique=False
    )
    op.create_index(op.f("ix_user_transfers_user_id"), "user_transfers", ["user_id"], unique=False)
    op.create_check_constraint("status", "users", "status IN ('active', 'suspended', 'revoked')")
    op.create_check_constraint("ward_level", "roles", "ward_level IN ('city', 'ward', 'any')")
    _seed_roles()


def downgrade() -> None:
    op.drop_index(op.f("ix_user_transfers_user_id"), table_name="user_transfers")
    op.drop_index(op.f("ix_user_transfers_effective_date"), table_name="user_transfers")
    op.drop_table("user_transfers")
    op.drop_table("user_roles")
    op.drop_table("role_scopes")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_index(op.f("ix_refresh_tokens_family_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_table("users")
    op.drop_table("user_reviews")
    op.drop_table("terminals")
    op.drop_table("signing_keys")
    op.drop_table("service_clients")
    op.drop_table("roles")
    op.drop_index(op.f("ix_revoked_tokens_exp"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    for table in ("audit_log", "inbox", "outbox"):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("DROP FUNCTION IF EXISTS audit_log_refuse_change()")


# Roles and the scopes they grant (`<service>:<resource>:<action>`, docs/service-conventions.md).
# Data, not code: a later migration changes a grant. ward_level: "city" roles are held with
# ward = null (city-wide), "ward" roles need a ward, "any" allows either.
ROLES: list[tuple[str, str, str, str, list[str]]] = [
    (
        "mch_staff",
        "母子保健担当職員（本庁 子育て支援課）",
        "city",
        "Maternal and child health staff of the city's child-rearing support division.",
        [
            "boshi:pregnancy:read",
            "boshi:pregnancy:write",
            "boshi:visit:read",
            "boshi:visit:write",
            "boshi:checkup:read",
            "boshi:checkup:write",
            "boshi:disclosure:export",
            "atena:person:read",
        ],
    ),
    (
        "ward_mch_staff",
        "区保健福祉課 母子保健担当職員",
        "ward",
        "Maternal and child health staff of one ward office; sees that ward's residents.",
        [
            "boshi:pregnancy:read",
            "boshi:pregnancy:write",
            "boshi:visit:read",
            "boshi:visit:write",
            "boshi:checkup:read",
            "boshi:checkup:write",
            "atena:person:read",
        ],
    ),
    (
        "center_staff",
        "こども家庭センター職員",
        "any",
        "Child and family center staff: its own case records only.",
        ["boshi:center:read", "boshi:center:write", "atena:person:read"],
    ),
    (
        "eapp_reviewer",
        "電子申請 審査担当職員",
        "any",
        "Reviews online pregnancy notifications of the procedure's department.",
        ["eapp:application:read", "eapp:application:review", "atena:person:read"],
    ),
    (
        "mynumber_officer",
        "個人番号利用事務担当職員",
        "any",
        "Staff doing My Number work: look up by My Number and see it unmasked.",
        ["atena:mynumber:lookup", "atena:mynumber:read", "atena:person:read"],
    ),
    (
        "registry_clerk",
        "住民記録担当職員",
        "any",
        "Address registry clerk: registers people and runs batch loads.",
        ["atena:person:read", "atena:person:write", "atena:batch:import", "atena:batch:export"],
    ),
    (
        "user_admin",
        "利用者管理者",
        "city",
        "Issues, changes, suspends, revokes and deletes staff user ids; exports the user list.",
        ["identity:user:admin"],
    ),
    (
        "auditor",
        "監査担当",
        "city",
        "Reads the audit and access logs and signs off user-list reviews.",
        ["identity:audit:read", "identity:review:sign", "atena:audit:read", "boshi:audit:read"],
    ),
    (
        "network_operator",
        "ネットワーク運用担当",
        "city",
        "Registers terminals and rotates token signing keys.",
        ["identity:terminal:admin", "identity:key:rotate"],
    ),
]


def _seed_roles() -> None:
    roles = sa.table(
        "roles",
        sa.column("name", sa.String),
        sa.column("title_ja", sa.String),
        sa.column("description", sa.Text),
        sa.column("ward_level", sa.String),
    )
    role_scopes = sa.table(
        "role_scopes", sa.column("role", sa.String), sa.column("scope", sa.String)
    )
    op.bulk_insert(
        roles,
        [
            {"name": n, "title_ja": t, "ward_level": lvl, "description": d}
            for n, t, lvl, d, _ in ROLES
        ],
    )
    op.bulk_insert(
        role_scopes, [{"role": n, "scope": s} for n, _, _, _, scopes in ROLES for s in scopes]
    )
