"""Per-line error reports: every rejection counted and passed on, the first ones kept."""

from dataclasses import dataclass, field

from mch_common.lines import MAX_KEPT_ERRORS, LineError, detect_encoding, record_rejection


@dataclass
class Report:
    rejected: int = 0
    errors: list[LineError] = field(default_factory=list)


def test_rejections_are_counted_and_passed_on_and_the_first_ones_kept() -> None:
    report = Report()
    seen: list[LineError] = []
    for line in range(2, MAX_KEPT_ERRORS + 4):
        record_rejection(report, LineError(line, "birth_date", "no such date"), seen.append)
    assert report.rejected == MAX_KEPT_ERRORS + 2
    assert len(seen) == MAX_KEPT_ERRORS + 2
    assert len(report.errors) == MAX_KEPT_ERRORS
    assert report.errors[0] == LineError(2, "birth_date", "no such date")


def test_detect_encoding_of_a_batch_file() -> None:
    assert detect_encoding("番号,氏名\n".encode()) == "utf-8"
    assert detect_encoding("\ufeff番号\n".encode()) == "utf-8-sig"
    assert detect_encoding("番号,氏名\n".encode("cp932")) == "cp932"
    assert detect_encoding("番号".encode()[:-1]) == "utf-8"  # a character cut at the sample's end
