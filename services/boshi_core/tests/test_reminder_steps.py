"""The reminder run's steps that need no database: the contractor's list and the print file."""

import csv
import io
from datetime import date
from pathlib import Path

from boshi_core.reminders.letters import DueChild, Letter, MailingAddress, write_print_file
from boshi_core.reminders.mailing_list import CSV_FIELDS, SentLetter, mailing_list_csv

ADDRESS = MailingAddress(
    postal_code="8030812",
    address_line="福岡県北九州市小倉北区城内1-1",
    addressee=None,
    source="resident",
)


def test_mailing_list_names_no_child_and_opens_in_spreadsheet_tools() -> None:
    data = mailing_list_csv(
        [
            SentLetter(
                letter_no="202609-H1-1",
                file="letters/202609-H1-1.pdf",
                page=3,
                address=ADDRESS,
                addressee="北九 花子",
                ward_code="401064",
                children=2,
            )
        ]
    )
    assert data.startswith("\ufeff".encode())  # the BOM: Japanese reads correctly
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_FIELDS
    assert rows[0]["page"] == "3"
    assert rows[0]["children"] == "2"
    assert rows[0]["addressee"] == "北九 花子"


def test_print_file_starts_each_letter_on_its_own_page(tmp_path: Path) -> None:
    child = DueChild(
        person_no="2000000001",
        name="北九 太郎",
        programme_name="4か月児健康診査",
        window_start=date(2026, 8, 1),
        window_end=date(2026, 10, 31),
    )
    letters = [
        Letter(
            letter_no=f"202609-H{i}-1",
            issued_on=date(2026, 9, 1),
            ward_code="401064",
            address=ADDRESS,
            addressee="北九 花子",
            children=(child,),
        )
        for i in (1, 2)
    ]
    path = tmp_path / "letters.pdf"
    pages = write_print_file(path, letters, font_path=None)
    assert pages == [1, 2]
    assert path.read_bytes().startswith(b"%PDF")
    assert not list(tmp_path.glob("*.part"))  # written whole, no temporary file left
