"""The disclosure export as a readable PDF (IPAex Gothic embedded): each application with its
versions' items, then the access log."""

from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from mch_common.fonts import IPAEX_GOTHIC

FONT = "ipaexg"


def _line(pdf: FPDF, text: str, size: int = 9) -> None:
    pdf.set_font(FONT, size=size)
    pdf.multi_cell(0, 5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render(export: dict[str, Any]) -> bytes:
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, fname=str(IPAEX_GOTHIC))
    pdf.add_page()
    _line(pdf, f"保有個人情報の開示（電子申請サービス） 宛名番号 {export['person_no']}", 14)
    for application in export["applications"]:
        pdf.ln(3)
        _line(
            pdf,
            f"受付番号 {application['receipt_no']}  {application['procedure']}  "
            f"状態 {application['status']}  受付 {application['submitted_at']}",
            11,
        )
        _line(pdf, f"利用目的: {application['purpose']}")
        for version in application["versions"]:
            _line(
                pdf,
                f"第{version['version_no']}版  署名 {version['signed_at']}  {version['authority']}",
            )
            for key, value in version["form"].items():
                _line(pdf, f"    {key}: {value}")
        for event in application["history"]:
            _line(pdf, f"  {event['at']}  {event['action']}  {event['actor']}")
    pdf.ln(3)
    _line(pdf, "アクセス記録", 11)
    for record in export["access_log"]:
        _line(
            pdf,
            f"{record.get('occurred_at')}  {record.get('actor')}  {record.get('action')}  "
            f"{record.get('outcome')}",
            8,
        )
    return bytes(pdf.output())
