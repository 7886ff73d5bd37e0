"""The platform disclosure as the PDF the person receives (Japanese, IPAex Gothic): the
decision, what each service holds, and a table of who looked at her data."""

from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace

from boshi_core.disclosure.pdf import LABELS, SECTIONS
from boshi_core.disclosure.pdf import _text as address_text
from mch_common.dates import TOKYO
from mch_common.disclosure import STAFF_WITHHELD
from mch_common.disclosure_pdf import plain_text
from mch_common.fonts import IPAEX_GOTHIC

SERVICES = {
    "atena": "宛名管理システム (住民の基本情報)",
    "boshi_core": "母子保健システム (妊娠届・母子健康手帳・健診・訪問など)",
    "immunization_bridge": "予防接種台帳 (予防接種の記録)",
    "e_application": "電子申請サービス (オンラインの届出)",
    "intermediate_server": "中間サーバー (他の自治体との情報のやりとり)",
}
OUTCOMES = {"full": "全部開示", "partial": "一部開示", "refusal": "不開示"}
RESULTS = {
    "success": "閲覧・処理",
    "refused": "拒否 (権限なし)",
    "not_found": "該当なし",
    "unauthenticated": "拒否 (未認証)",
}
ROLES = {
    "mch_staff": "母子保健担当",
    "ward_mch_staff": "区 母子保健担当",
    "center_staff": "こども家庭センター",
    "registry_clerk": "住民記録担当",
    "mynumber_officer": "番号利用担当",
    "auditor": "監査担当",
}
ACCESS_COLUMNS = ("日時", "システム", "部署・区", "役割", "端末", "操作", "目的", "結果")
SHORT_NAMES = {
    "atena": "宛名",
    "boshi_core": "母子保健",
    "immunization_bridge": "予防接種",
    "e_application": "電子申請",
    "intermediate_server": "中間サーバー",
}
# What an action did, in words; any other action shows its code.
ACTIONS = {
    "person.registered": "住民登録",
    "person.read": "基本情報の閲覧",
    "person.view": "母子保健の記録の閲覧",
    "person.changes.read": "変更履歴の閲覧",
    "person.lookup_by_my_number": "個人番号による検索",
    "status.read": "予防接種状況の閲覧",
    "disclosure.export": "開示のための出力",
    "request.receive": "開示等請求の受付",
    "request.extend": "決定期限の延長",
    "request.decide": "開示等の決定",
    "request.fulfil": "開示等の実施",
    "pregnancy.open": "妊娠届の受付",
    "pregnancy.view": "妊娠届の閲覧",
    "handbook.issue": "母子健康手帳の交付",
}
EXTRA_LABELS = {
    "history": "変更の履歴",
    "records": "接種記録",
    "child": "本人",
    "vaccine": "ワクチン",
    "dose_no": "回数",
    "given_on": "接種日",
    "change_type": "変更の種類",
    "effective_date": "異動日",
    "recorded_at": "記録日時",
    "has_my_number": "個人番号の登録",
    "my_number": "個人番号",
    "household_no": "世帯番号",
    "relationship_to_head": "続柄",
    "mother_person_no": "母の宛名番号",
    "death_date": "死亡日",
    "phone": "電話番号",
    "email": "メール",
    "reason": "理由",
    "before": "変更前",
    "after": "変更後",
    "window_start": "接種できる期間の始まり",
    "last_day": "接種できる最終日",
    "overdue_from": "未接種となる日",
    "lot": "ロット番号",
    "institution_code": "医療機関コード",
    "deleted": "取消",
}


def paragraph(pdf: FPDF, height: float, text: str) -> None:
    # Left-aligned: multi_cell justifies by default, spreading a wrapped line with wide gaps.
    pdf.multi_cell(0, height, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT, align=Align.L)


def label(field: str) -> str:
    japanese = LABELS.get(field)
    return f"{japanese} ({field})" if japanese else field


def shown(field: str, value: Any) -> str:
    special = address_text(field, value)
    return special if special is not None else plain_text(value)


