"""A demo applicant's My Number card, as the applicant client (library and CLI) holds it: the
signing and user-authentication keys and certificates the simulated authority issued, and the
two things the card does: sign an application, sign a login challenge."""

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from e_application.jpki.authority import Authority, IssuedCertificate, _key_pem, _load_key, _pem
from e_application.jpki.profile import HolderFacts
from e_application.signing.package import build_package, sign_bytes


@dataclass(frozen=True)
class Card:
    card: str
    facts: HolderFacts
    signing: IssuedCertificate
    auth: IssuedCertificate

    @classmethod
    def issue(
        cls,
        authority: Authority,
        facts: HolderFacts,
        *,
        card: str | None = None,
        **validity: datetime,
    ) -> "Card":
        """A new card: a signing certificate with the facts, a user-authentication one
        without. `validity` (not_before, not_after) applies to the signing certificate."""
        card = card or secrets.token_hex(8).upper()
        return cls(
            card=card,
            facts=facts,
            signing=authority.issue("signing", card=card, facts=facts, **validity),
            auth=authority.issue("auth", card=card),
        )

    def reissue_signing(self, authority: Authority, facts: HolderFacts) -> "Card":
        """After a change of name or address: the old signing certificate is revoked and a new
        one issued with the new facts (the card and its user-authentication certificate stay)."""
        authority.revoke("signing", self.signing.serial)
        return Card(
            card=self.card,
            facts=facts,
            signing=authority.issue("signing", card=self.card, facts=facts),
            auth=self.auth,
        )

    def sign_application(
        self,
        *,
        procedure: str,
        procedure_version: int,
        form: dict[str, Any],
        my_number: str | None = None,
        corrects: str | None = None,
        signed_at: datetime | None = None,
    ) -> bytes:
        """The signed package the city's form or the national portal sends."""
        document: dict[str, Any] = {
            "procedure": procedure,
            "procedure_version": procedure_version,
            "signed_at": (signed_at or datetime.now(UTC)).isoformat(),
            "form": form,
        }
        if my_number is not None:
            document["my_number"] = my_number
        if corrects is not None:
            document["corrects"] = corrects
        return build_package(document, key=self.signing.key, certificate=self.signing.certificate)

    def sign_challenge(self, challenge: str) -> dict[str, str]:
        """The body of `POST /applicant/sessions` for a challenge the service gave."""
        nonce = base64.b64decode(challenge)
        return {
            "certificate": base64.b64encode(
                self.auth.certificate.public_bytes(serialization.Encoding.DER)
            ).decode(),
            "signature": base64.b64encode(sign_bytes(self.auth.key, nonce)).decode(),
        }

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for purpose, issued in (("signing", self.signing), ("auth", self.auth)):
            (folder / f"{purpose}.key").write_bytes(_key_pem(issued.key))
            (folder / f"{purpose}.pem").write_bytes(_pem(issued.certificate))
        facts = {
            "card": self.card,
            "name": self.facts.name,
            "sex": self.facts.sex,
            "birth_date": self.facts.birth_date.isoformat(),
            "address": self.facts.address,
        }
        (folder / "card.json").write_text(json.dumps(facts, ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, folder: Path) -> "Card":
        meta = json.loads((folder / "card.json").read_text())

        def issued(purpose: str) -> IssuedCertificate:
            return IssuedCertificate(
                _load_key((folder / f"{purpose}.key").read_bytes()),
                x509.load_pem_x509_certificate((folder / f"{purpose}.pem").read_bytes()),
            )

        return cls(
            card=meta["card"],
            facts=HolderFacts(
                name=meta["name"],
                sex=meta["sex"],
                birth_date=date.fromisoformat(meta["birth_date"]),
                address=meta["address"],
            ),
            signing=issued("signing"),
            auth=issued("auth"),
        )
