"""A disclosure export (開示請求) as a readable PDF with an embedded Japanese font (fpdf2): a
header naming the system, the person and who exported it, then one titled section a kind of
record, each row a field a line. Each service names its sections and labels; this draws them
the same way everywhere."""

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from mch_common.fonts import IPAEX_GOTHIC

# (key in the export, section title): the order a reader expects them.
Sections = Sequence[tuple[str, str]]
# How a field's value reads; None: the plain rendering (plain_text).
FieldText = Callable[[str, Any], str | None]


def plain_text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい (yes)" if value else "いいえ (no)"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _paragraph(pdf: FPDF, height: float, text: str) -> None:
    # Left-aligned: multi_cell justifies by default, which spreads a wrapped line (the header's
    # date and author, an address) over the page width with wide gaps.
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align=Align.L)


def render_disclosure(
    export: Mapping[str, Any],
    *,
    system_name: str,
    sections: Sections,
    labels: Mapping[str, str],
    field_text: FieldText | None = None,
    font_path: Path | None = None,
) -> bytes:
    """`export` holds `person_no`, `exported_at`, `exported_by` and the sections' values (a
    dict is one row, a list is rows)."""

    def label(field: str) -> str:
        japanese = labels.get(field)
        return f"{japanese} ({field})" if japanese else field

    def text(field: str, value: Any) -> str:
        special = field_text(field, value) if field_text is not None else None
        return special if special is not None else plain_text(value)

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("jp", fname=str(font_path or IPAEX_GOTHIC))
    pdf.set_title(f"保有個人情報開示 {export['person_no']}")
    pdf.add_page()
    pdf.set_font("jp", size=16)
    _paragraph(pdf, 10, "保有個人情報の開示 (disclosure of personal data held)")
    pdf.set_font("jp", size=10)
    _paragraph(pdf, 6, f"北九州市 {system_name} / 宛名番号 (person number): {export['person_no']}")
    _paragraph(
        pdf,
        6,
        f"作成日時 (exported at): {export['exported_at']} / 作成者 (by): {export['exported_by']}",
    )
    for key, title in sections:
        value = export.get(key)
        rows: list[dict[str, Any]] = [value] if isinstance(value, dict) else list(value or [])
        pdf.ln(3)
        pdf.set_font("jp", size=13)
        _paragraph(pdf, 8, f"■ {title} — {len(rows)}")
        pdf.set_font("jp", size=9)
        if not rows:
            _paragraph(pdf, 5, "該当なし (none)")
        for index, row in enumerate(rows, start=1):
            if len(rows) > 1:
                _paragraph(pdf, 5, f"[{index}]")
            for field, field_value in row.items():
                _paragraph(pdf, 5, f"  {label(field)}: {text(field, field_value)}")
    return bytes(pdf.output())
