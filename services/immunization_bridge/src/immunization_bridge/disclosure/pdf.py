"""The bridge's disclosure export as a readable PDF (mch_common.disclosure_pdf)."""

from typing import Any

from mch_common.disclosure_pdf import render_disclosure

SECTIONS = (
    ("child", "予防接種の対象児 (the child, as atena described them)"),
    ("records", "予防接種の記録 (vaccinations, from the register's files)"),
    ("status", "接種状況 (each dose's status today)"),
    ("register_changes", "予防接種台帳への異動連携 (changes sent to the register)"),
    ("access_log", "アクセス記録 (who accessed this person's data)"),
)
LABELS = {
    "person_no": "宛名番号",
    "family_name": "氏",
    "given_name": "名",
    "family_name_kana": "氏(カナ)",
    "given_name_kana": "名(カナ)",
    "sex": "性別",
    "birth_date": "生年月日",
    "residence_status": "住民区分",
    "ward_code": "区",
    "record_id": "記録番号",
    "vaccine": "ワクチン",
    "dose_no": "回数",
    "given_on": "接種日",
    "lot": "ロット番号",
    "institution_code": "医療機関コード",
    "deleted": "削除済み",
    "file_id": "取込ファイル",
    "status": "状態",
    "window_start": "接種開始可能日",
    "overdue_from": "標準的な接種期間の経過日",
    "last_day": "定期接種の最終日",
    "change": "異動",
    "effective_date": "異動日",
    "other_municipality_code": "転入元・転出先",
    "recorded_at": "記録日時",
    "file_run_id": "連携ファイル",
    "actor": "職員",
    "terminal": "端末",
    "action": "操作",
    "purpose": "目的",
    "occurred_at": "日時",
    "outcome": "結果",
}


def render(export: dict[str, Any]) -> bytes:
    return render_disclosure(
        export, system_name="予防接種台帳連携", sections=SECTIONS, labels=LABELS
    )
