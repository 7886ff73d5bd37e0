"""The mail contractor's list (CSV): one line per letter the run has sent.

What the contractor needs to print and post, nothing more: no child's name or checkup (those
are inside the sealed letter), only how many children the letter is about.
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from boshi_core.reminders.letters import MailingAddress
from boshi_core.reminders.output import write_atomic

CSV_FIELDS = (
    "letter_no",
    "file",
    "page",
    "postal_code",
    "address",
    "addressee",
    "address_source",
    "ward_code",
    "children",
)


@dataclass(frozen=True)
class SentLetter:
    letter_no: str
    file: str
    page: int | None
    address: MailingAddress
    addressee: str
    ward_code: str | None
    children: int


def mailing_list_csv(letters: Iterable[SentLetter]) -> bytes:
    """The list as UTF-8 with a BOM, so the contractor's spreadsheet tools read Japanese."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS)
    writer.writeheader()
    writer.writerows(
        {
            "letter_no": letter.letter_no,
            "file": letter.file,
            "page": str(letter.page or ""),
            "postal_code": letter.address.postal_code,
            "address": letter.address.address_line,
            "addressee": letter.addressee,
            "address_source": letter.address.source,
            "ward_code": letter.ward_code or "",
            "children": str(letter.children),
        }
        for letter in letters
    )
    return text.getvalue().encode("utf-8-sig")


def write_mailing_list(path: Path, letters: Iterable[SentLetter]) -> None:
    write_atomic(path, mailing_list_csv(letters))
