"""Settings base: one env prefix per service; refuses default secrets outside dev."""

from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mch_common.events.envelope import event_source

# Secrets that ship in the repo for the demo stack. Outside dev they must be replaced.
DEV_SECRET_MARKER = "dev-only"  # noqa: S105 - not a secret


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses this and sets `env_prefix` (e.g. `ATENA_`).

    Shared infrastructure can also come from unprefixed `DATABASE_URL`-style variables set by
    the dev stack; the prefixed variable wins.
    """

    model_config = SettingsConfigDict(env_prefix="MCH_", extra="ignore")

    service_name: str = "mch"
    environment: str = Field(default="dev", description="dev, test, staging or production")
    tenant: str = Field(default="401005", description="municipality code with check digit")
    # A platform serving many municipalities (the intermediate server) accepts every tenant's
    # token and separates them in the database; a city's own services refuse other tenants.
    multi_tenant: bool = False
    host: str = "127.0.0.1"
    port: int = 8000

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/mch"
    # Per process; a burst may open as many again (mch_common.db.create_engine keeps them).
    # Sized for ~32 requests in flight per worker.
    db_pool_size: int = 20
    # Ping a pooled connection idle for longer than this many seconds before reuse (0: on every
    # checkout, three round trips each); survives a PostgreSQL restart cleanly.
    db_pool_pre_ping: bool = True
    db_pool_ping_after_idle: float = Field(default=1.0, ge=0)
    nats_url: str = "nats://127.0.0.1:4222"
    # The service's own NATS user (mch_common.nats_access; `make run` and deploy/ configure one
    # per service); empty for a server without authorization.
    nats_user: str = ""
    nats_password: str = ""
    # Copies of each stream the service creates (its own, the audit anchors, dead letters): 3
    # on a three-node JetStream cluster (deploy/k8s), 1 on a single server.
    stream_replicas: int = Field(default=1, ge=1, le=5)
    # Prefix for every stream, subject and durable name: isolates test runs sharing one server.
    event_namespace: str = ""
    # Published events are deleted from the outbox after this many hours (JetStream keeps what
    # was published; the outbox's copy is for an operator's look at recent events).
    outbox_keep_hours: float = Field(default=24.0, gt=0)

    jwt_issuer: str = "http://127.0.0.1:8100"
    jwt_audience: str = "mch"
    jwks_url: str = "http://127.0.0.1:8100/.well-known/jwks.json"
    token_url: str = "http://127.0.0.1:8100/oauth2/token"  # noqa: S105 - not a secret
    client_id: str = ""
    client_secret: str = f"{DEV_SECRET_MARKER}-client-secret"

    log_level: str = "INFO"

    @property
    def event_source(self) -> str:
        """The CloudEvents `source` of this service's events (one convention, see there)."""
        return event_source(self.service_name, self.tenant)

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_dev(self) -> "ServiceSettings":
        if self.environment in {"dev", "test"}:
            return self
        offending = [
            name for name, value in self.model_dump().items() if _contains_dev_secret(value)
        ]
        if offending:
            raise ValueError(
                f"settings {', '.join(sorted(offending))} still hold the dev-only default; "
                f"set real secrets for environment {self.environment!r}"
            )
        return self


def _contains_dev_secret(value: Any) -> bool:
    if isinstance(value, str):
        return DEV_SECRET_MARKER in value
    if isinstance(value, dict):
        return any(_contains_dev_secret(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_contains_dev_secret(v) for v in value)
    return False
