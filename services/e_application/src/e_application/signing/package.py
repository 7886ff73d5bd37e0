"""The signed package: the document (canonical JSON, RFC 8785), a detached signature over those
bytes, the signer's certificate and the issuing CA's. The city's form and the national portal
(ぴったりサービス) deliver the same package; it is kept byte for byte as it arrived.

    {"format": "kitakyushu-eapp-signed/1",
     "document": base64(canonical JSON of {procedure, procedure_version, signed_at, form,
                                           my_number?, corrects?}),
     "signature": base64, "certificate": base64(DER), "intermediates": [base64(DER)]}
"""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from e_application.signing.canonical import canonical_json

FORMAT = "kitakyushu-eapp-signed/1"
MAX_PACKAGE_BYTES = 256 * 1024


class PackageError(ValueError):
    """The package cannot be read; the message says what is wrong, never a value."""


@dataclass(frozen=True)
class SignedPackage:
    raw: bytes
    document_bytes: bytes
    document: dict[str, Any]
    signature: bytes
    certificate: x509.Certificate
    intermediates: tuple[x509.Certificate, ...]


def sign_bytes(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def signature_is_valid(public_key: Any, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except InvalidSignature:
        return False
    return True


def build_package(
    document: dict[str, Any],
    *,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    intermediates: tuple[x509.Certificate, ...] = (),
) -> bytes:
    data = canonical_json(document)
    body = {
        "format": FORMAT,
        "document": base64.b64encode(data).decode(),
        "signature": base64.b64encode(sign_bytes(key, data)).decode(),
        "certificate": base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)
        ).decode(),
        "intermediates": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in intermediates
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise PackageError(f"{what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PackageError(f"{what} is not valid base64") from None


def _certificate(value: Any, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(_b64(value, what))
    except ValueError:
        raise PackageError(f"{what} is not a DER X.509 certificate") from None


def parse_package(raw: bytes) -> SignedPackage:
    if len(raw) > MAX_PACKAGE_BYTES:
        raise PackageError(f"the package is larger than {MAX_PACKAGE_BYTES} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise PackageError("the package is not JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise PackageError(f"the package is not of format {FORMAT}")
    unknown = set(body) - {"format", "document", "signature", "certificate", "intermediates"}
    if unknown:
        raise PackageError(f"the package has unknown members: {', '.join(sorted(unknown))}")
    document_bytes = _b64(body.get("document"), "document")
    try:
        document = json.loads(document_bytes)
    except (ValueError, UnicodeDecodeError):
        raise PackageError("the signed document is not JSON") from None
    if not isinstance(document, dict):
        raise PackageError("the signed document is not a JSON object")
    try:
        canonical = canonical_json(document)
    except TypeError:
        raise PackageError(
            "the signed document holds a value JSON canonicalization refuses"
        ) from None
    if canonical != document_bytes:
        raise PackageError("the signed document is not in canonical form (RFC 8785)")
    intermediates = body.get("intermediates", [])
    if not isinstance(intermediates, list) or len(intermediates) > 4:
        raise PackageError("intermediates must be a list of at most 4 certificates")
    return SignedPackage(
        raw=raw,
        document_bytes=document_bytes,
        document=document,
        signature=_b64(body.get("signature"), "signature"),
        certificate=_certificate(body.get("certificate"), "certificate"),
        intermediates=tuple(
            _certificate(c, f"intermediates[{i}]") for i, c in enumerate(intermediates)
        ),
    )
