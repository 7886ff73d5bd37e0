"""The unit of work: what one transaction writes besides its own rows, its events (outbox) and
its access records (audit log), queued and written together in ONE statement, with the new rows
a caller queued to go with them (`insert`).

A `UnitOfWork` is opened with the transaction, by the request's session dependency
(`mch_common.web.Session` / `Work`), by `mch_common.db.unit_of_work()` or by the event
consumer, and flushed by them just before commit; nothing is written behind the caller's back
and the order of `emit` and `record_access` does not matter. A read that must see the
transaction's own events or records calls `flush()` first; code that opens a savepoint uses
`savepoint()`, so that what it queued goes (or is dropped) with it.
"""

import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase

from mch_common.auth.principal import Principal
from mch_common.db import dialect_of, insert_parts, on_driver, on_driver_alone
from mch_common.errors import DomainError
from mch_common.events.envelope import envelope_json
from mch_common.events.outbox import assert_no_my_number, written_in
from mch_common.logs import correlation_id

_KEY = "mch.unit_of_work"

_OUTBOX_INSERT = (
    "INSERT INTO outbox (event_id, subject, envelope) SELECT * FROM unnest("
    "CAST($1 AS uuid[]), CAST($2 AS text[]), CAST($3 AS jsonb[]))"
)
# `persons` travels as one array literal per record (unnest would flatten a text[][]).
_AUDIT_INSERT = (
    "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id,"
    " purpose, outcome, detail, correlation_id, persons) SELECT r.occurred_at, r.actor,"
    " r.terminal, r.action, r.target_type, r.target_id, r.purpose, r.outcome, r.detail,"
    " r.correlation_id, CAST(r.persons AS text[]) FROM unnest("
    "CAST($1 AS timestamptz[]), CAST($2 AS text[]), CAST($3 AS text[]), CAST($4 AS text[]),"
    " CAST($5 AS text[]), CAST($6 AS text[]), CAST($7 AS text[]), CAST($8 AS text[]),"
    " CAST($9 AS jsonb[]), CAST($10 AS text[]), CAST($11 AS text[])) AS r(occurred_at, actor,"
    " terminal, action, target_type, target_id, purpose, outcome, detail, correlation_id,"
    " persons)"
)
# Sent on the transaction's asyncpg connection (mch_common.db.execute_on_driver), each
# prepared once per connection; a request that writes both (most writes) takes one round trip
# for them: the outbox's parameters first, then the records' (numbered from $4).
_WRITE_EVENTS = _OUTBOX_INSERT
_WRITE_RECORDS = _AUDIT_INSERT
_AUDIT_INSERT_AFTER_OUTBOX = (
    "INSERT INTO audit_log (occurred_at, actor, terminal, action, target_type, target_id,"
    " purpose, outcome, detail, correlation_id, persons) SELECT r.occurred_at, r.actor,"
    " r.terminal, r.action, r.target_type, r.target_id, r.purpose, r.outcome, r.detail,"
    " r.correlation_id, CAST(r.persons AS text[]) FROM unnest("
    "CAST($4 AS timestamptz[]), CAST($5 AS text[]), CAST($6 AS text[]), CAST($7 AS text[]),"
    " CAST($8 AS text[]), CAST($9 AS text[]), CAST($10 AS text[]), CAST($11 AS text[]),"
    " CAST($12 AS jsonb[]), CAST($13 AS text[]), CAST($14 AS text[])) AS r(occurred_at, actor,"
    " terminal, action, target_type, target_id, purpose, outcome, detail, correlation_id,"
    " persons)"
)
_WRITE_BOTH = f"WITH events AS ({_OUTBOX_INSERT}) {_AUDIT_INSERT_AFTER_OUTBOX}"


_PARAMETER = re.compile(r"\$(\d+)")
# The flush's statement per shape (which rows' INSERTs, events, records): the same text each
# time, so that asyncpg's per-connection cache prepares it once.
_STATEMENTS: dict[tuple[tuple[str, ...], bool, bool], str] = {}


