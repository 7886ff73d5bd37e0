"""The resident-registry extract (住民記録システムからの抽出) CSV: header, decoding, and
per-line validation. A line with any error is reported (line, field, reason) and skipped;
every valid line is kept. Reasons never quote a value: the line may hold a My Number."""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO

from mch_common.lgcode import KITAKYUSHU, KITAKYUSHU_WARDS, is_valid_lg_code
from mch_common.lines import LineError, detect_encoding
from mch_common.mynumber import contains_my_number, is_valid_my_number, normalize_my_number
from mch_common.names import name_key
from mch_common.person_numbers import is_valid_person_no

HEADER = (
    "external_key",
    "person_no",
    "residence_status",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "death_date",
    "postal_code",
    "prefecture",
    "municipality_code",
    "ward_code",
    "town",
    "block",
    "building",
    "household_key",
    "relationship_to_head",
    "phone",
    "email",
    "my_number",
    "effective_date",
)
REQUIRED = (
    "external_key",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
)
STATUSES = {"resident", "non_resident", "moved_out", "deceased"}
SEXES = {
    "male": "male",
    "female": "female",
    "1": "male",
    "2": "female",
    "男": "male",
    "女": "female",
}
RELATIONSHIPS = {
    "head": "head",
    "世帯主": "head",
    "本人": "head",
    "spouse": "spouse",
    "妻": "spouse",
    "夫": "spouse",
    "child": "child",
    "子": "child",
    "長男": "child",
    "長女": "child",
    "二男": "child",
    "二女": "child",
    "次男": "child",
    "次女": "child",
    "parent": "parent",
    "父": "parent",
    "母": "parent",
    "grandchild": "grandchild",
    "孫": "grandchild",
    "grandparent": "grandparent",
    "祖父": "grandparent",
    "祖母": "grandparent",
    "sibling": "sibling",
    "兄": "sibling",
    "姉": "sibling",
    "弟": "sibling",
    "妹": "sibling",
    "other": "other",
    "同居人": "other",
    "その他": "other",
}
MAX_LENGTHS = {
    "external_key": 64,
    "family_name": 100,
    "given_name": 100,
    "family_name_kana": 200,
    "given_name_kana": 200,
    "prefecture": 20,
    "town": 200,
    "block": 100,
    "building": 200,
    "household_key": 64,
    "phone": 30,
    "email": 254,
}
FREE_TEXT = tuple(f for f in HEADER if f not in ("my_number",))
# The same rules by column position, for the per-line checks (a million lines a load).
_AT = {name: at for at, name in enumerate(HEADER)}
_REQUIRED_AT = tuple((_AT[name], name) for name in REQUIRED)
_LIMITS_AT = tuple((_AT[name], name, limit) for name, limit in MAX_LENGTHS.items())
_FREE_TEXT_AT = tuple((_AT[name], name) for name in FREE_TEXT)
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
_PHONE = re.compile(r"^[0-9+()\- ]{1,30}$")
_EARLIEST = date(1880, 1, 1)


@dataclass
class Record:
    """One valid line, ready for the database (numbers resolved later, per chunk)."""

    line: int
    external_key: str
    person_no: str | None
    residence_status: str
    family_name: str
    given_name: str
    family_name_kana: str
    given_name_kana: str
    name_key: str
    kana_key: str
    sex: str
    birth_date: date
    death_date: date | None
    postal_code: str | None
    prefecture: str | None
    municipality_code: str | None
    ward_code: str | None
    town: str | None
    block: str | None
    building: str | None
    household_key: str | None
    relationship_to_head: str | None
    phone: str | None
    email: str | None
    my_number: str | None
    effective_date: date
    is_new: bool = False


def open_text(path: str, encoding: str | None = None) -> tuple[IO[str], str]:
    raw = open(path, "rb", buffering=1 << 20)  # returned wrapped; the caller closes it
    if encoding is None:
        encoding = detect_encoding(raw.read(65536))
        raw.seek(0)
    return io.TextIOWrapper(raw, encoding=encoding, newline=""), encoding


