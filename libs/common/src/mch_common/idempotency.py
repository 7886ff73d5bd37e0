"""Safe retries: the `Idempotency-Key` request header on every scoped POST (IETF httpapi
draft "The Idempotency-Key HTTP Header Field").

A client whose answer was lost (a dropped connection) sends the same POST again with the same
key; the service answers what it answered the first time and changes nothing a second time.

- same key, same request (method, path, query, content type, body): the first answer replayed
  (status, body, `Content-Type`, `Location`, `Content-Disposition`), marked
  `Idempotency-Replayed: true`, with an access record of its own;
- same key, another request: 422; the same key while its first request still runs: 409;
- keys belong to the caller (the token's subject): two clients' keys never meet;
- the record is written in the SAME transaction as the change (the request's `Session`), so
  a crash keeps both or neither; an error answer changed nothing and is not kept (a retry
  runs again);
- an answer holding a secret shown once (`answer_holds_secret`) or a My Number is not kept:
  its record still stops a second change, and a retry is answered 409 saying so;
- records expire after `KEY_LIFETIME`; `delete_expired` (run by the service lifespan) removes
  them.

Three pieces cooperate. `IdempotencyMiddleware` (installed by `create_service_app`) reads the
body, fingerprints it and opens the request's transaction; `claim_key`, called by every scope
check once the token has passed (so a replay never skips a scope check), takes the key for the
subject, replays or refuses; the request's `Session` dependency (`mch_common.web.get_session`)
works in that transaction, and the middleware writes the record and commits before the answer
leaves. A POST without the header, or without a valid token, runs as before.
"""

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mch_common.auth.principal import Principal
from mch_common.db import Base
from mch_common.errors import Conflict, InvalidInput, internal_error_response, problem_response
from mch_common.jobs import PeriodicJob
from mch_common.mynumber import contains_my_number
from mch_common.work import UnitOfWork

HEADER = "idempotency-key"
REPLAYED_HEADER = "idempotency-replayed"
KEY_LIFETIME = timedelta(hours=24)
CLEANUP_INTERVAL = 3600.0  # seconds
MAX_KEY_LENGTH = 255
# Visible ASCII, as a client's UUID or random token is: nothing a header could mangle.
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
_KEY = re.compile(KEY_PATTERN)
# The answer's headers a replay repeats; the rest (dates, correlation id) are the replay's own.
KEPT_HEADERS = ("content-type", "location", "content-disposition")

_log = logging.getLogger("mch.idempotency")


class IdempotencyRecord(Base):
    """A caller's key and the answer it got; `body` is NULL when the answer is not kept."""

    __tablename__ = "idempotency_keys"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer)
    headers: Mapped[list[list[str]]] = mapped_column(JSONB)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Everyone the first answer showed: the replay's access record names them again.
    persons: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_idempotency_keys_expires_at", "expires_at"),)


# A hash of subject and key: a second request with them waits for nothing, it is told 409.
_TRY_LOCK = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:lock, 0))")
_FIND = text(
    "SELECT fingerprint, status, headers, body, persons, created_at FROM idempotency_keys"
    " WHERE subject = :subject AND key = :key AND expires_at > now()"
)
# An expired record of the same key (not yet cleaned up) is replaced.
_KEEP = text(
    "INSERT INTO idempotency_keys (subject, key, fingerprint, method, path, status, headers,"
    " body, persons, expires_at) VALUES (:subject, :key, :fingerprint, :method, :path, :status,"
    " :headers, :body, :persons, :expires_at) ON CONFLICT (subject, key) DO UPDATE SET"
    " fingerprint = EXCLUDED.fingerprint, method = EXCLUDED.method, path = EXCLUDED.path,"
    " status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,"
    " persons = EXCLUDED.persons, created_at = now(), expires_at = EXCLUDED.expires_at"
    " WHERE idempotency_keys.expires_at <= now()"
).bindparams(
    bindparam("headers", type_=JSONB),
    bindparam("body", type_=LargeBinary),
    bindparam("persons", type_=ARRAY(Text)),
)
_DELETE_EXPIRED = text("DELETE FROM idempotency_keys WHERE expires_at <= now()")


