"""The disclosure export as a readable PDF with an embedded Japanese font (fpdf2)."""

import json
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from boshi_core.addresses import postal_mark, written_address
from mch_common.fonts import IPAEX_GOTHIC

# The export's sections in the order a reader expects them, with their Japanese titles.
SECTIONS = (
    ("person", "宛名情報 (person, from atena)"),
    ("pregnancies", "妊娠届 (pregnancy notifications)"),
    ("handbooks", "母子健康手帳 (MCH handbooks)"),
    ("vouchers", "妊婦健康診査受診券 (prenatal checkup vouchers)"),
    ("prenatal_checkups", "妊婦健康診査 (prenatal checkups)"),
    ("children", "出生 (births: as mother)"),
    ("own_birth", "出生 (own birth record)"),
    ("low_birth_weight_notifications", "低体重児の届出 (low birth weight notifications)"),
    ("home_visits", "家庭訪問 (home visits)"),
    (
        "infant_checkup_notices",
        "乳幼児健診の案内・受診勧奨 (infant checkup invitations, reminders)",
    ),
    ("infant_checkup_results", "乳幼児健康診査 (infant checkup results)"),
    ("detailed_exam_vouchers", "精密健康診査受診票 (detailed-examination vouchers)"),
    ("center_cases", "子ども家庭センター (child and family center cases)"),
    ("access_log", "アクセス記録 (who accessed this person's data)"),
)

# Japanese labels for the form items and the common fields; any other field shows its key.
LABELS = {
    "person_no": "宛名番号",
    "family_name": "氏",
    "given_name": "名",
    "family_name_kana": "氏(カナ)",
    "given_name_kana": "名(カナ)",
    "sex": "性別",
    "birth_date": "生年月日",
    "address": "住所",
    "delivery_addresses": "送付先",
    "ward_code": "区",
    "residence_status": "住民区分",
    "name": "氏名",
    "name_kana": "フリガナ",
    "age_at_notification": "年齢",
    "occupation": "職業",
    "residence": "居住地",
    "nationality": "国籍",
    "weeks_at_notification": "妊娠週数",
    "expected_delivery_date": "出産予定日",
    "expected_children": "胎児数",
    "diagnosed_by": "診断医師・助産師",
    "std_tested": "性病検査",
    "tb_tested": "結核検査",
    "notifier_name": "届出者",
    "contact_name": "連絡先氏名",
    "contact_address": "連絡先住所",
    "contact_phone": "電話番号",
    "contact_email": "メール",
    "application_date": "申請日",
    "collection_ward_code": "手帳受取区",
    "id_document_type": "本人確認書類",
    "id_checked_by": "確認者",
    "handbook_no": "手帳番号",
    "issued_on": "交付日",
    "voucher_no": "受診券番号",
    "used_on": "使用日",
    "checkup_date": "受診日",
    "gestational_weeks": "妊娠週数",
    "systolic_bp": "最高血圧",
    "diastolic_bp": "最低血圧",
    "urine_protein": "尿蛋白",
    "urine_sugar": "尿糖",
    "weight_kg": "体重(kg)",
    "oedema": "浮腫",
    "findings": "所見",
    "referral": "紹介",
    "risk_flags": "リスク",
    "birth_weight_g": "出生体重(g)",
    "birth_attendant": "立会者",
    "birth_place": "出生場所",
    "due_by": "訪問期限",
    "visited_on": "訪問日",
    "kind": "種別",
    "status": "状態",
    "outcome": "転帰",
    "outcome_date": "転帰日",
    "actor": "職員",
    "terminal": "端末",
    "action": "操作",
    "purpose": "目的",
    "occurred_at": "日時",
}


def label(field: str) -> str:
    label = LABELS.get(field)
    return f"{label} ({field})" if label else field


def _delivery_address(entry: dict[str, Any]) -> str:
    code = entry.get("postal_code")
    line = " ".join(
        part
        for part in (
            postal_mark(str(code)) if code else "",
            str(entry.get("address_line") or ""),
            f"{entry['addressee']} 様" if entry.get("addressee") else "",
        )
        if part
    )
    valid = f"{entry.get('valid_from') or ''}〜{entry.get('valid_to') or ''}"
    return f"{line} ({entry.get('purpose') or '全般'}, {valid})"


def shown(field: str, value: Any) -> str:
    """A field's value as a reader reads it: addresses as a Japanese address is written."""
    if field == "address" and isinstance(value, dict):
        return written_address(value)
    if field == "delivery_addresses" and isinstance(value, list):
        return " / ".join(_delivery_address(entry) for entry in value) or "—"
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい (yes)" if value else "いいえ (no)"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def paragraph(pdf: FPDF, height: float, text: str) -> None:
    # Left-aligned: multi_cell justifies by default, which spreads a wrapped line (the header's
    # date and author, an address) over the page width with wide gaps.
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align=Align.L)


def render(export: dict[str, Any], *, font_path: Path | None = None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("jp", fname=str(font_path or IPAEX_GOTHIC))
    pdf.set_title(f"保有個人情報開示 {export['person_no']}")
    pdf.add_page()
    pdf.set_font("jp", size=16)
    paragraph(pdf, 10, "保有個人情報の開示 (disclosure of personal data held)")
    pdf.set_font("jp", size=10)
    paragraph(
        pdf, 6, f"北九州市 母子保健システム / 宛名番号 (person number): {export['person_no']}"
    )
    paragraph(
        pdf,
        6,
        f"作成日時 (exported at): {export['exported_at']} / 作成者 (by): {export['exported_by']}",
    )
    for key, title in SECTIONS:
        value = export.get(key)
        rows: list[dict[str, Any]] = [value] if isinstance(value, dict) else list(value or [])
        pdf.ln(3)
        pdf.set_font("jp", size=13)
        paragraph(pdf, 8, f"■ {title} — {len(rows)}")
        pdf.set_font("jp", size=9)
        if not rows:
            paragraph(pdf, 5, "該当なし (none)")
        for index, row in enumerate(rows, start=1):
            pdf.set_font("jp", size=9)
            if len(rows) > 1:
                paragraph(pdf, 5, f"[{index}]")
            for field, field_value in row.items():
                paragraph(pdf, 5, f"  {label(field)}: {shown(field, field_value)}")
    return bytes(pdf.output())
