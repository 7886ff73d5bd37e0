"""The application printed as its paper form (e.g. 妊娠届出書, seed 別添1): the procedure's
items in its order with their Japanese labels, the supplementary part, and the signature
verification result, in IPAex Gothic (embedded). The My Number is never printed: the form says
only that it was given and is kept encrypted."""

from datetime import date
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from e_application.review.service import Opened
from mch_common.dates import years_old
from mch_common.fonts import IPAEX_GOTHIC
from mch_common.lgcode import KITAKYUSHU_WARDS

FONT = "ipaexg"
CHECK_LABELS = {
    "signature": "署名の検証",
    "signing_time": "署名日時の確認",
    "certificate_kind": "証明書の種類（署名用）",
    "chain": "認証局（発行元）の確認",
    "validity": "有効期間の確認",
    "revocation": "失効の確認（CRL）",
    "form": "様式の確認",
    "identity": "4情報の照合（本人確認）",
}
_LABEL_W = 62


def _value(spec: dict[str, Any], value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "有" if value else "無"
    if spec.get("type") == "ward":
        return f"{KITAKYUSHU_WARDS.get(str(value), '')} ({value})"
    if spec.get("type") == "choice":
        return {"male": "男", "female": "女"}.get(str(value), str(value))
    return str(value)


def _row(pdf: FPDF, label: str, value: str) -> None:
    y = pdf.get_y()
    pdf.set_font(FONT, size=9)
    pdf.multi_cell(_LABEL_W, 7, label, border=1, new_x=XPos.RIGHT, new_y=YPos.TOP, fill=True)
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 7, value or " ", border=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(max(pdf.get_y(), y + 7))


def render(opened: Opened, *, title: str, fields: list[dict[str, Any]]) -> bytes:
    application = opened.application
    version = opened.versions[-1]
    form = version.form
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, fname=str(IPAEX_GOTHIC))
    pdf.set_fill_color(235, 235, 235)
    pdf.add_page()
    pdf.set_font(FONT, size=16)
    pdf.cell(0, 12, title.split(" (")[0], align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=9)
    pdf.cell(
        0,
        6,
        f"北九州市長 様　　受付番号 {application.receipt_no}　第{version.version_no}版　"
        f"状態 {application.status}",
        align="R",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    supplementary = {"contact_name", "contact_address", "contact_phone", "contact_email"}
    for spec in fields:
        if spec["name"] in supplementary or spec["name"] == "application_date":
            continue
        _row(pdf, spec["label"], _value(spec, form.get(spec["name"])))
        if spec["name"] == "birth_date" and "application_date" in form:
            age = years_old(
                date.fromisoformat(form["birth_date"]), date.fromisoformat(form["application_date"])
            )
            _row(pdf, "年齢（申請日現在）", f"{age}歳")
    if opened.has_my_number:
        _row(pdf, "個人番号", "提出あり（暗号化して別に保管、印字しない）")
    pdf.ln(3)
    pdf.set_font(FONT, size=11)
    pdf.cell(0, 8, "補記", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for spec in fields:
        if spec["name"] in supplementary or spec["name"] == "application_date":
            _row(pdf, spec["label"], _value(spec, form.get(spec["name"])))
    pdf.ln(3)
    pdf.set_font(FONT, size=11)
    pdf.cell(0, 8, "電子署名の検証結果", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _row(pdf, "署名日時", version.signed_at.isoformat(timespec="seconds"))
    _row(pdf, "認証局・証明書シリアル", f"{version.authority} / {version.certificate_serial}")
    for check in version.checks:
        label = CHECK_LABELS.get(check["check"], check["check"])
        _row(pdf, label, ("OK " if check["ok"] else "NG ") + check["detail"])
    _row(pdf, "署名パッケージ SHA-256", version.package_sha256)
    return bytes(pdf.output())
