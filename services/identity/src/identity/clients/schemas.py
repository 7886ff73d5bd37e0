from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

SCOPE_PATTERN = r"^[a-z][a-z_]*:[a-z][a-z_]*:[a-z][a-z_]*$"


class ClientIn(BaseModel):
    client_id: str = Field(min_length=2, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=50)


class ClientScopesIn(BaseModel):
    scopes: list[str] = Field(min_length=1, max_length=50)


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    scopes: list[str]
    active: bool
    created_at: datetime
    tokens_valid_after: datetime | None


class ClientSecretOut(BaseModel):
    """The secret is shown here once; identity keeps only its digest."""

    client: ClientOut
    client_secret: str
