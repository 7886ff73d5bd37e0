"""What the token and admin services need besides a session, built once in lifespan."""

from dataclasses import dataclass

from identity.config import Settings
from identity.crypto import SecretBox
from identity.keys.service import KeyRing


@dataclass(frozen=True)
class IdentityContext:
    settings: Settings
    box: SecretBox
    keyring: KeyRing
