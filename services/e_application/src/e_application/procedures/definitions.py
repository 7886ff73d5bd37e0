"""The procedures the migrations seed (data, read by procedures.validation): the pregnancy
notification (妊娠届出書, seed 別添1, the items of DOMAIN.md) and the low birth weight
notification (低体重児届出, 母子保健法第18条), which proves the engine is general."""

from datetime import date
from typing import Any

PREGNANCY = "pregnancy_notification"
LOW_BIRTH_WEIGHT = "low_birth_weight_notification"

_TEXT = {"type": "text", "max_length": 200}


def _f(name: str, label: str, required: bool = True, **rule: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "required": required, **(_TEXT | rule)}


PREGNANCY_FIELDS = [
    # 届出書
    _f("name", "妊婦の氏名"),
    _f("name_kana", "フリガナ", type="kana"),
    _f("birth_date", "生年月日", type="date"),
    _f("occupation", "職業", False, max_length=100),
    _f("residence", "居住地", max_length=300),
    _f("nationality", "国籍", max_length=100),
    _f("weeks_of_pregnancy", "妊娠週数", type="integer", min=0, max=42),
    _f("expected_delivery_date", "出産予定日", type="date"),
    _f("expected_children", "胎児数", False, type="integer", min=1, max=5),
    _f("diagnosed_by", "診断を受けた医師・助産師（医療機関名）"),
    _f("std_tested", "性病に関する健康診断の有無", type="boolean"),
    _f("tb_tested", "結核に関する健康診断の有無", type="boolean"),
    _f("notifier_name", "届出者の氏名"),
    # 補記
    _f("contact_name", "連絡先氏名", False),
    _f("contact_address", "連絡先住所", False, max_length=300),
    _f("contact_phone", "電話番号", False, type="phone"),
    _f("contact_email", "メールアドレス", False, type="email"),
    _f("application_date", "申請日", type="date"),
    _f("collection_ward_code", "母子健康手帳を受け取る区役所", type="ward"),
]

LOW_BIRTH_WEIGHT_FIELDS = [
    _f("infant_name", "乳児の氏名", False),
    _f("infant_sex", "乳児の性別", type="choice", choices=["male", "female"]),
    _f("infant_birth_date", "生年月日", type="date"),
    _f("infant_birth_time", "出生時刻", type="time"),
    _f("birth_place", "出生場所"),
    _f("birth_weight_g", "出生体重（g）", type="integer", min=200, max=2499),
    _f("weeks_of_gestation", "在胎週数", type="integer", min=20, max=45),
    _f("infant_address", "乳児の現在地（居所）", max_length=300),
    _f("mother_name", "母の氏名"),
    _f("birth_attendant", "出産に立ち会った医師・助産師", False),
    _f("guardian_name", "届出者（保護者）の氏名"),
    _f("guardian_birth_date", "届出者の生年月日", type="date"),
    _f("guardian_sex", "届出者の性別", type="choice", choices=["male", "female"]),
    _f("guardian_address", "届出者の住所", max_length=300),
    _f("contact_phone", "電話番号", type="phone"),
    _f("contact_email", "メールアドレス", False, type="email"),
    _f("application_date", "届出日", type="date"),
    _f("ward_code", "届出先の区役所", type="ward"),
]

PROCEDURES: list[dict[str, Any]] = [
    {
        "code": PREGNANCY,
        "version": 1,
        "title": "妊娠届出書 (pregnancy notification, 母子保健法第15条)",
        "effective_from": date(2024, 4, 1),
        "effective_to": None,
        "department": "子育て支援課",
        "ward_department": "保健福祉課",
        "purpose": (
            "母子保健法第15条に基づく妊娠の届出の受理、母子健康手帳の交付及び妊婦健康診査等の"
            "母子保健事務に利用します。個人番号は本人確認及び宛名番号の特定にのみ利用します。"
        ),
        "retention_years": 5,
        "fields": PREGNANCY_FIELDS,
        "rules": [
            {
                "rule": "before",
                "field": "birth_date",
                "other": "application_date",
                "message": "birth_date must be before application_date",
            },
            {
                "rule": "within_days",
                "field": "expected_delivery_date",
                "other": "application_date",
                "min": 0,
                "max": 300,
                "message": "expected_delivery_date must be within 300 days after application_date",
            },
        ],
        "identity_fields": {"name": "name", "birth_date": "birth_date", "address": "residence"},
        "implied_facts": {"sex": "female"},
        "my_number_required": True,
        "ward_field": "collection_ward_code",
        "email_field": "contact_email",
        "handover": "boshi_pregnancy",
    },
    {
        "code": LOW_BIRTH_WEIGHT,
        "version": 1,
        "title": "低体重児届出書 (low birth weight notification, 母子保健法第18条)",
        "effective_from": date(2024, 4, 1),
        "effective_to": None,
        "department": "子育て支援課",
        "ward_department": "保健福祉課",
        "purpose": ("母子保健法第18条に基づく低体重児の届出の受理及び未熟児訪問指導に利用します。"),
        "retention_years": 5,
        "fields": LOW_BIRTH_WEIGHT_FIELDS,
        "rules": [
            {
                "rule": "before",
                "field": "guardian_birth_date",
                "other": "infant_birth_date",
                "message": "guardian_birth_date must be before infant_birth_date",
            },
            {
                "rule": "within_days",
                "field": "application_date",
                "other": "infant_birth_date",
                "min": 0,
                "max": 366,
                "message": "application_date must be within a year after infant_birth_date",
            },
        ],
        "identity_fields": {
            "name": "guardian_name",
            "birth_date": "guardian_birth_date",
            "sex": "guardian_sex",
            "address": "guardian_address",
        },
        "implied_facts": {},
        "my_number_required": False,
        "ward_field": "ward_code",
        "email_field": "contact_email",
        "handover": None,
    },
]
