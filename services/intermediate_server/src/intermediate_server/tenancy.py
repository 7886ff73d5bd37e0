"""Tenants are municipalities. Every transaction about a tenant's data first sets
`app.tenant` (transaction-local) from the caller's tenant claim; the row-level security
policies of the tenant tables compare each row's `tenant` with it, so a statement, raw SQL
included, sees and writes only that municipality's rows. The runtime role cannot bypass them
(NOBYPASSRLS, not the owner; FORCE covers the owner too)."""

from datetime import datetime

from sqlalchemy import CHAR, DateTime, String, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from mch_common.db import Base
from mch_common.errors import Forbidden
from mch_common.lgcode import is_valid_lg_code

_SET_TENANT = text("SELECT set_config('app.tenant', :tenant, true)")
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


async def enter_tenant(session: AsyncSession, tenant: str) -> None:
    """Make the rest of the transaction `tenant`'s (again: a transaction that handed over to
    another tenant's and came back sets it anew)."""
    if not is_valid_lg_code(tenant):
        raise Forbidden("the token's tenant is not a municipality code")
    await session.execute(_SET_TENANT, {"tenant": tenant})


async def tenant_codes(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_TENANT_CODES)).all())
