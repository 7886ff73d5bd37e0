"""The TLS settings of deploy/k8s (ConfigMap mch-tls-env) do what the manifests say, with the
image's own entry point and the services' own clients: `serve` speaks HTTPS with the mounted
certificate, httpx trusts the platform CA through SSL_CERT_FILE (and nothing else), the image's
healthcheck passes over HTTPS, and PGSSLMODE makes the services' database engine refuse a
PostgreSQL that does not prove itself with a certificate of the platform CA."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import text

from mch_common.db import create_engine
from mch_testing.embedded import free_port
from mch_testing.nats_cluster import write_certificates

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
# A service as small as can be, served the way the image serves every service.
TINY_SERVICE = """
from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
"""


def tls_env(certificates: Path) -> dict[str, str]:
    """mch-tls-env as rendered, with the mount point /etc/mch/tls moved to `certificates`."""
    docs = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "config.yaml").read_text())
    (config,) = [d for d in docs if d["metadata"]["name"] == "mch-tls-env"]
    data: dict[str, str] = config["data"]
    assert all(value.startswith("/etc/mch/tls/") for key, value in data.items() if "FILE" in key)
    return {key: value.replace("/etc/mch/tls", str(certificates)) for key, value in data.items()}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tls.crt, tls.key and ca.crt, as cert-manager writes them (names 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("tls")
    write_certificates(folder)
    return folder


@pytest.fixture(scope="module")
def served(certificates: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """`mch-entrypoint serve` with mch-tls-env's settings, on a free port."""
    code = tmp_path_factory.mktemp("tinysvc")
    (code / "tinysvc").mkdir()
    (code / "tinysvc" / "__init__.py").write_text("")
    (code / "tinysvc" / "main.py").write_text(TINY_SERVICE)
    port = free_port()
    env = (
        os.environ
        | tls_env(certificates)
        | {
            "MCH_SERVICE": "tinysvc",
            "PORT": str(port),
            "PYTHONPATH": str(code),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        }
    )
    server = subprocess.Popen(
        ["sh", str(ENTRYPOINT), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            ["sh", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True, check=False
        ).returncode:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the entry point served nothing in 30 s"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()


async def test_serve_speaks_https_that_httpx_trusts_through_ssl_cert_file(
    served: int, certificates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_env(certificates)["SSL_CERT_FILE"])
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"https://127.0.0.1:{served}/healthz")
    assert answer.json() == {"status": "ok"}
    # Without the platform CA (httpx's default trust) the same server is refused.
    monkeypatch.delenv("SSL_CERT_FILE")
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://127.0.0.1:{served}/healthz")
    # And plain HTTP gets no answer from a TLS port.
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.HTTPError):
            await client.get(f"http://127.0.0.1:{served}/healthz")


def test_the_image_healthcheck_fails_when_nothing_serves(certificates: Path) -> None:
    env = os.environ | tls_env(certificates) | {"PORT": str(free_port())}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "healthcheck"], env=env, capture_output=True, check=False
    )
    assert done.returncode == 1
    assert b"unhealthy" in done.stderr


async def test_pgsslmode_makes_the_engine_refuse_a_database_without_the_platforms_certificate(
    postgres_server_url: str, certificates: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(postgres_server_url, pool_size=1)
    try:
        async with engine.connect() as conn:  # as configured for tests: no TLS asked
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
    for key, value in tls_env(certificates).items():
        monkeypatch.setenv(key, value)
    engine = create_engine(postgres_server_url, pool_size=1)
    try:
        # The test server either speaks no TLS or holds a certificate of another CA: either
        # way a service would not send its password to it.
        with pytest.raises((ConnectionError, OSError)):
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
