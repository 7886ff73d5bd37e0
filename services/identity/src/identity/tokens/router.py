"""OAuth2 endpoints: token, revoke, logout, discovery, JWKS."""

import base64
import binascii
from typing import Annotated, Any

from fastapi import Form, Request, Response
from fastapi.responses import JSONResponse

from identity.deps import Context, Sessions, Verifier
from identity.errors import InvalidClient, UnsupportedGrantType
from identity.keys import service as keys
from identity.tokens.client_credentials import client_credentials_grant
from identity.tokens.login import StaffCredentials, password_grant
from identity.tokens.password_change import change_password as change_own_password
from identity.tokens.refresh import refresh_grant
from identity.tokens.revocation import logout as end_session
from identity.tokens.revocation import revoke as revoke_token
from identity.tokens.schemas import MeResponse, TokenResponse
from mch_common.auth.deps import CurrentPrincipal
from mch_common.errors import InvalidInput
from mch_common.inputs import PlainText
from mch_common.openapi import problem_responses
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(tags=["oauth2"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_TYPES = ("password", "refresh_token", "client_credentials")


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    if "\x00" in client_id + secret:  # PostgreSQL's text cannot hold it (see PlainText)
        raise InvalidClient("malformed Basic credentials")
    return client_id, secret


def _required(**fields: str | None) -> list[str]:
    """The fields' values in order; 422 naming every one that is missing or empty."""
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise InvalidInput(
            f"missing form field(s): {', '.join(missing)}",
            errors=[{"loc": ["body", m], "msg": "required", "type": "missing"} for m in missing],
        )
    return [value for value in fields.values() if value]


@router.post(
    "/oauth2/token",
    response_model=TokenResponse,
    response_model_exclude_none=True,
    responses=problem_responses(400, 401, 403),  # a bad grant, credentials, terminal or account
    summary="Issue tokens: password (+ totp, terminal_id), refresh_token, client_credentials",
)
async def token(
    request: Request,
    ctx: Context,
    sessions: Sessions,
    grant_type: Annotated[PlainText, Form()],
    username: Annotated[PlainText | None, Form(max_length=50)] = None,
    password: Annotated[PlainText | None, Form(max_length=200)] = None,
    totp: Annotated[PlainText | None, Form(max_length=10)] = None,
    terminal_id: Annotated[PlainText | None, Form(max_length=50)] = None,
    refresh_token: Annotated[PlainText | None, Form(max_length=200)] = None,
    client_id: Annotated[PlainText | None, Form(max_length=50)] = None,
    client_secret: Annotated[PlainText | None, Form(max_length=200)] = None,
    scope: Annotated[PlainText | None, Form(max_length=2000)] = None,
) -> JSONResponse:
    if grant_type == "password":
        credentials = StaffCredentials(
            *_required(username=username, password=password, totp=totp, terminal_id=terminal_id)
        )
        tokens = await password_grant(sessions, ctx, credentials=credentials, requested_scope=scope)
    elif grant_type == "refresh_token":
        (presented,) = _required(refresh_token=refresh_token)
        tokens = await refresh_grant(sessions, ctx, refresh_token=presented, requested_scope=scope)
    elif grant_type == "client_credentials":
        basic = _basic_credentials(request)
        if basic is not None:
            client_id, client_secret = basic
        if not client_id or not client_secret:
            raise InvalidClient("client_id and client_secret are required")
        tokens = await client_credentials_grant(
            sessions, ctx, client_id=client_id, client_secret=client_secret, requested_scope=scope
        )
    else:
        raise UnsupportedGrantType(f"grant_type must be one of {', '.join(GRANT_TYPES)}")
    body = TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        scope=tokens.scope,
        refresh_token=tokens.refresh_token,
    )
    return JSONResponse(body.model_dump(exclude_none=True), headers=NO_STORE)


@router.post(
    "/oauth2/password",
    status_code=204,
    responses=problem_responses(401, 403),  # checked as at login
    summary="Change one's own password (authenticated as at login; works when it has expired)",
)
async def change_password(
    ctx: Context,
    sessions: Sessions,
    username: Annotated[PlainText, Form(max_length=50)],
    password: Annotated[PlainText, Form(max_length=200)],
    totp: Annotated[PlainText, Form(max_length=10)],
    terminal_id: Annotated[PlainText, Form(max_length=50)],
    new_password: Annotated[PlainText, Form(max_length=200)],
) -> Response:
    credentials = StaffCredentials(username, password, totp, terminal_id)
    await change_own_password(sessions, ctx, credentials=credentials, new_password=new_password)
    return Response(status_code=204, headers=NO_STORE)


@router.post(
    "/oauth2/revoke",
    summary="RFC 7009 token revocation (refresh or access token)",
    response_class=Response,
    responses={200: {"description": "Revoked, or not a token of ours (RFC 7009): no body"}},
)
async def revoke(
    session: Session,
    ctx: Context,
    verifier: Verifier,
    token: Annotated[PlainText, Form(max_length=4000)],
    token_type_hint: Annotated[
        PlainText | None, Form()
    ] = None,  # RFC 7009; the store tells the type
) -> Response:
    await revoke_token(session, ctx, verifier, token=token)
    return Response(status_code=200, headers=NO_STORE)


@router.post(
    "/oauth2/logout",
    status_code=204,
    summary="End the caller's session: its access token and refresh-token family",
)
async def logout(
    session: Session,
    ctx: Context,
    principal: CurrentPrincipal,
    refresh_token: Annotated[PlainText | None, Form(max_length=200)] = None,
) -> Response:
    await end_session(session, ctx, principal=principal, refresh_token=refresh_token)
    return Response(status_code=204)


@router.get("/oauth2/me", summary="Who the bearer token says I am")
async def me(principal: CurrentPrincipal) -> MeResponse:
    login = principal.claims.get("preferred_username")
    return MeResponse(
        sub=principal.sub,
        login_id=login if isinstance(login, str) else None,
        tenant=principal.tenant,
        dept=principal.dept,
        ward=principal.ward,
        roles=list(principal.roles),
        scope=sorted(principal.scopes),
        terminal=principal.terminal,
        is_service=principal.is_service,
    )


@router.get("/.well-known/jwks.json", summary="The public keys that verify identity's tokens")
async def jwks(session: Session) -> JSONResponse:
    # Short cache: verifiers refetch on an unknown kid anyway; retired keys stay listed.
    return JSONResponse(await keys.jwks(session), headers={"Cache-Control": "max-age=60"})


@router.get("/.well-known/openid-configuration", summary="Discovery document")
async def openid_configuration(ctx: Context) -> dict[str, Any]:
    issuer = ctx.settings.jwt_issuer.rstrip("/")
    return {
        "issuer": ctx.settings.jwt_issuer,
        "token_endpoint": f"{issuer}/oauth2/token",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "userinfo_endpoint": f"{issuer}/oauth2/me",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "id_token_signing_alg_values_supported": [keys.ALGORITHM],
        "token_endpoint_auth_signing_alg_values_supported": [keys.ALGORITHM],
        "claims_supported": [
            "sub",
            "tenant",
            "dept",
            "ward",
            "roles",
            "scope",
            "terminal",
            "jti",
            "iat",
            "exp",
            "iss",
            "aud",
            "preferred_username",
            "client_id",
        ],
        "x_password_grant_extra_fields": ["totp", "terminal_id"],
    }
