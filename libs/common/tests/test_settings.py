import pytest
from pydantic import ValidationError

from mch_common.settings import ServiceSettings


def test_dev_defaults_are_accepted_in_dev() -> None:
    assert ServiceSettings(environment="dev").client_secret.startswith("dev-only")


def test_dev_secrets_are_refused_outside_dev() -> None:
    with pytest.raises(ValidationError, match="client_secret still hold the dev-only default"):
        ServiceSettings(environment="production")


def test_real_secrets_pass_in_production() -> None:
    settings = ServiceSettings(environment="production", client_secret="s3cr3t-from-vault")
    assert settings.environment == "production"


def test_env_prefix_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCH_PORT", "9999")
    assert ServiceSettings().port == 9999