def _statement(rows: tuple[str, ...], events: bool, records: bool) -> str:
    """One statement: the rows' INSERTs (their parameters numbered after the events' and the
    records') and the events' as data-modifying CTEs, the records' INSERT last."""
    statement = _STATEMENTS.get((rows, events, records))
    if statement is not None:
        return statement
    if not rows:
        statement = (
            _WRITE_BOTH if events and records else _WRITE_EVENTS if events else _WRITE_RECORDS
        )
    else:
        offset = (3 if events else 0) + (11 if records else 0)
        ctes = []
        for n, sql in enumerate(rows):
            ctes.append(f"row{n} AS ({_shifted(sql, offset)})")
            offset += len(set(_PARAMETER.findall(sql)))
        if events and records:
            ctes.append(f"events AS ({_OUTBOX_INSERT})")
            primary = _AUDIT_INSERT_AFTER_OUTBOX
        else:
            primary = _WRITE_EVENTS if events else _WRITE_RECORDS if records else "SELECT 1"
        statement = f"WITH {', '.join(ctes)} {primary}"
    if len(_STATEMENTS) < 1000:  # a few shapes per service; past that, composed per flush
        _STATEMENTS[(rows, events, records)] = statement
    return statement


def _shifted(sql: str, offset: int) -> str:
    """`sql` with its parameters `$n` numbered from `offset + 1`."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


def _array_literal(values: Iterable[str]) -> str:
    """PostgreSQL's text[] literal: each element quoted, its quotes and backslashes escaped."""
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


class NoUnitOfWorkError(RuntimeError):
    """The session was not opened as a unit of work, so nothing would write what is queued."""


