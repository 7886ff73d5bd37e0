"""The trusted certificate authorities (configuration: each CA's certificates and its CRL file)
and the verification of a signed package or a signed challenge against them.

Each check's outcome is kept (`Check`), so an accepted application records how it was verified
and a refused one tells the applicant what to do."""

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from e_application.jpki.profile import (
    POLICY_SIGNING,
    POLICY_USER_AUTH,
    HolderFacts,
    card_id,
    policies,
    read_facts,
)
from e_application.signing.package import SignedPackage, signature_is_valid

# A signature dated ahead of the receiving clock by more than this is refused.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Check:
    check: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"check": self.check, "ok": self.ok, "detail": self.detail}


@dataclass
class Verification:
    checks: list[Check] = field(default_factory=list)
    facts: HolderFacts | None = None
    card: str | None = None
    serial: str | None = None
    authority: str | None = None
    signed_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, check: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(check, ok, detail))
        return ok

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


@dataclass
class _Crl:
    mtime_ns: int
    crl: x509.CertificateRevocationList


class TrustedCA:
    """One issuing CA (its certificate, then up to its self-signed root) and its CRL file."""

    def __init__(self, *, name: str, purpose: str, certificates: Sequence[Path], crl: Path) -> None:
        if purpose not in {"signing", "auth"}:
            raise ValueError(f"trusted CA {name}: purpose must be signing or auth")
        self.name = name
        self.purpose = purpose
        self.chain = [x509.load_pem_x509_certificate(p.read_bytes()) for p in certificates]
        if not self.chain:
            raise ValueError(f"trusted CA {name}: no certificate")
        self.crl_file = crl
        self._crl: _Crl | None = None

    @property
    def issuing(self) -> x509.Certificate:
        return self.chain[0]

    def crl(self) -> x509.CertificateRevocationList:
        """The CRL as the file holds it now (re-read when the file changes)."""
        mtime = os.stat(self.crl_file).st_mtime_ns
        if self._crl is None or self._crl.mtime_ns != mtime:
            self._crl = _Crl(mtime, x509.load_pem_x509_crl(self.crl_file.read_bytes()))
        return self._crl.crl


