"""The shared token checks (mch_testing.token_checks) on every scoped route of boshi_core."""

import pytest
from fastapi import FastAPI

from boshi_core.config import Settings
from boshi_core.main import create_app
from boshi_core.testsupport import ALL_SCOPES
from mch_testing.token_checks import TokenChecks


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The routes of the app `client` runs."""
    return create_app(settings, with_consumers=False)


class TestTokenChecks(TokenChecks):
    scopes = ALL_SCOPES
    service_sub = "svc:e_application"
    service_probe = "/people/1000000009"