def _date(value: str) -> date:
    # The usual spellings in ASCII digits go to date.fromisoformat (C, and it reads only what
    # _DATE would); anything else, and a date it refuses, takes the regex, which says why.
    if value.isascii() and (
        (len(value) == 10 and value[4] == value[7] == "-") or (len(value) == 8 and value.isdigit())
    ):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    m = _DATE.match(value)
    if not m:
        raise ValueError("not a date (YYYY-MM-DD or YYYYMMDD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError("no such date") from None


def _opt(value: str) -> str | None:
    value = value.strip()
    return value or None


class LineParser:
    def __init__(self, *, tenant: str, today: date) -> None:
        self.tenant = tenant
        self.today = today
        self.wards = KITAKYUSHU_WARDS if tenant == KITAKYUSHU else None
        self._lg_ok: dict[str, bool] = {}

    def _lg(self, code: str) -> bool:
        ok = self._lg_ok.get(code)
        if ok is None:
            ok = self._lg_ok[code] = is_valid_lg_code(code)
        return ok

    def parse(self, line: int, row: list[str]) -> Record | LineError:
        if len(row) != len(HEADER):
            return LineError(line, "*", f"expected {len(HEADER)} columns, found {len(row)}")
        for at, name in _REQUIRED_AT:
            if not row[at].strip():
                return LineError(line, name, "required")
        for at, name, limit in _LIMITS_AT:
            if len(row[at]) > limit:
                return LineError(line, name, f"longer than {limit} characters")
        for at, name in _FREE_TEXT_AT:
            if len(row[at]) >= 12 and contains_my_number(row[at]):
                return LineError(line, name, "holds what looks like a My Number")
        (
            external_key,
            person_no_text,
            status,
            family,
            given,
            fkana,
            gkana,
            sex_text,
            birth_text,
            death_text,
            postal_text,
            prefecture,
            municipality_text,
            ward_text,
            town,
            block,
            building,
            household,
            relationship_text,
            phone_text,
            email_text,
            my_number_text,
            effective_text,
        ) = row
        person_no = _opt(person_no_text)
        if person_no is not None and not is_valid_person_no(person_no):
            return LineError(line, "person_no", "not a person number (10 digits, check digit)")
        status = status.strip() or "resident"
        if status not in STATUSES:
            return LineError(line, "residence_status", "unknown residence status")
        sex = SEXES.get(sex_text.strip())
        if sex is None:
            return LineError(line, "sex", "unknown sex (male, female, 1, 2)")
        try:
            birth = _date(birth_text.strip())
        except ValueError as exc:
            return LineError(line, "birth_date", str(exc))
        if birth > self.today or birth < _EARLIEST:
            return LineError(line, "birth_date", "outside the plausible range")
        death = None
        death_text = death_text.strip()
        if death_text:
            try:
                death = _date(death_text)
            except ValueError as exc:
                return LineError(line, "death_date", str(exc))
            if death < birth or death > self.today:
                return LineError(line, "death_date", "before birth or in the future")
        if (status == "deceased") != (death is not None):
            return LineError(line, "death_date", "required exactly when deceased")
        effective = self.today
        effective_text = effective_text.strip()
        if effective_text:
            try:
                effective = _date(effective_text)
            except ValueError as exc:
                return LineError(line, "effective_date", str(exc))
            if effective < birth:
                return LineError(line, "effective_date", "before the birth date")
        postal = _opt(postal_text.replace("-", ""))
        if postal is not None and (len(postal) != 7 or not postal.isdigit()):
            return LineError(line, "postal_code", "not 7 digits")
        municipality = _opt(municipality_text)
        ward = _opt(ward_text)
        if municipality is not None and not self._lg(municipality):
            return LineError(line, "municipality_code", "not a local government code")
        if status == "resident":
            if municipality != self.tenant:
                return LineError(line, "municipality_code", "a resident's address is in the city")
            if self.wards is not None and ward is None:
                return LineError(line, "ward_code", "a resident's address needs its ward code")
        if ward is not None:
            if not self._lg(ward):
                return LineError(line, "ward_code", "not a ward code (check digit)")
            if municipality == self.tenant and self.wards is not None and ward not in self.wards:
                return LineError(line, "ward_code", "unknown ward code for this city")
        relationship = None
        relationship_text = relationship_text.strip()
        if relationship_text:
            relationship = RELATIONSHIPS.get(relationship_text)
            if relationship is None:
                return LineError(line, "relationship_to_head", "unknown relationship")
        phone = _opt(phone_text)
        if phone is not None and not _PHONE.match(phone):
            return LineError(line, "phone", "not a telephone number")
        email = _opt(email_text)
        if email is not None and "@" not in email:
            return LineError(line, "email", "not an e-mail address")
        my_number = None
        my_number_text = my_number_text.strip()
        if my_number_text:
            my_number = normalize_my_number(my_number_text)
            if not is_valid_my_number(my_number):
                return LineError(line, "my_number", "not a valid My Number (check digit)")
        family, given = family.strip(), given.strip()
        fkana, gkana = fkana.strip(), gkana.strip()
        return Record(
            line,
            external_key.strip(),
            person_no,
            status,
            family,
            given,
            fkana,
            gkana,
            name_key(family, given),
            name_key(fkana, gkana),
            sex,
            birth,
            death,
            postal,
            _opt(prefecture),
            municipality,
            ward,
            _opt(town),
            _opt(block),
            _opt(building),
            _opt(household),
            relationship,
            phone,
            email,
            my_number,
            effective,
        )


def read_lines(stream: IO[str]) -> Iterator[tuple[int, list[str]]]:
    """(physical line number of the record's first line, fields), after the header line.
    The header is checked: a file with other columns is refused as a whole."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().lstrip("\ufeff") for h in header]
    if tuple(header) != HEADER:
        raise ValueError("the header does not match; see the README for the expected columns")
    line = reader.line_num
    for row in reader:
        if row:  # a blank line is not a record
            yield line + 1, row
        line = reader.line_num
