"""`python -m identity.dev_token <user id>` (`make token USER=...`): a bearer token for a demo
user of the dev stack, printed alone on stdout, without a password or one-time code.

For scripts and manual calls against `make run`, which would otherwise wait for the next
30-second TOTP step before each login (a code works once per step). Dev only: it refuses
unless identity's ENVIRONMENT is `dev` (not even `test`), it needs identity's database (so the
stack's owner), and each token it issues is in identity's audit log as `identity.dev_token`.
The token is the one a login would give (the user's roles and scopes, on the demo terminal of
the user's ward), so it is revoked, expires and is checked like any other.
"""

import asyncio
import sys
import uuid
from datetime import UTC, datetime, timedelta

from identity.config import Settings
from identity.context import IdentityContext
from identity.crypto import SecretBox
from identity.errors import AccountInactive
from identity.keys.service import KeyRing
from identity.seed import demo_terminal
from identity.terminals.models import Terminal
from identity.tokens.issuing import TokenSet, issue_staff_tokens
from identity.tokens.login import inactive_reason
from identity.users import repository as users
from mch_common.cli import exit_on_refusal
from mch_common.dates import today_tokyo
from mch_common.db import create_engine, session_factory, unit_of_work
from mch_common.errors import InvalidInput, NotFound
from mch_common.work import UnitOfWork

DEV = "dev"


class NotDevError(RuntimeError):
    """The environment is not dev: no token without a login."""


async def issue_dev_token(
    settings: Settings, *, login_id: str, terminal_id: str | None = None
) -> TokenSet:
    if settings.environment != DEV:
        raise NotDevError(
            f"identity.dev_token works only when ENVIRONMENT is dev (here: "
            f"{settings.environment}); log in with password and one-time code instead"
        )
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        sessions = session_factory(engine)
        box = SecretBox(settings.key_encryption_secret)
        ctx = IdentityContext(settings=settings, box=box, keyring=KeyRing(box))
        await ctx.keyring.reload(sessions)
        async with unit_of_work(sessions) as session:
            user = await users.get_user_by_login(session, login_id)
            if user is None:
                raise NotFound(f"no user {login_id!r} (the demo users are listed by make run)")
            inactive = inactive_reason(user, today_tokyo())
            if inactive is not None:
                raise AccountInactive(inactive)
            terminal_id = terminal_id or demo_terminal(user.ward)
            terminal = await session.get(Terminal, terminal_id)
            if terminal is None or not terminal.active:
                raise InvalidInput(f"terminal {terminal_id} is not registered or not active")
            tokens = await issue_staff_tokens(
                session,
                ctx,
                user=user,
                terminal_id=terminal_id,
                requested_scope=None,
                family_id=uuid.uuid4(),
                refresh_expires_at=datetime.now(UTC)
                + timedelta(seconds=settings.refresh_token_ttl_seconds),
            )
            UnitOfWork.of(session).record(
                actor=str(user.id),
                terminal=terminal_id,
                action="identity.dev_token",
                target_type="staff_user",
                target_id=str(user.id),
                detail={"login_id": user.login_id, "scope": tokens.scope, "environment": DEV},
            )
        return tokens
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].strip():
        sys.stderr.write("usage: python -m identity.dev_token <user id>   (make token USER=...)\n")
        return 2
    try:
        with exit_on_refusal("python -m identity.dev_token"):
            tokens = asyncio.run(issue_dev_token(Settings(), login_id=argv[0].strip()))
    except NotDevError as error:
        sys.stderr.write(f"{error}\n")
        return 2
    except (NotFound, InvalidInput, AccountInactive) as error:
        sys.stderr.write(f"{error.detail}\n")
        return 1
    sys.stdout.write(tokens.access_token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
