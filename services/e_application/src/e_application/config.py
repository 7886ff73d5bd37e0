"""Settings of the e-application service; environment prefix `EAPP_`."""

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from e_application.events import SERVICE, STREAM
from e_application.sealing import Sealer
from e_application.signing.trust import TrustStore
from mch_common.mynumber import MyNumberVault
from mch_common.settings import DEV_SECRET_MARKER, ServiceSettings

__all__ = ["SERVICE", "STREAM", "Settings"]

# Dev-only keys (32 bytes, base64); their ids carry the marker, refused outside dev and test.
_DEV_KEY = "ZGV2LW9ubHktZWFwcC1teW5vLWtleS0wMDAwMDAwMDA="  # b"dev-only-eapp-myno-key-000000000"
_DEV_INDEX_KEY = (
    "ZGV2LW9ubHktZWFwcC1ibGluZC1pbmRleC1rZXktMDA="  # b"dev-only-eapp-blind-index-key-00"
)
_DEV_PACKAGE_KEY = (
    "ZGV2LW9ubHktZWFwcC1wYWNrYWdlLWtleS0wMDAwMDA="  # b"dev-only-eapp-package-key-000000"
)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EAPP_", extra="ignore")

    service_name: str = SERVICE
    port: int = 8103
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/e_application"
    client_id: str = SERVICE
    atena_url: str = Field(default="http://127.0.0.1:8101", description="atena's REST base URL")
    atena_timeout_seconds: float = 5.0

    trusted_cas: str = Field(
        default="",
        description="the trusted certificate authorities (JPKI, the private CA): a JSON file's "
        'path, or the JSON: [{"name", "purpose": "signing"|"auth", "certificates": [PEM paths, '
        'issuing CA first], "crl": CRL path}]; empty in dev: the demo JPKI of `demo_dir`',
    )
    demo_dir: str = Field(
        default="../../.devstack/eapp",
        description="dev only: where `python -m e_application.seed` keeps the simulated JPKI "
        "and the demo applicants' cards (relative to the service folder, where make run "
        "starts it)",
    )
    max_signature_age_days: int = Field(
        default=7, description="a package signed longer ago than this is refused"
    )
    applicant_session_minutes: int = 15
    challenge_seconds: int = 120

    my_number_keys: str = Field(
        default=f"{DEV_SECRET_MARKER}-k1:{_DEV_KEY}",
        description="comma-separated `key_id:base64(32 bytes)`; old ids stay to decrypt",
    )
    my_number_current_key_id: str = f"{DEV_SECRET_MARKER}-k1"
    my_number_index_key: str = f"{DEV_SECRET_MARKER}:{_DEV_INDEX_KEY}"
    package_keys: str = Field(
        default=f"{DEV_SECRET_MARKER}-p1:{_DEV_PACKAGE_KEY}",
        description="keys sealing the signed packages (they hold the My Number): "
        "comma-separated `key_id:base64(32 bytes)`",
    )
    package_current_key_id: str = f"{DEV_SECRET_MARKER}-p1"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    notice_from: str = "kitakyushu-eapp@example.jp"
    notice_interval_seconds: float = Field(
        default=5.0,
        description="how often pending result notices are retried (a decision wakes the "
        "sender; 0: never sent here)",
    )

    @cached_property
    def vault(self) -> MyNumberVault:
        index_key_id, _, index_key = self.my_number_index_key.rpartition(":")
        return MyNumberVault.from_config(
            keys=self.my_number_keys,
            current_key_id=self.my_number_current_key_id,
            index_key=index_key,
            index_key_id=index_key_id,
        )

    @cached_property
    def sealer(self) -> Sealer:
        return Sealer.from_config(self.package_keys, current_key_id=self.package_current_key_id)

    @cached_property
    def trust(self) -> TrustStore:
        if self.trusted_cas:
            return TrustStore.from_config(self.trusted_cas)
        demo = Path(self.demo_dir) / "jpki" / "trust.json"
        if self.environment in {"dev", "test"} and demo.is_file():
            return TrustStore.from_config(str(demo))
        return TrustStore([])  # no CA trusted: every package is refused, saying so
