"""TOTP (RFC 6238), standing in for the staff IC card (認証カード) as the second factor.

`python -m identity.totp <secret>` prints the current code (a dev convenience for the demo).
"""

import sys
import time

import pyotp

PERIOD = 30
# One step either side tolerates a terminal clock a little off.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, login_id: str, issuer: str) -> str:
    return pyotp.TOTP(secret, interval=PERIOD).provisioning_uri(name=login_id, issuer_name=issuer)


def matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step the code belongs to, or None. Callers refuse steps already used."""
    if not (len(code) == 6 and code.isascii() and code.isdigit()):
        return None
    now = time.time() if at is None else at
    totp = pyotp.TOTP(secret, interval=PERIOD)
    current = int(now // PERIOD)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if totp.at(step * PERIOD) == code:
            return step
    return None


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret, interval=PERIOD).now()


def code_of_step(secret: str, step: int) -> str:
    """The code an authenticator shows during time step `step` (seconds // PERIOD)."""
    return pyotp.TOTP(secret, interval=PERIOD).at(step * PERIOD)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m identity.totp <base32 secret>\n")
        return 2
    sys.stdout.write(current_code(argv[0]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
