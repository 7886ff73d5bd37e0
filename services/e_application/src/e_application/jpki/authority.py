"""The simulated certificate authority: a root, a signing CA and a user-authentication CA, each
issuing CA with its CRL, kept in a folder (keys, certificates, CRLs, the revoked serials).

`trust_entry()` is what the e-application service is configured with for this authority: its
CA certificates and CRL files, never its keys.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from e_application.jpki.profile import (
    POLICY_SIGNING,
    POLICY_USER_AUTH,
    HolderFacts,
    facts_san,
)

Purpose = Literal["signing", "auth"]
PURPOSES: tuple[Purpose, ...] = ("signing", "auth")
CRL_LIFETIME = timedelta(days=2)


def _name(common_name: str, organization: str, serial: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial is not None:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(data: bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the simulated authority uses EC keys")
    return key


def _ca_certificate(
    *,
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    now: datetime,
    path_length: int | None,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )


@dataclass(frozen=True)
class IssuedCertificate:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @property
    def serial(self) -> int:
        return self.certificate.serial_number


class Authority:
    """One certificate authority (e.g. JPKI, or a private CA) kept in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        meta = json.loads((folder / "authority.json").read_text())
        self.name: str = meta["name"]
        self.root = x509.load_pem_x509_certificate((folder / "root.pem").read_bytes())
        self._cas = {
            purpose: (
                x509.load_pem_x509_certificate((folder / f"{purpose}-ca.pem").read_bytes()),
                _load_key((folder / f"{purpose}-ca.key").read_bytes()),
            )
            for purpose in PURPOSES
        }

    @classmethod
    def create(
        cls, folder: Path, *, name: str, organization: str, now: datetime | None = None
    ) -> "Authority":
        """A new authority: a root and the two issuing CAs, with empty CRLs."""
        now = now or datetime.now(UTC)
        folder.mkdir(parents=True, exist_ok=True)
        root_key = ec.generate_private_key(ec.SECP256R1())
        root_name = _name(f"{name} Root CA", organization)
        root = _ca_certificate(
            subject=root_name,
            key=root_key,
            issuer=root_name,
            issuer_key=root_key,
            now=now,
            path_length=1,
        )
        (folder / "root.pem").write_bytes(_pem(root))
        titles = {"signing": "Signing CA (署名用)", "auth": "User Authentication CA (利用者証明用)"}
        for purpose in PURPOSES:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _ca_certificate(
                subject=_name(f"{name} {titles[purpose]}", organization),
                key=key,
                issuer=root_name,
                issuer_key=root_key,
                now=now,
                path_length=0,
            )
            (folder / f"{purpose}-ca.pem").write_bytes(_pem(cert))
            (folder / f"{purpose}-ca.key").write_bytes(_key_pem(key))
            (folder / f"{purpose}-revoked.json").write_text("[]")
        (folder / "authority.json").write_text(json.dumps({"name": name}, ensure_ascii=False))
        authority = cls(folder)
        for purpose in PURPOSES:
            authority.publish_crl(purpose, now=now)
        return authority

    @classmethod
    def open_or_create(cls, folder: Path, *, name: str, organization: str) -> "Authority":
        if (folder / "authority.json").exists():
            return cls(folder)
        return cls.create(folder, name=name, organization=organization)

    def ca_certificate(self, purpose: Purpose) -> x509.Certificate:
        return self._cas[purpose][0]

    def crl_path(self, purpose: Purpose) -> Path:
        return self.folder / f"{purpose}-ca.crl"

    def trust_entry(self, purpose: Purpose) -> dict[str, Any]:
        """This CA as the e-application service's configuration names it."""
        return {
            "name": f"{self.name} ({purpose})",
            "purpose": purpose,
            "certificates": [
                str(self.folder / f"{purpose}-ca.pem"),
                str(self.folder / "root.pem"),
            ],
            "crl": str(self.crl_path(purpose)),
        }

    def issue(
        self,
        purpose: Purpose,
        *,
        card: str,
        facts: HolderFacts | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> IssuedCertificate:
        """A holder's certificate: the signing one carries the four facts, the user-
        authentication one none of them. Both name the card."""
        if (purpose == "signing") != (facts is not None):
            raise ValueError("a signing certificate carries the facts, an auth one does not")
        ca_cert, ca_key = self._cas[purpose]
        now = datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{purpose}-{card}", self.name, serial=card))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(minutes=5))
            .not_valid_after(not_after or now + timedelta(days=5 * 365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=purpose == "signing",
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.CertificatePolicies(
                    [
                        x509.PolicyInformation(
                            POLICY_SIGNING if purpose == "signing" else POLICY_USER_AUTH, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        if facts is not None:
            builder = builder.add_extension(facts_san(facts), critical=False)
        return IssuedCertificate(key, builder.sign(ca_key, hashes.SHA256()))

    def revoke(self, purpose: Purpose, serial: int, *, now: datetime | None = None) -> None:
        """Revoke (a signing certificate is revoked when the holder's name or address changes)
        and publish the new CRL."""
        path = self.folder / f"{purpose}-revoked.json"
        revoked: list[int] = json.loads(path.read_text())
        if serial not in revoked:
            revoked.append(serial)
            path.write_text(json.dumps(revoked))
        self.publish_crl(purpose, now=now)

    def publish_crl(
        self, purpose: Purpose, *, now: datetime | None = None
    ) -> x509.CertificateRevocationList:
        now = now or datetime.now(UTC)
        ca_cert, ca_key = self._cas[purpose]
        revoked: list[int] = json.loads((self.folder / f"{purpose}-revoked.json").read_text())
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - timedelta(minutes=1))
            .next_update(now + CRL_LIFETIME)
        )
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(now - timedelta(seconds=1))
                .build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        # Written whole, then renamed: a verifier never reads half a CRL.
        target = self.crl_path(purpose)
        partial = target.with_suffix(f".{secrets.token_hex(4)}.tmp")
        partial.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
        partial.replace(target)
        return crl
