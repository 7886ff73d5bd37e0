"""What the registry's rules need from configuration and the request: the city, the vault, the
caller and the access purpose (利用目的) written into every access record."""

from dataclasses import dataclass

from mch_common.auth.principal import Principal
from mch_common.mynumber import MyNumberVault


@dataclass(frozen=True)
class RegistryContext:
    tenant: str
    vault: MyNumberVault
    principal: Principal
    purpose: str
