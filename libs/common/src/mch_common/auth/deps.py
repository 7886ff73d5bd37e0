"""FastAPI dependencies and checks that turn a bearer token into an authorised Principal.

Routes declare what they need (`require_scope`), which also refuses a token of another tenant
and a staff token without a terminal; services call the data-dependent check
(`ensure_ward_access`) once they know whose record is touched. All failures are DomainErrors,
rendered as problem+json by the app's handlers.
"""

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from mch_common.auth.principal import Principal
from mch_common.auth.verifier import TokenVerifier
from mch_common.errors import Forbidden, Unauthorized
from mch_common.idempotency import claim_key
from mch_common.settings import ServiceSettings


async def get_principal(request: Request) -> Principal:
    """The verified caller; also kept on `request.state.principal` for logging and audit."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing bearer token")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("authorization header is not a bearer token")
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


@dataclass(frozen=True)
class ScopeCheck:
    """The dependency `require_scope` and `require_any_scope` build: `scopes` all needed, or
    one of them (`any_of`). mch_common.openapi reads it to write each operation's security
    requirement, so scopes are declared once, here."""

    scopes: tuple[str, ...]
    any_of: bool = False

    async def __call__(self, principal: CurrentPrincipal, request: Request) -> Principal:
        ensure_service_may_serve(principal, request.app.state.settings)
        if self.any_of:
            if principal.scopes.isdisjoint(self.scopes):
                raise Forbidden(f"missing scope {' or '.join(self.scopes)}")
        else:
            for scope in self.scopes:
                if scope not in principal.scopes:
                    raise Forbidden(f"missing scope {scope}")
        # Only now, with every check passed, may a retried POST's stored answer be replayed.
        await claim_key(principal)
        return principal


def require_scope(*scopes: str) -> Any:
    """`principal: Annotated[Principal, require_scope("atena:person:read")]`: all listed
    scopes are required; the 403 names the first one missing. The token must also pass
    `ensure_service_may_serve`."""
    if not scopes:
        raise ValueError("require_scope needs at least one scope")
    return Depends(ScopeCheck(scopes))


def require_any_scope(*scopes: str) -> Any:
    """Like `require_scope`, but one of the listed scopes is enough."""
    if not scopes:
        raise ValueError("require_any_scope needs at least one scope")
    return Depends(ScopeCheck(scopes, any_of=True))


def ensure_service_may_serve(principal: Principal, settings: ServiceSettings) -> None:
    """What every scoped route checks before the scopes: the token is of the service's tenant
    (`settings.tenant`, unless `settings.multi_tenant`) and, for staff, carries the terminal
    it was issued on. Every scoped route is about personal data (residents', or staff's own in
    identity), which the seed allows only from registered terminals."""
    if not settings.multi_tenant:
        ensure_tenant(principal, settings.tenant)
    require_terminal(principal)


def ensure_ward_access(principal: Principal, ward_code: str | None) -> None:
    """Ward staff see their own ward's residents only; city-wide principals (ward None) pass.
    A resident without a ward is outside every ward, so only city-wide principals see them."""
    if principal.ward is not None and principal.ward != ward_code:
        raise Forbidden("the record belongs to another ward")


def ensure_tenant(principal: Principal, tenant: str) -> None:
    """A city's services serve only its own staff and clients (`tenant`: its municipality
    code); a multi-tenant service walls tenants off in the database instead."""
    if principal.tenant != tenant:
        raise Forbidden("the token belongs to another tenant")


def require_terminal(principal: Principal) -> None:
    """Staff may work only from a registered terminal; services have none."""
    if not principal.is_service and not principal.terminal:
        raise Forbidden("staff access requires a registered terminal")
