"""identity's audit chain: tampering detected against the anchor by the operators' verifier
(the endpoints are exercised in test_admin.py)."""

from identity.config import Settings
from identity.main import create_app
from mch_testing.audit import TamperingDatabase


async def test_truncation_and_rewrites_are_detected(
    tampering_database: TamperingDatabase,
) -> None:
    await tampering_database.check_detected(
        create_app, Settings(**tampering_database.settings, log_level="WARNING")
    )
