from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mch_common.inputs import StrictModel

SCOPE_PATTERN = r"^[a-z][a-z_]*:[a-z][a-z_]*:[a-z][a-z_]*$"


class ClientIn(StrictModel):
    client_id: str = Field(min_length=2, max_length=50, pattern=r"^[a-z][a-z0-9_-]*$")
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1, max_length=50)


class ClientScopesIn(StrictModel):
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
