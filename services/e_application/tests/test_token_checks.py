"""The shared token checks (mch_testing.token_checks) on every scoped route of e_application;
the submission, procedure and applicant routes are public by design (the package's signature
or the applicant's session is their proof)."""

from e_application.deps import ALL_SCOPES, AUDIT_READ
from mch_testing.token_checks import TokenChecks

PUBLIC = frozenset(
    {
        "GET /procedures",
        "GET /procedures/in-force",
        "POST /applications",
        "POST /applicant/challenges",
        "POST /applicant/sessions",
        "GET /applicant/applications",
        "GET /applicant/applications/1000000009",
        "POST /applicant/applications/1000000009/corrections",
    }
)


class TestTokenChecks(TokenChecks):
    scopes = (*ALL_SCOPES, AUDIT_READ)
    service_sub = "svc:boshi_core"
    service_probe = "/applications/00000000-0000-7000-8000-000000000000"
    public_routes = PUBLIC
