"""boshi_core settings; environment prefix BOSHI_."""

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from mch_common.settings import ServiceSettings

SERVICE = "boshi_core"
STREAM = "boshi"


class DisclosureSource(BaseModel):
    """A service's own disclosure endpoint (開示): `url` with `{person_no}`, called with a
    boshi_core service token holding `scope`."""

    url: str
    scope: str


# The platform's disclosure sources besides boshi_core itself (BOSHI_DISCLOSURE_SOURCES, JSON):
# `make run`'s ports; compose and deploy/ set their own.
DEFAULT_DISCLOSURE_SOURCES = {
    "atena": DisclosureSource(
        url="http://127.0.0.1:8101/persons/{person_no}/disclosure", scope="atena:disclosure:export"
    ),
    "immunization_bridge": DisclosureSource(
        url="http://127.0.0.1:8105/children/{person_no}/disclosure",
        scope="immunization:disclosure:export",
    ),
    "e_application": DisclosureSource(
        url="http://127.0.0.1:8103/persons/{person_no}/disclosure", scope="eapp:disclosure:export"
    ),
    "intermediate_server": DisclosureSource(
        url="http://127.0.0.1:8104/persons/{person_no}/disclosure", scope="ims:disclosure:export"
    ),
}


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOSHI_", extra="ignore")

    service_name: str = SERVICE
    port: int = 8102
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/boshi_core"
    client_id: str = "boshi_core"

    atena_url: str = Field(default="http://127.0.0.1:8101", description="atena's REST base URL")
    atena_timeout_seconds: float = 5.0
    disclosure_sources: dict[str, DisclosureSource] = Field(
        default_factory=lambda: dict(DEFAULT_DISCLOSURE_SOURCES),
        description="each service's disclosure endpoint, by service name (JSON)",
    )
    disclosure_timeout_seconds: float = 10.0
    immunization_url: str = Field(
        default="http://127.0.0.1:8105",
        description="the immunization bridge's REST base URL (a child's vaccination statuses)",
    )
    immunization_timeout_seconds: float = Field(
        default=3.0, description="past this the profile and disclosure show 'unavailable'"
    )
    intermediate_server_url: str | None = Field(
        default=None,
        description="the intermediate server's REST base URL; unset: families moving in are "
        "queued but not asked for (`make run` and deploy/ set it)",
    )
    ims_timeout_seconds: float = 10.0
    previous_city_fetch_seconds: float = Field(
        default=10.0,
        gt=0,
        description="how often queued move-in inquiries are sent again (the consumer wakes "
        "the job for a new one)",
    )
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
