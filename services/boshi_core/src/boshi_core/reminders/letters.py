"""Reminder letters (受診勧奨通知): one per household, in Japanese, with the font embedded.

The font is IPAexGothic from mch_common.fonts, as in the disclosure PDF.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from boshi_core.addresses import address_line, postal_mark
from boshi_core.reminders.output import write_atomic
from boshi_core.wards import WARDS
from mch_common.fonts import IPAEX_GOTHIC

# Delivery-address purposes that cover MCH mail, in order of preference.
MCH_PURPOSES = ("boshi", "mch", "母子保健")
GENERAL_PURPOSES = (None, "", "all", "general", "全般")


@dataclass(frozen=True)
class MailingAddress:
    postal_code: str
    address_line: str
    addressee: str | None
    source: str  # delivery | resident


@dataclass(frozen=True)
class DueChild:
    person_no: str
    name: str
    programme_name: str
    window_start: date
    window_end: date


@dataclass(frozen=True)
class Letter:
    letter_no: str
    issued_on: date
    ward_code: str | None
    address: MailingAddress
    addressee: str
    children: tuple[DueChild, ...]


def _valid_on(entry: dict[str, Any], on: date) -> bool:
    start, end = entry.get("valid_from"), entry.get("valid_to")
    return (not start or date.fromisoformat(str(start)) <= on) and (
        not end or date.fromisoformat(str(end)) >= on
    )


def mailing_address(
    resident: dict[str, Any], delivery_addresses: list[dict[str, Any]] | None, on: date
) -> MailingAddress:
    """The delivery address (送付先) valid on `on` for MCH mail, else the resident address."""
    valid = [d for d in delivery_addresses or [] if _valid_on(d, on) and d.get("address_line")]
    for purposes in (MCH_PURPOSES, GENERAL_PURPOSES):
        for entry in valid:
            if entry.get("purpose") in purposes:
                return MailingAddress(
                    postal_code=str(entry.get("postal_code") or ""),
                    address_line=str(entry["address_line"]),
                    addressee=entry.get("addressee"),
                    source="delivery",
                )
    return MailingAddress(
        postal_code=str(resident.get("postal_code") or ""),
        address_line=address_line(resident),
        addressee=None,
        source="resident",
    )


def _jdate(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def render_letters(
    letters: Sequence[Letter], *, font_path: Path | None = None
) -> tuple[bytes, list[int]]:
    """Several letters in one print file, each starting on a new page; returns the PDF and
    each letter's first page. Loading and subsetting the font costs about 0.3 s per file, so
    a run writes its letters in batches rather than one file each."""
    if not letters:
        raise ValueError("no letters to render")
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("jp", fname=str(font_path or IPAEX_GOTHIC))
    pdf.set_title(f"乳幼児健康診査 受診のご案内 {letters[0].letter_no}")
    pages: list[int] = []
    for letter in letters:
        pdf.add_page()
        pages.append(pdf.page_no())
        _draw(pdf, letter)
    return bytes(pdf.output()), pages


def write_print_file(path: Path, letters: Sequence[Letter], *, font_path: Path | None) -> list[int]:
    """Render `letters` into one print file at `path` (whole or not at all); returns each
    letter's first page."""
    data, pages = render_letters(letters, font_path=font_path)
    write_atomic(path, data)
    return pages


def _draw(pdf: FPDF, letter: Letter) -> None:
    pdf.set_font("jp", size=9)
    pdf.cell(0, 5, f"通知番号 {letter.letter_no}", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.cell(0, 5, _jdate(letter.issued_on), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("jp", size=11)
    pdf.cell(0, 6, postal_mark(letter.address.postal_code), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(100, 6, letter.address.address_line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("jp", size=13)
    pdf.cell(0, 9, f"{letter.addressee} 様", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)
    pdf.set_font("jp", size=16)
    pdf.cell(0, 10, "乳幼児健康診査 受診のご案内", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("jp", size=10.5)
    pdf.multi_cell(
        0,
        6,
        "日頃より本市の母子保健事業にご協力いただき、ありがとうございます。\n"
        "下記のお子さまの健康診査について、まだ受診の記録が確認できておりません。"
        "受診期間の終わりが近づいていますので、期間内に受診してください。"
        "健康診査は、お子さまの成長・発達を確認し、子育ての相談ができる大切な機会です。\n"
        "すでに受診された場合や、この通知と行き違いになった場合はご容赦ください。",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(4)
    widths = (50, 65, 65)
    pdf.set_font("jp", size=10)
    pdf.set_fill_color(230, 236, 245)
    for width, title in zip(widths, ("お子さまのお名前", "健康診査", "受診期間"), strict=True):
        pdf.cell(width, 8, title, border=1, align="C", fill=True)
    pdf.ln()
    for child in letter.children:
        period = f"{_jdate(child.window_start)}〜{_jdate(child.window_end)}"
        for width, value in zip(widths, (child.name, child.programme_name, period), strict=True):
            pdf.cell(width, 8, value, border=1)
        pdf.ln()
    pdf.ln(6)
    pdf.multi_cell(
        0,
        6,
        "受診には、母子健康手帳と問診票をお持ちください。"
        "ご都合がつかない場合やご不明な点は、下記までお問い合わせください。",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(6)
    ward = WARDS.get(letter.ward_code or "", "")
    pdf.set_font("jp", size=10)
    pdf.multi_cell(
        0,
        6,
        f"北九州市 {ward} 保健福祉課 地域保健係\n(お問い合わせの際は通知番号をお伝えください)",
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
