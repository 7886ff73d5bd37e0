"""Settings of the intermediate server; environment prefix `IMS_`."""

import base64
from datetime import datetime
from functools import cached_property

from national_hub.config import HubKeys
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from intermediate_server.events import SERVICE, STREAM
from mch_common.settings import DEV_SECRET_MARKER, ServiceSettings

__all__ = ["SERVICE", "STREAM", "Settings"]

# Dev-only keys, 32 bytes each, base64; their labels carry the marker, so the settings base
# refuses them outside dev and test.
_DEV_CODE_KEY = "ZGV2LW9ubHktaW1zLWNvZGUta2V5LTAwMDAwMDAwMDA="
_DEV_CODE_INDEX_KEY = "ZGV2LW9ubHktaW1zLWNvZGUtaW5kZXgta2V5LTAwMDA="
_DEV_HUB_CODE_SECRET = "ZGV2LW9ubHktaHViLWNvZGUtc2VjcmV0LTAwMDAwMDA="  # noqa: S105 - dev-only, refused outside dev
_DEV_HUB_INDEX_SECRET = "ZGV2LW9ubHktaHViLW15bm8taW5kZXgtc2VjcmV0LTA="  # noqa: S105 - dev-only, refused outside dev
_DEV_HUB_SIGNING_SEED = "ZGV2LW9ubHktaHViLWVkMjU1MTktc2VlZC0wMDAwMDA="


def _label_and_key(value: str) -> tuple[str, bytes]:
    label, _, b64 = value.rpartition(":")
    key = base64.b64decode(b64)
    if len(key) != 32:
        raise ValueError("a key must be 32 bytes")
    return label, key


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IMS_", extra="ignore")

    service_name: str = SERVICE
    port: int = 8104
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/intermediate_server"
    client_id: str = SERVICE
    # Every municipality's staff and systems call this platform; PostgreSQL walls them off.
    multi_tenant: bool = True

    code_key: str = Field(
        default=f"{DEV_SECRET_MARKER}-c1:{_DEV_CODE_KEY}",
        description="`label:base64(32 bytes)` AES-256-GCM key of the stored 符号",
    )
    code_index_key: str = Field(
        default=f"{DEV_SECRET_MARKER}-i1:{_DEV_CODE_INDEX_KEY}",
        description="`label:base64(32 bytes)` HMAC key of the 符号 lookup index",
    )
    approval_hours: int = Field(
        default=72, ge=1, description="how long a 自動応答不可 item waits for staff"
    )
    record_retention_years: int = 7
    network_pool_size: int | None = Field(
        default=None,
        ge=1,
        description="connections of the hub's and the provider's pool (a burst may open as "
        "many again); "
        "default half of `db_pool_size`, rounded up (their transactions are short)",
    )

    # The simulated national hub's own keys (a real deployment has none: the network is
    # elsewhere).
    hub_signing_key: str = f"{DEV_SECRET_MARKER}-hub1:{_DEV_HUB_SIGNING_SEED}"
    hub_signing_key_expires_at: datetime | None = None
    hub_code_secret: str = f"{DEV_SECRET_MARKER}-hc1:{_DEV_HUB_CODE_SECRET}"
    hub_index_secret: str = f"{DEV_SECRET_MARKER}-hi1:{_DEV_HUB_INDEX_SECRET}"
    hub_permit_lifetime_seconds: int = Field(default=60, ge=1)

    @property
    def network_pool(self) -> int:
        return self.network_pool_size or (self.db_pool_size + 1) // 2

    @cached_property
    def code_keys(self) -> tuple[str, bytes, bytes]:
        """(key id, AES key, index key)."""
        key_id, key = _label_and_key(self.code_key)
        return key_id, key, _label_and_key(self.code_index_key)[1]

    @cached_property
    def hub_keys(self) -> HubKeys:
        return HubKeys.from_config(
            signing_key=self.hub_signing_key,
            signing_key_expires_at=self.hub_signing_key_expires_at,
            code_secret=self.hub_code_secret,
            index_secret=self.hub_index_secret,
            permit_lifetime_seconds=self.hub_permit_lifetime_seconds,
        )
