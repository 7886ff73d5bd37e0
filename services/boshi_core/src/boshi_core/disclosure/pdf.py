"""The disclosure export as a readable PDF (mch_common.disclosure_pdf): boshi_core's sections,
its labels and how an address reads."""

from pathlib import Path
from typing import Any

from boshi_core.addresses import postal_mark, written_address
from mch_common.disclosure_pdf import render_disclosure

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
    ("previous_city_records", "転入前の市町村の健診記録 (checkup records from the previous city)"),
    ("center_cases", "子ども家庭センター (child and family center cases)"),
    (
        "vaccination_status",
        "予防接種の状況 (vaccination status, from the immunization register link)",
    ),
    ("vaccination_records", "予防接種の記録 (vaccinations given)"),
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
    "vaccine": "ワクチン",
    "dose_no": "回数",
    "window_start": "接種開始可能日",
    "overdue_from": "標準的な接種期間の経過日",
    "last_day": "定期接種の最終日",
    "given_on": "接種日",
    "lot": "ロット番号",
    "institution_code": "医療機関コード",
    "record_id": "記録番号",
    "state": "連携状態",
    "reason": "理由",
}

# The bridge's `state` when it gave no statuses, as a reader reads it.
VACCINATIONS_NOT_SHOWN = {
    "unavailable": "取得できませんでした (the immunization bridge did not answer)",
    "not_registered": "予防接種の対象児として登録されていません (not in the bridge's register)",
}


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


def _text(field: str, value: Any) -> str | None:
    """Addresses as a Japanese address is written; other fields read plainly (None)."""
    if field == "address" and isinstance(value, dict):
        return written_address(value)
    if field == "delivery_addresses" and isinstance(value, list):
        return " / ".join(_delivery_address(entry) for entry in value) or "—"
    return None


def _vaccination_sections(value: Any) -> dict[str, Any]:
    """The bridge's answer as two sections: each dose's status, and the vaccinations given;
    when it gave none, the status section says why."""
    if not isinstance(value, dict):
        return {}
    state = value.get("state")
    if state != "available":
        shown = VACCINATIONS_NOT_SHOWN.get(str(state), str(state))
        return {
            "vaccination_status": [{"state": shown, "reason": value.get("reason")}],
            "vaccination_records": [],
        }
    return {
        "vaccination_status": value.get("doses") or [],
        "vaccination_records": value.get("records") or [],
    }


def render(export: dict[str, Any], *, font_path: Path | None = None) -> bytes:
    sections = {**export, **_vaccination_sections(export.get("vaccinations"))}
    return render_disclosure(
        sections,
        system_name="母子保健システム",
        sections=SECTIONS,
        labels=LABELS,
        field_text=_text,
        font_path=font_path,
    )
