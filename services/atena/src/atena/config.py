"""Settings of the address registry; environment prefix `ATENA_`."""

from functools import cached_property

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mch_common.mynumber import MyNumberVault
from mch_common.settings import DEV_SECRET_MARKER, ServiceSettings

# Dev-only vault keys: 32 bytes each, base64. Their key id carries the marker, so the settings
# base refuses them outside dev and test.
_DEV_KEY = "ZGV2LW9ubHktYXRlbmEtbXluby1rZXktMDAwMDAwMDA="  # b"dev-only-atena-myno-key-00000000"
# b"dev-only-atena-blind-index-key-0"
_DEV_INDEX_KEY = "ZGV2LW9ubHktYXRlbmEtYmxpbmQtaW5kZXgta2V5LTA="


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATENA_", extra="ignore")

    service_name: str = "atena"
    port: int = 8101
    client_id: str = "atena"
    intermediate_server_url: str | None = Field(
        default=None,
        description="the intermediate server's REST base URL; unset: no 符号 are obtained "
        "(`make run` and deploy/ set it)",
    )
    ims_timeout_seconds: float = 30.0
    network_code_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how often the job obtains the 符号 of My Numbers left without one (a "
        "registration wakes it at once)",
    )
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/atena"

    my_number_keys: str = Field(
        default=f"{DEV_SECRET_MARKER}-k1:{_DEV_KEY}",
        description="comma-separated `key_id:base64(32 bytes)`; old ids stay to decrypt",
    )
    my_number_current_key_id: str = f"{DEV_SECRET_MARKER}-k1"
    my_number_index_key: str = Field(
        default=f"{DEV_SECRET_MARKER}:{_DEV_INDEX_KEY}",
        description="`label:base64` HMAC key of the blind index; the label is its key id",
    )
    my_number_previous_index_key: str | None = Field(
        default=None,
        description="only while `rotate-my-numbers` re-keys the blind index: the replaced "
        "`label:base64` key (lookups match either); remove once the run has finished",
    )
    default_access_purpose: str = "maternal-child-health-affairs"

    @cached_property
    def vault(self) -> MyNumberVault:
        index_key_id, _, index_key = self.my_number_index_key.rpartition(":")
        previous_index_key = None
        if self.my_number_previous_index_key is not None:
            previous_id, _, previous_index_key = self.my_number_previous_index_key.rpartition(":")
            # Rows record their index key by label: two keys need two labels.
            if not index_key_id or previous_id == index_key_id:
                raise ValueError("a re-keying needs distinct labels on the two index keys")
        return MyNumberVault.from_config(
            keys=self.my_number_keys,
            current_key_id=self.my_number_current_key_id,
            index_key=index_key,
            index_key_id=index_key_id,
            previous_index_key=previous_index_key,
        )
