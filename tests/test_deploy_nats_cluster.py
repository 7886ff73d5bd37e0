"""deploy/nats/cluster.conf run for real (mch_testing.nats_cluster: three nats-server
processes from the file Kubernetes mounts, only the cluster's addresses, ports, paths and
certificates replaced). The services' own client code then gets what the manifests promise:
TLS checked against the platform CA through SSL_CERT_FILE (mch-tls-env), streams kept on three
nodes (STREAM_REPLICAS=3), and a stream that keeps taking events with one node down."""

import asyncio
import json
import socket
import ssl
import time
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js.api import PubAck

from mch_common.events.bus import EventBus
from mch_testing.nats_cluster import Cluster, nats_cluster, random_passwords, stop


@pytest.fixture(scope="module")
def passwords() -> dict[str, str]:
    return random_passwords()


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, passwords: dict[str, str]
) -> Iterator[Cluster]:
    with nats_cluster(tmp_path_factory.mktemp("nats-cluster"), passwords) as running:
        yield running


@pytest.fixture
def trust_platform_ca(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """mch-tls-env's SSL_CERT_FILE: the platform CA, as the pods get it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(cluster.folder / "tls" / "ca.crt"))


@pytest.fixture
async def atena_bus(
    cluster: Cluster, trust_platform_ca: None, passwords: dict[str, str]
) -> AsyncIterator[EventBus]:
    bus = await EventBus.connect(
        f"tls://127.0.0.1:{cluster.nodes[0].client}",
        name="atena",
        user="atena",
        password=passwords["NATS_ATENA_PASSWORD"],
        stream_replicas=3,
    )
    yield bus
    await bus.close(drain=False)


async def _published(bus: EventBus, subject: str, stream: str) -> PubAck:
    """One event's ack, tried again for up to 30 s while the cluster cannot take it yet: a
    stream just made, whose interest has not reached the client's node ("no responders"), or
    a stream whose leader is being elected."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return await bus.js.publish(subject, b"{}", stream=stream, timeout=5)
        except nats.errors.Error:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_service_creates_its_stream_on_all_three_nodes_over_tls(
    atena_bus: EventBus,
) -> None:
    stream = await atena_bus.ensure_stream("atena")
    info = await atena_bus.js.stream_info(stream)
    assert info.config.num_replicas == 3
    assert info.cluster is not None
    assert info.cluster.leader
    peers = info.cluster.replicas or []
    assert len(peers) == 2
    ack = await _published(atena_bus, "atena.person.registered", stream)
    assert ack.seq >= 1


async def test_a_client_without_the_platform_ca_or_without_tls_is_refused(
    cluster: Cluster, passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = cluster.nodes[0].client
    # The server announces that it speaks nothing but TLS (a plain client is dropped).
    with socket.create_connection(("127.0.0.1", port), timeout=3) as plain:
        info = plain.recv(4096).decode()
    assert info.startswith("INFO ")
    assert json.loads(info[5:])["tls_required"] is True
    # Without the platform CA the server's certificate is not trusted.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises((ssl.SSLError, OSError, nats.errors.Error)):
        await nats.connect(
            f"tls://127.0.0.1:{port}",
            user="atena",
            password=passwords["NATS_ATENA_PASSWORD"],
            allow_reconnect=False,
            connect_timeout=3,
        )


async def test_the_stream_keeps_taking_events_with_one_node_down(
    cluster: Cluster, atena_bus: EventBus
) -> None:
    stream = await atena_bus.ensure_stream("atena")
    before = (await atena_bus.js.stream_info(stream)).state.messages
    # Not the node the service is connected to: that one's loss is the client's reconnect.
    await asyncio.to_thread(stop, cluster.nodes[2])
    # A leader on the stopped node: the other two elect a new one within seconds.
    for _ in range(5):
        ack = await _published(atena_bus, "atena.person.address_changed", stream)
        assert ack.stream == stream
    assert (await atena_bus.js.stream_info(stream)).state.messages == before + 5
