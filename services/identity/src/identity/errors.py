"""Identity's login and token errors, rendered as problem+json by mch_common's handlers.

Enumeration policy: an unknown user id and a wrong password get the same answer
(`invalid-credentials`) after the same argon2 work. States of an account (suspended, revoked,
outside its validity period) are told only after the password is right. A locked account is
reported as locked whatever the password (that tells an attacker the id exists, but only after
they have failed against it `lockout_threshold` times; staff ids are not secret, and hiding the
lock would make it an oracle for the right password). Terminal ids are checked first: they say
nothing about users.
"""

from mch_common.errors import Conflict, DomainError, Forbidden, Unauthorized


class InvalidCredentials(Unauthorized):
    code, title = "invalid-credentials", "User id or password is incorrect"


class InvalidSecondFactor(Unauthorized):
    code, title = "invalid-second-factor", "The one-time code is wrong or already used"


class UnregisteredTerminal(Forbidden):
    code, title = "unregistered-terminal", "The terminal is not registered"


class AccountLocked(Forbidden):
    code, title = "account-locked", "The account is locked after repeated failures"


class AccountInactive(Forbidden):
    code, title = "account-inactive", "The account may not log in"


class PasswordExpired(Forbidden):
    code, title = "password-expired", "The password must be changed before logging in"


class InvalidClient(Unauthorized):
    code, title = "invalid-client", "Client authentication failed"


class InvalidGrant(DomainError):
    status, code, title = 400, "invalid-grant", "The grant is invalid, expired or revoked"


class RefreshTokenReused(DomainError):
    status, code, title = 400, "refresh-token-reused", "A used refresh token was presented again"


class UnsupportedGrantType(DomainError):
    status, code, title = 400, "unsupported-grant-type", "Unsupported grant type"


class InvalidScope(DomainError):
    status, code, title = 400, "invalid-scope", "A requested scope is not granted"


class AlreadyExists(Conflict):
    code, title = "already-exists", "Already exists"


class TerminalOfAnotherWard(Forbidden):
    code, title = "terminal-of-another-ward", "The terminal belongs to another ward office"
