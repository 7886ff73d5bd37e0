from pydantic import BaseModel


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - not a secret
    expires_in: int
    scope: str
    refresh_token: str | None = None


class MeResponse(BaseModel):
    sub: str
    login_id: str | None
    tenant: str
    dept: str | None
    ward: str | None
    roles: list[str]
    scope: list[str]
    terminal: str | None
    is_service: bool
