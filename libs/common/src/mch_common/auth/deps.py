"""FastAPI dependencies and checks that turn a bearer token into an authorised Principal.

Routes declare what they need (`require_scope`); services call the data-dependent checks
(`ensure_ward_access`, `ensure_tenant`) once they know whose record is touched. All failures
are DomainErrors, rendered as problem+json by the app's handlers.
"""

from typing import Annotated, Any

from fastapi import Depends, Request

from mch_common.auth.principal import Principal
from mch_common.auth.verifier import TokenVerifier
from mch_common.errors import Forbidden, Unauthorized


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


def require_scope(*scopes: str) -> Any:
    """`principal: Annotated[Principal, require_scope("atena:person:read")]`: all listed
    scopes are required; the 403 names the first one missing."""
    if not scopes:
        raise ValueError("require_scope needs at least one scope")

    async def dependency(principal: CurrentPrincipal) -> Principal:
        for scope in scopes:
            if scope not in principal.scopes:
                raise Forbidden(f"missing scope {scope}")
        return principal

    dependency.__name__ = "require_scope_" + "_".join(scopes).replace(":", "_")
    return Depends(dependency)


def ensure_ward_access(principal: Principal, ward_code: str | None) -> None:
    """Ward staff see their own ward's residents only; city-wide principals (ward None) pass.
    A resident without a ward is outside every ward, so only city-wide principals see them."""
    if principal.ward is not None and principal.ward != ward_code:
        raise Forbidden("the record belongs to another ward")


def ensure_tenant(principal: Principal, tenant: str) -> None:
    """Tenants never see each other's data (also enforced by row-level security)."""
    if principal.tenant != tenant:
        raise Forbidden("the record belongs to another tenant")


def require_terminal(principal: Principal) -> None:
    """Staff may work only from a registered terminal; services have none."""
    if not principal.is_service and not principal.terminal:
        raise Forbidden("staff access requires a registered terminal")
