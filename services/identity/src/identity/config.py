"""Identity's settings: env prefix `IDENTITY_`."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mch_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    service_name: str = "identity"
    port: int = 8100
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/identity"
    # Identity issues the tokens and asks for none: no client secret of its own (the base's
    # dev-only default would stop it starting outside dev).
    client_secret: str = ""

    # Signing keys and TOTP secrets are stored AES-256-GCM encrypted under a key derived
    # (HKDF-SHA256) from this secret; it lives outside the database (env or secret store).
    key_encryption_secret: str = "dev-only-identity-key-encryption-secret"  # noqa: S105 - not a secret

    access_token_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    service_token_ttl_seconds: int = Field(default=600, ge=30, le=3600)
    refresh_token_ttl_seconds: int = Field(default=9 * 3600, ge=60)
    # A new signing key is made when the active one is older than this; the old public key
    # stays in the JWKS until every token it signed has expired.
    signing_key_max_age_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    password_min_length: int = Field(default=12, ge=8)
    # Passwords are changed periodically (the assessment's measure): a login with a password
    # older than this many days is refused until its owner changes it. 0: no expiry.
    password_max_age_days: int = Field(default=90, ge=0)
    lockout_threshold: int = Field(default=5, ge=1)
    lockout_seconds: int = Field(default=15 * 60, ge=1)
    totp_issuer: str = "Kitakyushu MCH"
    maintenance_interval_seconds: float = Field(default=30.0, gt=0)
