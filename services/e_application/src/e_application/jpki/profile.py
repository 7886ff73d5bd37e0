"""What a signing certificate carries, as the verifier and the simulated authority both read it.

JPKI's signing certificate (署名用電子証明書) carries the holder's four basic facts (name,
birth date, sex, address) in the subjectAltName as otherName entries; the user-authentication
certificate (利用者証明用電子証明書) carries none. The object identifiers below stand for JPKI's
(documented here, not J-LIS's registered arc). The card id (the same on both certificates of one
card) stands for J-LIS's serial-number link service, which tells a relying party that a
user-authentication certificate and a signing certificate belong to the same card.
"""

from dataclasses import dataclass
from datetime import date

from cryptography import x509
from cryptography.x509.oid import NameOID

_ARC = "1.2.392.200149.8.5.5"
OID_NAME = x509.ObjectIdentifier(f"{_ARC}.1")
OID_NAME_KANA = x509.ObjectIdentifier(f"{_ARC}.2")
OID_SEX = x509.ObjectIdentifier(f"{_ARC}.3")
OID_BIRTH_DATE = x509.ObjectIdentifier(f"{_ARC}.4")
OID_ADDRESS = x509.ObjectIdentifier(f"{_ARC}.5")
# Certificate policies: which kind of certificate this is.
POLICY_SIGNING = x509.ObjectIdentifier(f"{_ARC}.100.1")
POLICY_USER_AUTH = x509.ObjectIdentifier(f"{_ARC}.100.2")

SEX_CODES = {"1": "male", "2": "female"}  # JPKI's codes (JIS X 0303 style)


@dataclass(frozen=True)
class HolderFacts:
    """The four basic facts (4情報) as the signing certificate states them."""

    name: str
    sex: str  # male | female
    birth_date: date
    address: str


def utf8_der(text: str) -> bytes:
    """DER of a UTF8String (tag 12): the value of an otherName."""
    raw = text.encode()
    length = len(raw)
    if length < 0x80:
        head = bytes([length])
    else:
        size = (length.bit_length() + 7) // 8
        head = bytes([0x80 | size]) + length.to_bytes(size, "big")
    return b"\x0c" + head + raw


def utf8_from_der(der: bytes) -> str:
    if len(der) < 2 or der[0] != 0x0C:
        raise ValueError("otherName value is not a UTF8String")
    length = der[1]
    offset = 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(der[2 : 2 + size], "big")
        offset = 2 + size
    if offset + length != len(der):
        raise ValueError("otherName value has a bad length")
    return der[offset:].decode()


def facts_san(facts: HolderFacts) -> x509.SubjectAlternativeName:
    sex_code = {v: k for k, v in SEX_CODES.items()}[facts.sex]
    values = (
        (OID_NAME, facts.name),
        (OID_SEX, sex_code),
        (OID_BIRTH_DATE, facts.birth_date.strftime("%Y%m%d")),
        (OID_ADDRESS, facts.address),
    )
    return x509.SubjectAlternativeName([x509.OtherName(oid, utf8_der(v)) for oid, v in values])


def read_facts(certificate: x509.Certificate) -> HolderFacts | None:
    """The holder's facts, or None when the certificate carries none (a user-authentication
    certificate, or a malformed one)."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    found: dict[str, str] = {}
    for other in san.get_values_for_type(x509.OtherName):
        try:
            found[other.type_id.dotted_string] = utf8_from_der(other.value)
        except ValueError:
            return None
    try:
        born = found[OID_BIRTH_DATE.dotted_string]
        return HolderFacts(
            name=found[OID_NAME.dotted_string],
            sex=SEX_CODES[found[OID_SEX.dotted_string]],
            birth_date=date(int(born[:4]), int(born[4:6]), int(born[6:8])),
            address=found[OID_ADDRESS.dotted_string],
        )
    except (KeyError, ValueError):
        return None


def card_id(certificate: x509.Certificate) -> str | None:
    """The card both certificates of one My Number card name (subject serialNumber)."""
    values = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


def policies(certificate: x509.Certificate) -> set[str]:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return set()
    return {p.policy_identifier.dotted_string for p in ext}