@dataclass
class IdempotentRequest:
    """One POST carrying a key, as the middleware, the scope check and the session share it."""

    key: str
    fingerprint: str
    method: str
    path: str
    sessions: async_sessionmaker[AsyncSession]
    principal: Principal | None = None  # set once a scope check has claimed the key
    answer_secret: bool = False
    session: AsyncSession | None = None
    work: UnitOfWork | None = None
    used_by_route: bool = False  # the route's Session is this transaction
    failed: bool = False
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def open(self) -> AsyncSession:
        """The request's transaction, begun on first use."""
        if self.session is None:
            session = self.sessions()
            await session.begin()
            self.session, self.work = session, UnitOfWork(session, self.sessions)
            self._closers.append(session.close)
        return self.session

    async def close(self) -> None:
        for closer in self._closers:
            await closer()
        self._closers.clear()


_current: ContextVar[IdempotentRequest | None] = ContextVar("mch_idempotent_request", default=None)


def current_request() -> IdempotentRequest | None:
    return _current.get()


def answer_holds_secret() -> None:
    """Called by a route whose answer holds a secret shown once (a password, a client secret):
    its answer is not kept, only the fact that it was given."""
    request = _current.get()
    if request is not None:
        request.answer_secret = True


class Replay(Exception):
    """Not an error: the stored answer, raised past the route to the middleware."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        super().__init__("idempotent replay")
        self.status, self.headers, self.body = status, headers, body


KEY_IN_USE = (
    "A request with this Idempotency-Key is still being processed; try again when it has finished."
)
KEY_REUSED = (
    "This Idempotency-Key was already used for another request (another path or body); use a "
    "new key for a new request."
)
ANSWER_NOT_KEPT = (
    "This request was done already with this Idempotency-Key (at {at}); its answer held a "
    "secret or a My Number, which is not kept, so it cannot be replayed: read the result "
    "instead."
)


async def claim_key(principal: Principal) -> None:
    """Run by every scope check once the token has passed it: the key becomes the subject's,
    or its stored answer is replayed (`Replay`), or the request is refused (409, 422)."""
    request = _current.get()
    if request is None or request.principal is not None:
        return
    request.principal = principal
    session = await request.open()
    lock = f"{principal.sub}\n{request.key}"
    if not await session.scalar(_TRY_LOCK, {"lock": lock}):
        raise Conflict(KEY_IN_USE)
    found = (await session.execute(_FIND, {"subject": principal.sub, "key": request.key})).first()
    if found is None:
        return
    fingerprint, status, headers, body, persons, created_at = found
    if fingerprint != request.fingerprint:
        raise InvalidInput(KEY_REUSED)
    if body is None:
        raise Conflict(ANSWER_NOT_KEPT.format(at=created_at.isoformat(timespec="seconds")))
    # A replay shows the first answer again: its own access record, committed by the
    # middleware in this transaction (one connection, however busy the pool).
    if request.work is not None:
        request.work.record_access(
            principal,
            action=f"{request.method} {request.path} (replayed)",
            target_type="idempotency_key",
            target_id=request.key,
            detail={"status": status},
            persons=persons,
        )
    raise Replay(
        status,
        [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        + [(REPLAYED_HEADER.encode(), b"true")],
        bytes(body),
    )


def fingerprint(*, method: str, path: str, query: bytes, content_type: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, content_type, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _problem(status: int, detail: str, path: str) -> Any:
    code = "invalid-input" if status == 422 else "conflict"
    title = "Invalid input" if status == 422 else "Conflict"
    return problem_response(status=status, code=code, title=title, detail=detail, instance=path)


class IdempotencyMiddleware:
    """Pure ASGI. A POST with an `Idempotency-Key`: the body read and fingerprinted, the
    transaction opened for the route (see the module's docstring), the answer held back until
    the record is committed with the change."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER.encode())
        sessions = getattr(scope["app"].state, "sessions", None) if "app" in scope else None
        if raw_key is None or sessions is None:
            await self.app(scope, receive, send)
            return
        key = raw_key.decode("latin-1").strip()
        if not _KEY.match(key) or contains_my_number(key):
            answer = _problem(
                422,
                "The Idempotency-Key must be 1 to 255 visible ASCII characters (a UUID is a good "
                "key), and never a My Number.",
                scope["path"],
            )
            await answer(scope, receive, send)
            return
        body = await _read_body(receive)
        request = IdempotentRequest(
            key=key,
            fingerprint=fingerprint(
                method=scope["method"],
                path=scope["path"],
                query=scope["query_string"],
                content_type=headers.get(b"content-type", b""),
                body=body,
            ),
            method=scope["method"],
            path=scope["path"],
            sessions=sessions,
        )
        token = _current.set(request)
        try:
            await self._run(request, scope, _replaying(body, receive), send)
        finally:
            _current.reset(token)
            await request.close()

    async def _run(
        self, request: IdempotentRequest, scope: Scope, receive: Receive, send: Send
    ) -> None:
        answer: list[Message] = []

        async def hold(message: Message) -> None:
            answer.append(message)

        try:
            await self.app(scope, receive, hold)
        except Replay as replay:
            if request.session is not None and request.work is not None:
                try:
                    await request.work.flush()
                    await request.session.commit()
                except Exception:  # noqa: BLE001 - the replay's record must commit: else 500
                    _log.exception("the access record of an idempotent replay did not commit")
                    failure = internal_error_response(
                        instance=scope["path"], correlation_id=_correlation_id()
                    )
                    await failure(scope, receive, send)
                    return
            await _send(send, replay.status, replay.headers, replay.body)
            return
        status = answer[0]["status"] if answer else 500
        if request.session is not None and not request.failed:
            try:
                if 200 <= status < 300 and request.principal is not None and request.used_by_route:
                    await _keep(request, answer)
                await request.session.commit()
            except Exception:  # noqa: BLE001 - a failed commit is the answer: 500, logged once
                _log.exception("the idempotency record or its change did not commit")
                answer = []
                failure = internal_error_response(
                    instance=scope["path"], correlation_id=_correlation_id()
                )
                await failure(scope, receive, send)
                return
        for message in answer:
            await send(message)


async def _keep(request: IdempotentRequest, answer: list[Message]) -> None:
    """Write the key's record in the request's transaction (which also holds its change)."""
    if request.session is None or request.principal is None or request.work is None:
        raise RuntimeError("no transaction to keep the idempotency record in")
    start = answer[0]
    body = b"".join(m.get("body", b"") for m in answer[1:] if m["type"] == "http.response.body")
    kept = [
        [name.decode("latin-1").lower(), value.decode("latin-1")]
        for name, value in start.get("headers", ())
        if name.decode("latin-1").lower() in KEPT_HEADERS
    ]
    secret = request.answer_secret or contains_my_number(body.decode("utf-8", "replace"))
    await request.session.execute(
        _KEEP,
        {
            "subject": request.principal.sub,
            "key": request.key,
            "fingerprint": request.fingerprint,
            "method": request.method,
            "path": request.path,
            "status": start["status"],
            "headers": kept,
            "body": None if secret else body,
            "persons": list(request.work.persons_named),
            "expires_at": datetime.now(UTC) + KEY_LIFETIME,
        },
    )


def _correlation_id() -> str:
    from mch_common.logs import correlation_id

    return correlation_id.get() or ""


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body read once, handed to the app as one message; then the client's own messages
    (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send(
    send: Send, status: int, headers: Iterable[tuple[bytes, bytes]], body: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def delete_expired(engine: AsyncEngine) -> int:
    """Remove expired records; the count removed."""
    async with engine.begin() as conn:
        result = await conn.execute(_DELETE_EXPIRED)
    return int(getattr(result, "rowcount", 0) or 0)


def expired_keys_cleanup(engine: AsyncEngine, *, every: float = CLEANUP_INTERVAL) -> PeriodicJob:
    """The service lifespan's job: expired records removed now and then (an expired key is
    already ignored; this only keeps the table small)."""

    async def clean() -> None:
        removed = await delete_expired(engine)
        if removed:
            _log.info("removed %d expired idempotency keys", removed)

    return PeriodicJob("mch_common.idempotency_cleanup", clean, every=every)
