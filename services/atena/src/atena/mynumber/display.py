"""Showing a person's My Number: in clear only to a caller holding atena:mynumber:read."""

from atena.context import RegistryContext
from atena.persons.repository import PersonView
from mch_common.mynumber import EncryptedMyNumber, mask_my_number

SCOPE_MY_NUMBER_READ = "atena:mynumber:read"


def shown_my_number(ctx: RegistryContext, view: PersonView) -> tuple[bool, str | None, str]:
    """(has a My Number, the number as the caller may see it, how it was shown: for the access
    record)."""
    if view.my_number_key_id is None or view.my_number_ciphertext is None:
        return False, None, "none"
    number = ctx.vault.decrypt(
        EncryptedMyNumber(view.my_number_key_id, view.my_number_ciphertext),
        aad=view.person_no.encode(),
    )
    if ctx.principal.has_scope(SCOPE_MY_NUMBER_READ):
        return True, number, "revealed"
    return True, mask_my_number(number), "masked"
