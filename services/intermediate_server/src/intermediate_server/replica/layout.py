"""The replica's items, after the national data standard layout (データ標準レイアウト) of the
health ministry, item by item. Only what is documented here is registered: a field outside it
is refused (StrictModel), so what is deliberately not exchanged (smoking in pregnancy, syphilis
and HIV results, the family's circumstances) can never enter the replica.

Item 80 (主務省令第2条の表80の項): pregnancy notification information (妊娠の届出情報), provided
to other mayors for the disaster victims register. Item 95 (同95の項): prenatal and infant
checkup information (妊婦・乳幼児健康診査情報), provided on request (a family moving in)."""

from datetime import date
from typing import Literal

from pydantic import Field

from mch_common.inputs import StrictModel

PREGNANCY_NOTIFICATION = "80"
CHECKUP = "95"
ITEMS: dict[str, str] = {
    PREGNANCY_NOTIFICATION: "妊娠の届出情報 (pregnancy notification information)",
    CHECKUP: "妊婦・乳幼児健康診査情報 (prenatal and infant checkup information)",
}
ItemNo = Literal["80", "95"]

CheckupKind = Literal["prenatal", "infant_4m", "infant_7m", "infant_1y6m", "infant_3y"]
Judgement = Literal["no_abnormality", "observe", "detailed_exam", "treatment"]


class PregnancyNotificationInfo(StrictModel):
    """Item 80."""

    notified_on: date = Field(description="届出年月日: the date of the notification")
    expected_delivery_date: date | None = Field(default=None, description="出産予定日")
    weeks_at_notification: int | None = Field(
        default=None, ge=0, le=45, description="届出時の妊娠週数"
    )
    expected_children: int = Field(default=1, ge=1, le=5, description="多胎: children expected")
    handbook_issued_on: date | None = Field(default=None, description="母子健康手帳交付年月日")


class CheckupInfo(StrictModel):
    """Item 95: the minimum set per checkup (受診の有無と受診日), the prenatal facts the layout
    carries, and for infants the measurements and the judgement."""

    checkup_kind: CheckupKind = Field(description="健診の種類")
    taken: bool = Field(description="受診の有無")
    taken_on: date | None = Field(default=None, description="受診年月日")
    # Prenatal (妊婦健康診査)
    gestational_weeks: int | None = Field(default=None, ge=0, le=45, description="妊娠週数")
    gestational_diabetes: bool | None = Field(default=None, description="妊娠糖尿病")
    pregnancy_induced_hypertension: bool | None = Field(
        default=None, description="妊娠高血圧症候群"
    )
    rubella_antibody_low: bool | None = Field(default=None, description="風しん抗体価 (低い)")
    # Infant (乳幼児健康診査)
    height_cm: float | None = Field(default=None, gt=0, lt=200, description="身長")
    weight_g: int | None = Field(default=None, gt=0, lt=50000, description="体重")
    head_circumference_cm: float | None = Field(default=None, gt=0, lt=80, description="頭囲")
    judgement: Judgement | None = Field(default=None, description="判定")