def _within(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


class TrustStore:
    def __init__(self, cas: Sequence[TrustedCA]) -> None:
        self.cas = list(cas)

    @classmethod
    def from_config(cls, config: str) -> "TrustStore":
        """`config`: a path to a JSON file, or the JSON itself: a list of
        `{"name", "purpose": "signing"|"auth", "certificates": [pem paths, issuing CA first],
        "crl": path}`."""
        text = config.strip()
        if text and not text.startswith("["):
            text = Path(text).read_text()
        entries = json.loads(text or "[]")
        return cls(
            [
                TrustedCA(
                    name=e["name"],
                    purpose=e["purpose"],
                    certificates=[Path(p) for p in e["certificates"]],
                    crl=Path(e["crl"]),
                )
                for e in entries
            ]
        )

    def _issuer_of(self, cert: x509.Certificate, purpose: str) -> TrustedCA | None:
        for ca in self.cas:
            if ca.purpose == purpose and ca.issuing.subject == cert.issuer:
                return ca
        return None

    def _chain(
        self, result: Verification, cert: x509.Certificate, purpose: str, at: datetime
    ) -> TrustedCA | None:
        ca = self._issuer_of(cert, purpose)
        kind = "signing" if purpose == "signing" else "user-authentication"
        if ca is None:
            result.add(
                "chain",
                False,
                f"the certificate is not issued by a {kind} certificate authority this service "
                "trusts (JPKI or the configured private CA); sign with your My Number card's "
                f"{kind} certificate",
            )
            return None
        try:
            cert.verify_directly_issued_by(ca.issuing)
            for child, parent in zip(ca.chain, ca.chain[1:], strict=False):
                child.verify_directly_issued_by(parent)
            root = ca.chain[-1]
            root.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            result.add(
                "chain",
                False,
                f"the certificate is not issued by a {kind} certificate authority this service "
                f"trusts (it names {ca.name} as issuer, but that CA's signature does not verify)",
            )
            return None
        result.authority = ca.name
        result.add("chain", True, f"issued by {ca.name}")
        if all(_within(c, at) for c in (cert, *ca.chain)):
            result.add("validity", True, f"valid at {at.isoformat()}")
        else:
            result.add(
                "validity",
                False,
                "the certificate was not valid when it was used (expired or not yet valid); "
                "renew the certificate on your My Number card and sign again",
            )
        return ca

    def _revocation(
        self, result: Verification, cert: x509.Certificate, ca: TrustedCA, now: datetime
    ) -> None:
        crl = ca.crl()
        if not crl.is_signature_valid(ca.issuing.public_key()):  # type: ignore[arg-type]
            result.add("revocation", False, f"the CRL of {ca.name} does not verify; retry later")
            return
        if crl.next_update_utc is not None and crl.next_update_utc < now:
            result.add("revocation", False, f"the CRL of {ca.name} is out of date; retry later")
            return
        if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
            result.add(
                "revocation",
                False,
                "the certificate has been revoked (for example after a change of name or "
                "address); renew the certificate on your My Number card and sign again",
            )
            return
        result.add(
            "revocation", True, f"not on the CRL of {ca.name} ({crl.last_update_utc.isoformat()})"
        )

    def verify_package(
        self, package: SignedPackage, *, received_at: datetime, max_age: timedelta
    ) -> Verification:
        result = Verification()
        cert = package.certificate
        result.serial = format(cert.serial_number, "x")
        signature_ok = signature_is_valid(
            cert.public_key(), package.signature, package.document_bytes
        )
        result.add(
            "signature",
            signature_ok,
            "the signature matches the document"
            if signature_ok
            else "the signature does not match the document and the certificate: the "
            "application was changed after signing or signed with another key; sign it again",
        )
        signed_at = _signed_at(package.document.get("signed_at"))
        if signed_at is None:
            result.add(
                "signing_time",
                False,
                "the document has no valid signed_at (ISO 8601 with a time zone)",
            )
            signed_at = received_at
        elif signed_at > received_at + CLOCK_SKEW or signed_at < received_at - max_age:
            result.add(
                "signing_time",
                False,
                f"the document was signed at a time not accepted (more than {max_age.days} days "
                "ago, or in the future); sign it again",
            )
        else:
            result.add("signing_time", True, f"signed at {signed_at.isoformat()}")
        result.signed_at = signed_at
        if POLICY_SIGNING.dotted_string not in policies(cert):
            result.add(
                "certificate_kind",
                False,
                "the certificate is not a signing certificate (署名用電子証明書); use the "
                "signing certificate of your My Number card",
            )
        else:
            result.add("certificate_kind", True, "a signing certificate")
        result.facts = read_facts(cert)
        result.card = card_id(cert)
        ca = self._chain(result, cert, "signing", signed_at)
        if ca is not None:
            self._revocation(result, cert, ca, received_at)
        if result.facts is None:
            result.add(
                "facts",
                False,
                "the certificate carries no readable name, sex, birth date and address",
            )
        return result

    def verify_challenge(
        self, *, certificate_der: bytes, signature: bytes, challenge: bytes, now: datetime
    ) -> Verification:
        """A user-authentication certificate and its signature over a challenge."""
        result = Verification()
        try:
            cert = x509.load_der_x509_certificate(certificate_der)
        except ValueError:
            result.add("certificate", False, "the certificate is not a DER X.509 certificate")
            return result
        result.serial = format(cert.serial_number, "x")
        signature_ok = signature_is_valid(cert.public_key(), signature, challenge)
        result.add(
            "signature",
            signature_ok,
            "the challenge is signed"
            if signature_ok
            else "the signature over the challenge does not verify",
        )
        if POLICY_USER_AUTH.dotted_string not in policies(cert):
            result.add(
                "certificate_kind",
                False,
                "the certificate is not a user-authentication certificate (利用者証明用電子証明書)",
            )
        else:
            result.add("certificate_kind", True, "a user-authentication certificate")
        result.card = card_id(cert)
        ca = self._chain(result, cert, "auth", now)
        if ca is not None:
            self._revocation(result, cert, ca, now)
        return result


def _signed_at(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def certificate_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
