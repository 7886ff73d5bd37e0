"""boshi_core settings; environment prefix BOSHI_."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mch_common.settings import ServiceSettings

SERVICE = "boshi_core"
STREAM = "boshi"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOSHI_", extra="ignore")

    service_name: str = SERVICE
    port: int = 8102
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/boshi_core"
    client_id: str = "boshi_core"

    atena_url: str = Field(default="http://127.0.0.1:8101", description="atena's REST base URL")
    atena_timeout_seconds: float = 5.0
    e_application_url: str = Field(
        default="http://127.0.0.1:8103",
        description="e_application's REST base URL: the accepted online notifications are "
        "pulled from its hand-over export (python -m boshi_core.cli pull-online)",
    )
    e_application_timeout_seconds: float = 10.0
    pdf_font_path: str | None = Field(
        default=None,
        description="TrueType font with Japanese glyphs for the disclosure PDF; default: the "
        "IPAexGothic font shipped in mch_common (mch_common.fonts)",
    )
    premature_visit_due_days: int = Field(
        default=14, description="days after a low birth weight notification to visit by"
    )
