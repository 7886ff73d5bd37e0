"""What every service's command line does when a server it needs refuses (a wrong role or
password, a database that does not exist, PostgreSQL or NATS unreachable): one line on stderr
naming the command and the reason, and a non-zero exit, never a traceback.

    def main(argv=None) -> int:
        args = parser.parse_args(argv)
        with exit_on_refusal("python -m atena.cli export"):
            ...

The reason is the driver's own message only for connection and permission refusals, which name
servers, roles and databases; any other failure is named by its type alone, since a failed
statement's message can quote the values it was given. My Numbers are redacted as a last guard.
"""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import nats.errors
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mch_common.mynumber import redact_my_numbers

# The exit status of a command that could not reach or was refused by a server it needs.
EXIT_UNREACHABLE = 3

# What a server's refusal raises; anything else (a bug) keeps its traceback.
_DATABASE: tuple[type[BaseException], ...] = (
    DBAPIError,  # every driver error, as SQLAlchemy wraps it
    PoolTimeout,  # no connection from the pool in time
    asyncpg.PostgresError,  # raw asyncpg (atena's bulk load)
    asyncpg.InterfaceError,
)
REFUSALS: tuple[type[BaseException], ...] = (
    OSError,  # connection refused, host unknown, timeouts (TimeoutError is an OSError)
    *_DATABASE,
    nats.errors.Error,
)

# SQLSTATE classes whose message says who refused what and never quotes data: connection
# exceptions, invalid authorization, invalid catalog name, insufficient resources (too many
# connections), operator intervention (shutting down), and 42501 insufficient privilege.
_EXPLAINED_SQLSTATES = ("08", "28", "3D", "53", "57")


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (cause := _cause(exc)) is not None and id(cause) not in seen:
        seen.add(id(cause))
        exc = cause
    return exc


def _cause(exc: BaseException) -> BaseException | None:
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _explains_itself(exc: BaseException) -> bool:
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = str(getattr(exc, "sqlstate", "") or "")
        return sqlstate.startswith(_EXPLAINED_SQLSTATES) or sqlstate == "42501"
    return isinstance(exc, OSError | asyncpg.InterfaceError | nats.errors.Error)


def describe_refusal(exc: BaseException) -> str:
    """`<Type>: <message>` of the innermost cause, or only its type when its message could
    hold data (see the module's docstring)."""
    root = _root_cause(exc)
    name = type(root).__name__
    message = _first_line(root) if _explains_itself(root) else ""
    return redact_my_numbers(f"{name}: {message}" if message else name)


def refusal_line(prog: str, exc: BaseException) -> str:
    server = "the database" if isinstance(exc, _DATABASE) else None
    if isinstance(exc, nats.errors.Error):
        server = "NATS"
    where = f" ({server})" if server else ""
    return f"{prog}: stopped{where}: {describe_refusal(exc)}"


@contextmanager
def exit_on_refusal(prog: str, *, code: int = EXIT_UNREACHABLE) -> Iterator[None]:
    """Turns a refusal inside the block into one line on stderr and `SystemExit(code)`."""
    try:
        yield
    except REFUSALS as exc:
        sys.stderr.write(refusal_line(prog, exc) + "\n")
        sys.stderr.flush()
        raise SystemExit(code) from None
