"""Batch rows: many events of one type written as one outbox row, expanded by the relay.

A bulk writer (a load of a million records) cannot afford an outbox row, a UUID and a stored
envelope per event: that was about a third of its database time. So `batch_row` keeps the
payloads as compressed JSON lines in one row, after the My Number guard has seen every one,
and `expand_batch` turns the row back into the CloudEvents the relay publishes. An event's id
is derived from the batch row's id and the event's place in it, so a re-expansion after a
crash gives the same ids and JetStream's duplicate window drops the re-publish.

The payloads are compressed by ISA-L (`isal`), which writes the zlib format six times as fast as
zlib itself at its fastest level (and smaller); zlib reads it back.

The row's envelope: `{"outbox_batch": {"count": n, "lines": base64(zlib(lines))}, "source",
"tenant", "time", "correlationid"}`; the first line is the JSON list of the events' subjects,
then one line per payload (compact JSON never holds a raw newline).
"""

import base64
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from uuid import UUID

from isal import isal_zlib
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mch_common.events.outbox import assert_no_my_number, written_in
from mch_common.ids import uuid7
from mch_common.logs import correlation_id
from mch_common.mynumber import may_hold_my_number

BATCH_KEY = "outbox_batch"

# The outbox INSERT of one row, for a caller on asyncpg (a bulk loader) and on a session.
INSERT_BATCH_ROW = (
    "INSERT INTO outbox (event_id, subject, envelope) VALUES ($1::uuid, $2, $3::jsonb)"
)
# Payloads guarded and compressed at a time (about 1.5 MB of a bulk load's JSON).
_SLICE = 1000
_INSERT = text(
    "INSERT INTO outbox (event_id, subject, envelope) "
    "VALUES (CAST(:event_id AS uuid), :subject, CAST(:envelope AS jsonb))"
)


@dataclass(frozen=True)
class BatchRow:
    """An outbox row standing for `count` events of type `subject`."""

    event_id: UUID
    subject: str
    envelope: str
    count: int

    def params(self) -> tuple[str, str, str]:
        """`INSERT_BATCH_ROW`'s parameters."""
        return str(self.event_id), self.subject, self.envelope


def batch_row(*, source: str, type: str, tenant: str, items: Iterable[tuple[str, str]]) -> BatchRow:
    """One batch row for the events `(subject, payload as compact one-line JSON text)`;
    refuses the whole batch if any payload holds a My Number. The payloads are taken as text
    so that a writer that has them as JSON does not parse them again."""
    subjects, payloads = _unzip(items)
    return batch_row_of(
        source=source,
        type=type,
        tenant=tenant,
        subjects=subjects,
        payloads=(payload.encode() for payload in payloads),
    )


def batch_row_of(
    *, source: str, type: str, tenant: str, subjects: Sequence[str], payloads: Iterable[bytes]
) -> BatchRow:
    """`batch_row` with the subjects apart and the payloads, as UTF-8 JSON lines, in the same
    order, one each. A bulk writer that has them from PostgreSQL as bytes never decodes and
    encodes them (two fifths of building a registration's batch). They are taken a slice at a
    time: a writer that makes them as it goes (a generator) never holds them all at once."""
    if not subjects:
        raise ValueError("a batch row stands for at least one event")
    # Guarded and compressed a slice at a time: the whole body joined, encoded and masked at
    # once was four more copies of a bulk load's chunk held together (peak memory).
    compressor = isal_zlib.compressobj(1)
    head = json.dumps(list(subjects), ensure_ascii=False).encode()
    _guard(head)
    parts = [compressor.compress(head)]
    count = 0
    remaining = iter(payloads)
    while part := list(islice(remaining, _SLICE)):
        count += len(part)
        # Each payload starts a line, so no digit run spans two slices.
        encoded = b"\n" + b"\n".join(part)
        if encoded.count(b"\n") != len(part):
            raise ValueError("a batch payload must be one line of JSON")
        _guard(encoded)
        parts.append(compressor.compress(encoded))
    if count != len(subjects):
        raise ValueError("a batch row needs one payload per subject")
    parts.append(compressor.flush())
    envelope = {
        BATCH_KEY: {
            "count": count,
            "lines": base64.b64encode(b"".join(parts)).decode(),
        },
        "source": source,
        "tenant": tenant,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "correlationid": correlation_id.get(),
    }
    return BatchRow(uuid7(), type, json.dumps(envelope, ensure_ascii=False), count)


