"""Wires a token verifier and the revocation watcher into a service's lifespan."""

from fastapi import FastAPI

from mch_common.auth.revocation import RevocationList, RevocationWatcher
from mch_common.auth.verifier import TokenVerifier
from mch_common.events.bus import EventBus


async def start_auth(
    app: FastAPI, bus: EventBus, *, verifier: TokenVerifier, revocations: RevocationList
) -> None:
    """`revocations` is what the watcher fills from identity's events, for the verifier to
    consult. Keys are fetched lazily on the first request: identity verifies its own tokens
    too and is not serving its JWKS yet while it starts."""
    watcher = RevocationWatcher(bus, revocations)
    try:
        await watcher.start()
    except BaseException:
        await watcher.stop()
        await verifier.close()
        raise
    app.state.revocations = revocations
    app.state.verifier = verifier
    app.state.revocation_watcher = watcher


async def stop_auth(app: FastAPI) -> None:
    watcher: RevocationWatcher | None = getattr(app.state, "revocation_watcher", None)
    if watcher is not None:
        await watcher.stop()
    verifier: TokenVerifier | None = getattr(app.state, "verifier", None)
    if verifier is not None:
        await verifier.close()
