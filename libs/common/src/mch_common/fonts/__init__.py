"""Fonts shipped as package data, so that every service's PDFs render Japanese with no system
font and no font package (japanize-matplotlib brought 120 MB of matplotlib for one file).

IPAexGothic (`ipaexg.ttf`, IPAex fonts 3.01) is redistributed under the IPA Font License
Agreement v1.0, whose text ships beside it as its Article 3.2 requires."""

from pathlib import Path
from typing import Final

IPAEX_GOTHIC: Final = Path(__file__).resolve().with_name("ipaexg.ttf")
