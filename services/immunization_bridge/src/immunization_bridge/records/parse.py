"""The register's vaccination batch file (予防接種履歴ファイル): decoding, the column layout,
and per-line validation. A line with an error is reported (line, field, reason) and skipped;
every valid line is kept. Reasons never quote a value: they are a person's data.

Layout (a header line, then one record a line; UTF-8 or cp932):

    record_id,action,person_no,vaccine,dose_no,given_on,lot,institution_code

`action`: A (追加, add), C (訂正, correct: the whole record again) or D (削除, delete: only
`record_id` is read). Digits may be full-width; `given_on` may be in a Japanese era.
"""

import csv
import enum
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date

from mch_common.dates import parse_batch_date
from mch_common.lines import LineError, detect_encoding, record_rejection
from mch_common.person_numbers import is_valid_person_no

HEADER = (
    "record_id",
    "action",
    "person_no",
    "vaccine",
    "dose_no",
    "given_on",
    "lot",
    "institution_code",
)


class Action(enum.StrEnum):
    ADD = "A"
    CORRECT = "C"
    DELETE = "D"


_ACTIONS = {
    "A": Action.ADD,
    "追加": Action.ADD,
    "C": Action.CORRECT,
    "訂正": Action.CORRECT,
    "D": Action.DELETE,
    "削除": Action.DELETE,
}
_RECORD_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_INSTITUTION = re.compile(r"^\d{10}$")  # 医療機関コード: prefecture 2, kind 1, serial 7
_LOT = re.compile(r"^[A-Za-z0-9_-]{1,20}$")


@dataclass(frozen=True)
class RecordLine:
    line: int
    record_id: str
    action: Action
    # None for a deletion, which names only the record.
    person_no: str | None = None
    vaccine: str | None = None
    dose_no: int | None = None
    given_on: date | None = None
    lot: str | None = None
    institution_code: str | None = None


@dataclass
class ParsedFile:
    encoding: str
    lines: int = 0
    records: list[RecordLine] = field(default_factory=list)
    rejected: int = 0
    errors: list[LineError] = field(default_factory=list)


class _Invalid(Exception):
    def __init__(self, field_name: str, reason: str) -> None:
        self.error = (field_name, reason)


def parse_file(data: bytes, *, vaccines: Mapping[str, int], today: date) -> ParsedFile:
    """Every line of the file, validated against the vaccines the schedule names (code ->
    highest dose number)."""
    encoding = detect_encoding(data[:65536])
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        parsed = ParsedFile(encoding=encoding)
        record_rejection(parsed, LineError(0, "file", f"not valid {encoding} text"))
        return parsed
    parsed = ParsedFile(encoding=encoding)
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None or tuple(_clean(h).lower() for h in header) != HEADER:
        record_rejection(parsed, LineError(1, "header", f"expected {','.join(HEADER)}"))
        return parsed
    for line_no, row in _numbered(rows):
        parsed.lines += 1
        try:
            parsed.records.append(_record(line_no, row, vaccines, today))
        except _Invalid as invalid:
            record_rejection(parsed, LineError(line_no, *invalid.error))
    return parsed


def _numbered(rows: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    for index, row in enumerate(rows, start=2):  # line 1 is the header
        if row and any(cell.strip() for cell in row):
            yield index, row


def _clean(value: str) -> str:
    # Full-width digits and letters (１２３, Ｒ) as the register's terminals may write them.
    return unicodedata.normalize("NFKC", value).strip()


def _record(line: int, row: list[str], vaccines: Mapping[str, int], today: date) -> RecordLine:
    if len(row) != len(HEADER):
        raise _Invalid("line", f"expected {len(HEADER)} columns")
    values = dict(zip(HEADER, (_clean(cell) for cell in row), strict=True))
    record_id = values["record_id"]
    if not _RECORD_ID.match(record_id):
        raise _Invalid("record_id", "1 to 40 letters, digits, '-' or '_'")
    action = _ACTIONS.get(values["action"].upper())
    if action is None:
        raise _Invalid("action", "A (add), C (correct) or D (delete)")
    if action is Action.DELETE:
        return RecordLine(line=line, record_id=record_id, action=action)
    person_no = values["person_no"]
    if not is_valid_person_no(person_no):
        raise _Invalid("person_no", "not a person number (10 digits with check digit)")
    vaccine = values["vaccine"].lower()
    highest = vaccines.get(vaccine)
    if highest is None:
        raise _Invalid("vaccine", "not a vaccine of the schedule")
    if not values["dose_no"].isdigit() or not 1 <= int(values["dose_no"]) <= highest:
        raise _Invalid("dose_no", f"a dose number of this vaccine (1 to {highest})")
    try:
        given_on = parse_batch_date(values["given_on"])
    except ValueError as exc:
        raise _Invalid("given_on", str(exc)) from None
    if given_on > today:
        raise _Invalid("given_on", "after today")
    lot = values["lot"] or None
    if lot is not None and not _LOT.match(lot):
        raise _Invalid("lot", "up to 20 letters, digits, '-' or '_'")
    institution = values["institution_code"] or None
    if institution is not None and not _INSTITUTION.match(institution):
        raise _Invalid("institution_code", "10 digits (医療機関コード)")
    return RecordLine(
        line=line,
        record_id=record_id,
        action=action,
        person_no=person_no,
        vaccine=vaccine,
        dose_no=int(values["dose_no"]),
        given_on=given_on,
        lot=lot,
        institution_code=institution,
    )
