"""The shared token checks (mch_testing.token_checks) on every scoped route of atena."""

from mch_testing.token_checks import TokenChecks

from .conftest import ALL_SCOPES


class TestTokenChecks(TokenChecks):
    scopes = ALL_SCOPES
    service_sub = "svc:boshi_core"
    service_probe = "/persons/1000000009"
