"""Settings of the immunization bridge; environment prefix `IMMUNIZATION_`."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from immunization_bridge.events import SERVICE, STREAM
from mch_common.settings import ServiceSettings

__all__ = ["SERVICE", "STREAM", "Settings"]


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IMMUNIZATION_", extra="ignore")

    service_name: str = SERVICE
    port: int = 8105
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/immunization_bridge"
    client_id: str = SERVICE
    max_upload_bytes: int = Field(
        default=64 * 1024 * 1024, description="largest batch file accepted over REST"
    )
