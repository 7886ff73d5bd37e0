"""Dev and test only: service clients that stand in for another municipality's systems.

The intermediate server is a platform many municipalities share; on the dev stack only
Kitakyushu runs its own systems, and its seed plays Fukuoka City's side (its children's 符号
and checkups). `fukuoka_boshi_core` is Fukuoka's boshi_core as the platform sees it: identity
gives its tokens Fukuoka's tenant, so `make demo` can show what Fukuoka's tenant holds. The
city's own services refuse such a token (another tenant); the intermediate server walls it
into Fukuoka's rows. Outside dev and test a client of that name is an ordinary client of the
city: in production each municipality's systems authenticate with the platform themselves.
"""

from identity.config import Settings

FUKUOKA_BOSHI_CORE = "fukuoka_boshi_core"
SIMULATED_MUNICIPALITY_CLIENTS = {FUKUOKA_BOSHI_CORE: "401307"}
SIMULATION_ENVIRONMENTS = frozenset({"dev", "test"})


def tenant_of_client(client_id: str, settings: Settings) -> str:
    """The municipality a client's tokens speak for."""
    if settings.environment in SIMULATION_ENVIRONMENTS:
        return SIMULATED_MUNICIPALITY_CLIENTS.get(client_id, settings.tenant)
    return settings.tenant