class UnitOfWork:
    def __init__(
        self, session: AsyncSession, sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> None:
        self.session = session
        # The factory the session came from, for what must outlive its transaction (a refusal).
        self.sessions = sessions
        self._events: list[tuple[str, str, str]] = []
        self._records: list[tuple[Any, ...]] = []
        self._rows: list[tuple[str, list[Any]]] = []
        self._conflicts: dict[str, DomainError] = {}  # a queued row's unique key -> its answer
        # Everyone this transaction's access records named (an idempotent replay names them).
        self.persons_named: dict[str, None] = {}
        session.info[_KEY] = self

    @classmethod
    @asynccontextmanager
    async def on(
        cls, session: AsyncSession, sessions: async_sessionmaker[AsyncSession] | None = None
    ) -> AsyncIterator["UnitOfWork"]:
        """A unit of work in a transaction the caller manages (a test's session, a script's):
        what it queued is written when the block ends without an error. `sessions`, the
        factory the session came from, lets `mch_common.refusals` commit a refusal apart."""
        work = cls(session, sessions)
        yield work
        await work.flush()

    @staticmethod
    def of(session: AsyncSession) -> "UnitOfWork":
        """The unit of work the session was opened with."""
        work = session.info.get(_KEY)
        if not isinstance(work, UnitOfWork):
            raise NoUnitOfWorkError(
                "open the session with mch_common.db.unit_of_work or the Session dependency"
            )
        return work

    def emit(
        self,
        *,
        source: str,
        type: str,
        data: Mapping[str, Any] | BaseModel,
        tenant: str,
        subject: str | None = None,
    ) -> str:
        """Queue one event (a CloudEvent, mch_common.events.envelope); it is published only if
        the transaction commits. Services emit through their catalogue (`EventType.emit`),
        which comes here. Returns the event's id."""
        event_id, envelope = envelope_json(
            source=source,
            type=type,
            subject=subject,
            data=data,
            tenant=tenant,
            correlationid=correlation_id.get(),
        )
        # Serialised once: the same text is checked and stored.
        assert_no_my_number(envelope)
        self._events.append((event_id, type, envelope))
        return event_id

    def record_access(
        self,
        principal: Principal,
        *,
        action: str,
        target_type: str | None = None,
        target_id: str | None = None,
        purpose: str | None = None,
        outcome: str = "success",
        detail: dict[str, Any] | None = None,
        persons: Iterable[str] = (),
    ) -> None:
        """Queue the access record of a staff member's or service's operation on a person's
        data (mch_common.audit). `persons`: everyone it showed (a list's rows, a search's
        hits); a person target is one of them without being named again."""
        self.record(
            actor=principal.sub,
            terminal=principal.terminal,
            action=action,
            outcome=outcome,
            target_type=target_type,
            target_id=target_id,
            purpose=purpose,
            detail={
                "ward": principal.ward,
                "roles": list(principal.roles),
                # The department, for the disclosure's "who looked at your data".
                **({"dept": principal.dept} if principal.dept else {}),
                **(detail or {}),
            },
            persons=persons,
        )

    def record(
        self,
        *,
        actor: str,
        action: str,
        outcome: str = "success",
        terminal: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        purpose: str | None = None,
        detail: dict[str, Any] | None = None,
        persons: Iterable[str] = (),
    ) -> None:
        """Queue an audit record of an actor that is not a request's principal (a login, a
        scheduled job)."""
        if target_type == "person" and target_id is not None:
            persons = (target_id, *persons)
        named = dict.fromkeys(persons)
        self.persons_named |= named
        self._records.append(
            (
                datetime.now(UTC),
                actor,
                terminal,
                action,
                target_type,
                target_id,
                purpose,
                outcome,
                # pydantic_core's JSON: a seventh of json.dumps' time with ensure_ascii off
                # (which makes an encoder each call); the column is JSONB either way.
                to_json(detail or {}).decode(),
                correlation_id.get(),
                _array_literal(named),
            )
        )

    def insert(
        self, row: DeclarativeBase, *, conflicts: Mapping[str, DomainError] | None = None
    ) -> None:
        """Queue a new object's INSERT (as `mch_common.db.insert_new` sends it, its Python-side
        defaults set now) to go in the unit of work's one statement: one round trip fewer. Its
        error comes at the flush, not here: `conflicts` names the unique constraints a caller
        may race for and the answer each gives (raised by the flush in place of the
        IntegrityError). Reads see the row after `flush()`."""
        self._rows.append(insert_parts(row, dialect_of(self.session)))
        if conflicts:
            self._conflicts.update(conflicts)

    async def flush(self, *, last: bool = False) -> None:
        """Write everything queued, in one statement. `last`: the unit of work's own flush,
        with nothing after it but the commit; when the transaction wrote nothing before it, its
        statement is sent alone (`mch_common.db.on_driver_alone`): PostgreSQL commits a
        statement as a whole, so it is the transaction, without BEGIN and COMMIT."""
        events, records, rows = self._events, self._records, self._rows
        if not events and not records and not rows:
            return
        self._events, self._records, self._rows = [], [], []
        conflicts, self._conflicts = self._conflicts, {}
        args: list[Any] = []
        if events:
            args += [list(column) for column in zip(*events, strict=True)]
        if records:
            args += [list(column) for column in zip(*records, strict=True)]
        for _, row_args in rows:
            args += row_args
        statement = _statement(tuple(sql for sql, _ in rows), bool(events), bool(records))
        send = on_driver_alone if last else on_driver
        try:
            await send(self.session, statement, lambda driver: driver.execute(statement, *args))
        except IntegrityError as error:
            raise next(
                (answer for name, answer in conflicts.items() if name in str(error.orig)), error
            ) from None
        if events:
            written_in(self.session)  # the relay publishes them once this commits

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A savepoint whose queued events and records are written with it, or dropped with it."""
        await self.flush()  # what came before belongs to the enclosing transaction
        try:
            async with self.session.begin_nested():
                yield
                await self.flush()
        except BaseException:
            self._events, self._records, self._rows = [], [], []
            raise
