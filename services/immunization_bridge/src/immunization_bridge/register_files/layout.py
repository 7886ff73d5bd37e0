"""The batch file for the register (異動連携ファイル): the same conventions as the files in
(CSV, one header line, CRLF), written in Shift_JIS (cp932), the register's encoding.

    change_id,change,effective_date,person_no,family_name,given_name,family_name_kana,
    given_name_kana,sex,birth_date,death_date,ward_code,other_municipality_code,version

One line a change, in the order the changes happened. `change`: born (出生), moved_in (転入),
moved_out (転出), died (死亡), name_changed (氏名変更). Dates are ISO (2026-04-01); `sex` is the
resident register's code, 1 male, 2 female, empty unknown; `other_municipality_code` is the
municipality left (moved_in) or moved to (moved_out); `version` is atena's snapshot version
(a register applying changes out of order keeps the highest). A character of a name that
cp932 cannot write is written 〓 and counted in the run record.
"""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

ENCODING = "cp932"
ChangeKind = Literal["born", "moved_in", "moved_out", "died", "name_changed"]
CHANGE_KINDS: tuple[str, ...] = get_args(ChangeKind)
HEADER = (
    "change_id",
    "change",
    "effective_date",
    "person_no",
    "family_name",
    "given_name",
    "family_name_kana",
    "given_name_kana",
    "sex",
    "birth_date",
    "death_date",
    "ward_code",
    "other_municipality_code",
    "version",
)
GETA = "〓"  # 下駄記号: the customary stand-in for a character the encoding lacks


@dataclass(frozen=True)
class RenderedFile:
    content: bytes
    substituted_characters: int


def render(lines: Iterable[Sequence[Any]]) -> RenderedFile:
    """`lines` in HEADER's order (repository.pending_lines): a date writes as ISO, None as
    an empty field."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(lines)
    return _encode(buffer.getvalue())


def _encode(text: str) -> RenderedFile:
    try:
        return RenderedFile(text.encode(ENCODING), 0)
    except UnicodeEncodeError:
        pass  # a rare name: character by character
    out = bytearray()
    substituted = 0
    for char in text:
        try:
            out += char.encode(ENCODING)
        except UnicodeEncodeError:
            out += GETA.encode(ENCODING)
            substituted += 1
    return RenderedFile(bytes(out), substituted)
