"""The hand-over from the parsing process: the file is read, validated and de-duplicated in a
process of its own (in a thread it would hold the GIL the loader's event loop needs), which
sends chunks of valid records ahead through a pipe.

The process is `python -m atena.bulk.handover`: it imports what parsing needs and nothing
else. A multiprocessing child would first import the caller's main module again (0.6 s for
atena.cli, 0.85 s for the benchmark), and the loader waited that long for its first chunk."""

import gc
import marshal
import os
import pickle
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import date
from itertools import islice
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from atena.bulk.parse import LineParser, Record, open_text, read_lines
from mch_common.lines import LineError

# The parsing process sends records as plain tuples in Record's field order, dates as ordinals,
# through marshal: a third of the cost of pickling the same rows (pickle memoizes every object
# and reduces every date). Errors go as (line, field, reason); a failure as a pickled exception.
_BIRTH_AT, _DEATH_AT, _EFFECTIVE_AT = (
    [f.name for f in fields(Record)].index(name)
    for name in ("birth_date", "death_date", "effective_date")
)
_MARSHALLED, _PICKLED = b"M", b"P"
# marshal's format 2 writes no back-references: format 4 keeps a table of every object it
# writes, which made dumping a chunk three times slower for a seventh fewer bytes.
_FORMAT = 2
# The first chunks are smaller, so that both connections have work a moment after the start
# instead of each waiting for a whole chunk to be parsed.
_FIRST_CHUNK = 1_000


def _wire(r: Record) -> tuple[Any, ...]:
    return (
        r.line,
        r.external_key,
        r.person_no,
        r.residence_status,
        r.family_name,
        r.given_name,
        r.family_name_kana,
        r.given_name_kana,
        r.name_key,
        r.kana_key,
        r.sex,
        r.birth_date.toordinal(),
        r.death_date.toordinal() if r.death_date else None,
        r.postal_code,
        r.prefecture,
        r.municipality_code,
        r.ward_code,
        r.town,
        r.block,
        r.building,
        r.household_key,
        r.relationship_to_head,
        r.phone,
        r.email,
        r.my_number,
        r.effective_date.toordinal(),
    )


def _record(row: tuple[Any, ...]) -> Record:
    # Built with the ordinals in place, then the three dates set: slicing the row around
    # them cost twice as much, a million times a load.
    record = Record(*row)
    record.birth_date = date.fromordinal(row[_BIRTH_AT])
    if row[_DEATH_AT] is not None:
        record.death_date = date.fromordinal(row[_DEATH_AT])
    record.effective_date = date.fromordinal(row[_EFFECTIVE_AT])
    return record


class UniqueRecords:
    """The valid lines of a file, each person once: a line repeating an earlier line's external
    key, person number or My Number is rejected (the first stands)."""

    def __init__(self, parser: LineParser) -> None:
        self.parser = parser
        self.lines = 0
        self.errors: list[LineError] = []
        self._keys: set[str] = set()
        self._person_nos: set[str] = set()
        self._numbers: set[int] = set()

    def __call__(self, lines: Iterable[tuple[int, list[str]]]) -> Iterator[Record]:
        for line, row in lines:
            self.lines += 1
            parsed = self.parser.parse(line, row)
            if isinstance(parsed, LineError):
                self.errors.append(parsed)
                continue
            if parsed.external_key in self._keys:
                self.errors.append(LineError(line, "external_key", "repeated in this file"))
                continue
            if parsed.person_no is not None and parsed.person_no in self._person_nos:
                self.errors.append(LineError(line, "person_no", "repeated in this file"))
                continue
            if parsed.my_number is not None and int(parsed.my_number) in self._numbers:
                self.errors.append(LineError(line, "my_number", "repeated in this file"))
                continue
            self._keys.add(parsed.external_key)
            if parsed.person_no is not None:
                self._person_nos.add(parsed.person_no)
            if parsed.my_number is not None:
                self._numbers.add(int(parsed.my_number))
            yield parsed

    def take(self) -> tuple[list[LineError], int]:
        """The errors and the count of lines read since the last call."""
        taken = self.errors, self.lines
        self.errors, self.lines = [], 0
        return taken


def read_valid_chunks(
    path: str, encoding: str, chunk_size: int, tenant: str, today: date, sender: Connection
) -> None:
    """The parsing process: sends (record tuples, line errors, lines read) per chunk, then None.
    A failure (a wrong header, bytes that are not the encoding) is sent, not raised."""

    def send(rows: list[tuple[Any, ...]], errors: list[LineError], lines: int) -> None:
        errors_sent = [(e.line, e.field, e.reason) for e in errors]
        sender.send_bytes(_MARSHALLED + marshal.dumps((rows, errors_sent, lines), _FORMAT))

    try:
        stream, _ = open_text(path, encoding)
        with stream:
            unique = UniqueRecords(LineParser(tenant=tenant, today=today))
            for chunk in _chunks(unique(read_lines(stream)), chunk_size):
                send([_wire(r) for r in chunk], *unique.take())
            send([], *unique.take())  # rejected lines after the last chunk
        sender.send_bytes(_MARSHALLED + marshal.dumps(None, _FORMAT))
    except Exception as exc:  # noqa: BLE001 - the loader raises it
        sender.send_bytes(_PICKLED + pickle.dumps(exc))
    finally:
        sender.close()


T = TypeVar("T")


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Chunks of `size`, the first ones smaller: 1,000, 2,000, 4,000 ... up to `size`."""
    iterator = iter(items)
    growing = min(size, _FIRST_CHUNK)
    while chunk := list(islice(iterator, growing)):
        yield chunk
        growing = min(size, growing * 2)


def start_parser(
    path: str, encoding: str, chunk_size: int, tenant: str, today: date
) -> tuple[subprocess.Popen[bytes], Connection]:
    """The parsing process, and the end of the pipe its chunks arrive at."""
    receiving, sending = os.pipe()
    arguments = (path, encoding, str(chunk_size), tenant, today.isoformat(), str(sending))
    try:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, our arguments
            [sys.executable, "-m", "atena.bulk.handover", *arguments],
            pass_fds=(sending,),
            stdin=subprocess.DEVNULL,
            # It imports from where this process does (a test's or a checkout's paths too).
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    except BaseException:
        os.close(receiving)
        raise
    finally:
        os.close(sending)
    return process, Connection(receiving, writable=False)


def _main(argv: list[str]) -> None:
    path, encoding, chunk_size, tenant, today, fd = argv
    # It lives for one file; what it makes is freed by reference counts (see the loader).
    gc.disable()
    read_valid_chunks(
        path,
        encoding,
        int(chunk_size),
        tenant,
        date.fromisoformat(today),
        Connection(int(fd), readable=False),
    )


if __name__ == "__main__":
    _main(sys.argv[1:])


def receive_chunk(receiver: Connection) -> tuple[list[Record], list[LineError], int] | None:
    """The parsing process's next chunk: (valid records, rejected lines, lines read), records
    empty when the chunk held only rejected lines; None at the end."""
    try:
        message = receiver.recv_bytes()
    except EOFError:
        raise RuntimeError("the parsing process ended without finishing the file") from None
    if message[:1] == _PICKLED:
        # The file's own error (header, encoding), as reading it would raise.
        raise pickle.loads(message[1:])  # noqa: S301 - our own parsing process's message, never outside input
    content = marshal.loads(message[1:])  # noqa: S302 - our own parsing process's message, never outside input
    if content is None:
        return None
    rows, errors, lines = content
    return [_record(row) for row in rows], [LineError(*error) for error in errors], lines