def _when(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


def _who(entry: dict[str, Any]) -> tuple[str, str]:
    place = " / ".join(str(p) for p in (entry.get("department"), entry.get("ward")) if p)
    actor = str(entry.get("actor") or "")
    if actor.startswith("svc:"):
        return "システム間連携", actor.removeprefix("svc:")
    roles = ", ".join(ROLES.get(r, r) for r in entry.get("roles") or [])
    return place or "—", roles or "—"


# Bookkeeping of the copies, not the person's data.
_NOISE = frozenset({"version", "last_event_type", "updated_at", "municipality_code"})
_TABLE_MAX_COLUMNS = 8


def _flat(rows: list[Any]) -> bool:
    return all(
        isinstance(row, dict)
        and len(row) <= _TABLE_MAX_COLUMNS
        and not any(isinstance(v, dict | list) for v in row.values())
        for row in rows
    )


def _table(pdf: FPDF, rows: list[dict[str, Any]]) -> None:
    columns = [c for c in rows[0] if c not in _NOISE]
    pdf.set_font("jp", size=7)
    with pdf.table(
        headings_style=FontFace(emphasis=None, fill_color=(230, 230, 230)),
        line_height=4,
        text_align="LEFT",
    ) as table:
        table.row([_title(c) for c in columns])
        for row in rows:
            table.row([shown(c, row.get(c)) for c in columns])
    pdf.set_font("jp", size=9)
    pdf.ln(1)


def _fields(pdf: FPDF, row: dict[str, Any], indent: str) -> None:
    for field in sorted(row, key=lambda f: (isinstance(row[f], dict | list), f)):
        value = row[field]
        if field in _NOISE:
            continue
        if field != "address" and isinstance(value, dict):
            paragraph(pdf, 5, f"{indent}{_title(field)}:" + (" —" if not value else ""))
            _fields(pdf, value, indent + "    ")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            paragraph(pdf, 5, f"{indent}{_title(field)} — {len(value)}")
            if _flat(value):
                _table(pdf, value)
                continue
            for index, item in enumerate(value, start=1):
                paragraph(pdf, 5, f"{indent}  [{index}]")
                _fields(pdf, item, indent + "    ")
        elif isinstance(value, list) and not value:
            paragraph(pdf, 5, f"{indent}{_title(field)}: 該当なし")
        else:
            paragraph(pdf, 5, f"{indent}{_title(field)}: {shown(field, value)}")


_SECTION_TITLES = dict(SECTIONS)


def _title(field: str) -> str:
    if field in _SECTION_TITLES:
        return _SECTION_TITLES[field]
    extra = EXTRA_LABELS.get(field)
    return f"{extra} ({field})" if extra and field not in LABELS else label(field)


def _access_table(pdf: FPDF, entries: list[dict[str, Any]]) -> None:
    pdf.set_font("jp", size=7)
    widths = (24, 22, 30, 22, 22, 28, 24, 18)
    with pdf.table(
        col_widths=widths,
        headings_style=FontFace(emphasis=None, fill_color=(230, 230, 230)),
        line_height=4,
        text_align="LEFT",
    ) as table:
        table.row(ACCESS_COLUMNS)
        for entry in entries:
            place, role = _who(entry)
            staff = str(entry.get("actor") or "")
            if staff and not staff.startswith("svc:") and staff != STAFF_WITHHELD:
                role = f"{role}\n職員: {staff}"
            action = str(entry["action"])
            if action.split(" ")[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                action = "閲覧・操作の試み"
            table.row(
                (
                    _when(entry["occurred_at"]),
                    SHORT_NAMES.get(entry["service"], entry["service"]),
                    place,
                    role,
                    entry.get("terminal") or "—",
                    ACTIONS.get(action, action),
                    entry.get("purpose") or "—",
                    RESULTS.get(entry["outcome"], entry["outcome"])
                    + (f"\n{entry['reason']}" if entry.get("reason") else ""),
                )
            )


def render(export: dict[str, Any], *, font_path: Path | None = None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("jp", fname=str(font_path or IPAEX_GOTHIC))
    pdf.set_title("保有個人情報の開示")
    pdf.add_page()
    pdf.set_font("jp", size=16)
    paragraph(pdf, 10, "保有個人情報の開示")
    pdf.set_font("jp", size=10)
    decision = export["decision"]
    paragraph(pdf, 6, "北九州市 (母子保健に関する事務)")
    paragraph(pdf, 6, f"宛名番号: {export['person_no']} / 請求番号: {export['request_id']}")
    paragraph(
        pdf,
        6,
        f"決定: {OUTCOMES.get(decision['outcome'], decision['outcome'])} "
        f"({decision['decided_on']}) / 作成: {_when(export['exported_at'])}",
    )
    if decision["withheld"]:
        names = "、".join(SERVICES.get(p, "あなたの情報を見た記録") for p in decision["withheld"])
        paragraph(pdf, 6, f"開示しない部分: {names}")
        paragraph(pdf, 6, f"その理由: {decision['reason']}")
    if not decision["staff_disclosed"]:
        paragraph(pdf, 6, "職員の氏名・職員番号は開示していません (部署・役割・端末を記載)。")
    for service, held in export["services"].items():
        pdf.ln(3)
        pdf.set_font("jp", size=13)
        paragraph(pdf, 8, f"■ {SERVICES.get(service, service)}")
        pdf.set_font("jp", size=9)
        if held.get("withheld"):
            paragraph(pdf, 5, "この部分は開示しません (上の理由による)。")
        elif held.get("holds_nothing"):
            paragraph(pdf, 5, "このシステムには、あなたの情報はありません。")
        else:
            _fields(pdf, held, "  ")
    pdf.ln(3)
    pdf.set_font("jp", size=13)
    paragraph(pdf, 8, "■ あなたの情報を見た記録 (すべてのシステム)")
    pdf.set_font("jp", size=9)
    accesses = export["access_log"]
    if isinstance(accesses, dict):
        paragraph(pdf, 5, "この部分は開示しません (上の理由による)。")
    else:
        paragraph(
            pdf,
            5,
            f"{len(accesses)} 件。拒否された操作 (権限のない職員の閲覧の試み) も含みます。",
        )
        _access_table(pdf, accesses)
    return bytes(pdf.output())
