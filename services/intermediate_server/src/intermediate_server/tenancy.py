"""Tenants are municipalities. Every transaction about a tenant's data first sets
`app.tenant` (transaction-local) from the caller's tenant claim; the row-level security
policies of the tenant tables compare each row's `tenant` with it, so a statement, raw SQL
included, sees and writes only that municipality's rows. The runtime role cannot bypass them
(NOBYPASSRLS, not the owner; FORCE covers the owner too)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import CHAR, DateTime, String, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.audit import WHOLE_LOG_SETTING
from mch_common.db import Base, begin_with, unit_of_work
from mch_common.errors import Forbidden
from mch_common.lgcode import is_valid_lg_code

_TENANT_CODES = select(text("code")).select_from(text("tenant"))


class Tenant(Base):
    """A municipality on the platform (the register itself is not tenant data)."""

    __tablename__ = "tenant"

    code: Mapped[str] = mapped_column(CHAR(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    joined_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def rls_ddl(table: str) -> list[str]:
    """The statements that wall `table` off by its `tenant` column (for migrations)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (tenant = current_setting('app.tenant', true)) "
        "WITH CHECK (tenant = current_setting('app.tenant', true))",
    ]


# The audit log is the platform's one chain (mch_common.audit), so its rows carry no tenant
# column: a record's municipality is the `tenant` its detail names, else the one in its first
# person key (`<tenant>:<person number>`, as every record about a person names her). Both are
# hashed, so the wall is as tamper-evident as the record. A record of neither (a refused
# request naming nobody, a platform job) is the platform's: only a whole-log reader sees it.
_AUDIT_TENANT_FUNCTION = """
CREATE FUNCTION audit_record_tenant(detail jsonb, persons text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(
        detail->>'tenant',
        CASE WHEN persons[1] LIKE '%:%' THEN split_part(persons[1], ':', 1) END
    )
$$
"""
_CALLER = "current_setting('app.tenant', true)"
_WHOLE_LOG = f"current_setting('{WHOLE_LOG_SETTING}', true) = 'on'"


def audit_rls_ddl() -> list[str]:
    """Row-level security on the audit log: a tenant's transaction reads only its own
    municipality's records and appends none of another's; a transaction without a tenant
    (a refusal committed apart, a job) appends; the sealer, the verifier, the retention job
    and the platform operator read, seal and retire the whole chain (`read_whole_log`)."""
    record_tenant = "audit_record_tenant(detail, persons)"
    return [
        _AUDIT_TENANT_FUNCTION,
        "ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE audit_log FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_read ON audit_log FOR SELECT "
        f"USING ({_WHOLE_LOG} OR {record_tenant} = {_CALLER})",
        f"CREATE POLICY tenant_append ON audit_log FOR INSERT "
        f"WITH CHECK (coalesce({_CALLER}, '') = '' OR {record_tenant} IS NULL "
        f"OR {record_tenant} = {_CALLER})",
        f"CREATE POLICY chain_seal ON audit_log FOR UPDATE USING ({_WHOLE_LOG})",
        f"CREATE POLICY chain_retire ON audit_log FOR DELETE USING ({_WHOLE_LOG})",
    ]


def _checked(tenant: str) -> str:
    if not is_valid_lg_code(tenant):
        raise Forbidden("the token's tenant is not a municipality code")
    return tenant


async def enter_tenant(session: AsyncSession, tenant: str) -> None:
    """Make the rest of the transaction `tenant`'s (again: a transaction that handed over to
    another tenant's and came back sets it anew). As every request's first statement, it goes
    with BEGIN in one round trip (mch_common.db.begin_with; the tenant a checked municipality
    code, six digits, so a literal)."""
    await begin_with(session, f"SELECT set_config('app.tenant', '{_checked(tenant)}', true)")


@asynccontextmanager
async def tenant_transaction(
    sessions: async_sessionmaker[AsyncSession], tenant: str
) -> AsyncIterator[AsyncSession]:
    """A transaction of `tenant` with its unit of work (`unit_of_work`, then `enter_tenant`):
    the provider's answer (and its record of a refusal), apart from the requester's transaction."""
    async with unit_of_work(sessions) as session:
        await enter_tenant(session, tenant)
        yield session


async def tenant_codes(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_TENANT_CODES)).all())
