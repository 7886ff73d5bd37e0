"""What the token and admin services need besides a session, built once in lifespan."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from identity.config import Settings
from identity.crypto import SecretBox
from identity.keys.service import KeyRing


@dataclass(frozen=True)
class IdentityContext:
    settings: Settings
    box: SecretBox
    keyring: KeyRing

    def today(self) -> date:
        """The calendar date in the city (transfers take effect on a local date)."""
        return datetime.now(ZoneInfo(self.settings.local_timezone)).date()