def _guard(encoded: bytes) -> None:
    """The My Number guard over every line: only text with 12 digits in a row is scanned."""
    if may_hold_my_number(encoded):
        assert_no_my_number(encoded.decode())


def _unzip(items: Iterable[tuple[str, str]]) -> tuple[list[str], list[str]]:
    subjects: list[str] = []
    payloads: list[str] = []
    for subject, payload in items:
        subjects.append(subject)
        payloads.append(payload)
    return subjects, payloads


async def emit_events(
    session: AsyncSession,
    *,
    source: str,
    type: str,
    tenant: str,
    items: Iterable[tuple[str, BaseModel | Mapping[str, Any]]],
) -> BatchRow | None:
    """Write many events of one type as one batch row in the session's transaction (published
    only if it commits); None if there were no items."""
    encoded = [(subject, _payload_json(data)) for subject, data in items]
    if not encoded:
        return None
    row = batch_row(source=source, type=type, tenant=tenant, items=encoded)
    await session.execute(
        _INSERT, {"event_id": row.event_id, "subject": row.subject, "envelope": row.envelope}
    )
    written_in(session)
    return row


def _payload_json(data: BaseModel | Mapping[str, Any]) -> str:
    if isinstance(data, BaseModel):
        return data.model_dump_json()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def batch_event_id(batch_id: UUID, index: int) -> UUID:
    """A UUIDv7 with the batch row's timestamp, the rest from a hash of (batch id, index)."""
    digest = int.from_bytes(
        hashlib.blake2b(batch_id.bytes + index.to_bytes(4, "big"), digest_size=10).digest(),
        "big",
    )
    value = (batch_id.int >> 80) << 80  # the batch's 48-bit millisecond timestamp
    value |= 0x7 << 76
    value |= ((digest >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= digest & 0x3FFF_FFFF_FFFF_FFFF
    return UUID(int=value)


def expand_batch(
    event_id: UUID, subject: str, envelope: Mapping[str, Any]
) -> Iterator[tuple[UUID, str]]:
    """The events a batch row stands for, in order: (event id, CloudEvent JSON text), the
    same on every expansion. The envelope is written as `CloudEvent.model_dump_json` does."""
    batch = envelope[BATCH_KEY]
    subjects_line, body = zlib.decompress(base64.b64decode(batch["lines"])).decode().split("\n", 1)
    subjects = json.loads(subjects_line)
    dumps = json.dumps
    head = (
        f',"source":{dumps(envelope["source"], ensure_ascii=False)},"type":{dumps(subject)}'
        ',"subject":'
    )
    middle = f',"time":{dumps(envelope["time"])},"datacontenttype":"application/json","data":'
    tail = (
        f',"tenant":{dumps(envelope["tenant"])}'
        f',"correlationid":{dumps(envelope.get("correlationid"))}}}'
    )
    for index, (item_subject, data) in enumerate(zip(subjects, body.split("\n"), strict=True)):
        id_ = batch_event_id(event_id, index)
        subject_json = dumps(item_subject, ensure_ascii=False)
        yield id_, f'{{"specversion":"1.0","id":"{id_}"{head}{subject_json}{middle}{data}{tail}'


_OUTBOX_ROWS = text("SELECT event_id, subject, envelope FROM outbox ORDER BY position")


async def read_outbox(session: AsyncSession) -> list[dict[str, Any]]:
    """Every event in the outbox as the relay publishes it, in order, batch rows expanded: for
    tests and audits (it reads the whole table)."""
    events: list[dict[str, Any]] = []
    for row in await session.execute(_OUTBOX_ROWS):
        if BATCH_KEY in row.envelope:
            events += (
                json.loads(event)
                for _, event in expand_batch(row.event_id, row.subject, row.envelope)
            )
        else:
            events.append(row.envelope)
    return events
