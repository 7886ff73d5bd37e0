"""The signer's four facts held against the form (本人確認): the certificate's name, sex, birth
date and address must be the form's, compared after normalising width, kana, spacing, the
old/new kanji variants (mch_common.names, atena's search key), and the dash forms of
addresses."""

from datetime import date
from typing import Any

from e_application.jpki.profile import HolderFacts
from mch_common.names import search_key

# After NFKC: hyphens, dashes, the minus sign and the long vowel mark, as typed in addresses
# (「1ー2」), folded to one.
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc", "-"))
FACTS = ("name", "sex", "birth_date", "address")


def _key(text: str) -> str:
    return search_key(text).translate(_DASHES)


def differing_facts(
    facts: HolderFacts,
    *,
    form: dict[str, Any],
    identity_fields: dict[str, str],
    implied: dict[str, str],
) -> list[str]:
    """The facts (by name) on which the certificate and the application differ."""
    stated: dict[str, Any] = {fact: form.get(field) for fact, field in identity_fields.items()}
    stated.update(implied)
    differing = []
    for fact in FACTS:
        value = stated.get(fact)
        if value is None:
            continue  # the procedure neither asks nor implies it
        held = getattr(facts, fact)
        if isinstance(held, date):
            same = str(value) == held.isoformat()
        elif fact == "sex":
            same = value == held
        else:
            same = _key(str(value)) == _key(held)
        if not same:
            differing.append(fact)
    return differing
