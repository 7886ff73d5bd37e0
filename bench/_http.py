"""A minimal HTTP/1.1 keep-alive client for load generation.

The benches share two cores between the service under test, PostgreSQL and the load generator.
httpx spends about a millisecond of CPU per request; this client spends a few tens of
microseconds, so the figures measure the service rather than the client. It speaks only what
the benches need: one request at a time per connection, Content-Length bodies, JSON.
"""

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mch_testing.app import free_port

# Where the replicas' output goes (their JSON log lines on stdout, anything on stderr):
# nowhere unless a run is being looked into.
SERVER_LOG = os.environ.get("BENCH_SERVER_LOG", os.devnull)
# The replicas close a connection idle for 60 s (--timeout-keep-alive); the client reuses one
# only well within that, or a long run (a loaded machine) finds one closed under it.
REUSE_IDLE_SECONDS = 30


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection, as an asyncio protocol: the answer is parsed once all of it
    has arrived and handed to the waiting request in one wake-up of the event loop (a
    StreamReader read line by line took a coroutine step for each header line)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.idle_since = time.monotonic()
        self._buffer = bytearray()
        self._head: tuple[int, int, int, bool] | None = None  # status, body start, length, close
        self._waiter: asyncio.Future[tuple[Response, bool]] | None = None
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._answer()
        except (ConnectionError, ValueError, IndexError) as error:  # not an HTTP answer
            waiter.set_exception(error)
            return
        if answer is not None:
            waiter.set_result(answer)

    def _answer(self) -> tuple[Response, bool] | None:
        """The answer, once all of it has arrived; None until then."""
        if self._head is None:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = bytes(self._buffer[:end]).split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length, close = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise ConnectionError("chunked responses are not supported by this client")
            self._head = (status, end + 4, length, close)
        status, start, length, close = self._head
        if len(self._buffer) < start + length:
            return None
        body = bytes(self._buffer[start : start + length])
        del self._buffer[: start + length]
        self._head = None
        return Response(status, body), not close

    async def exchange(self, request: bytes) -> tuple[Response, bool]:
        """Send one request; returns the response and whether the connection can be reused."""
        if self._lost is not None or self.transport is None:
            raise ConnectionError("the server closed the connection")
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def encode_json(value: Any) -> bytes:
    """A request body as `LeanClient` sends it."""
    return json.dumps(value, ensure_ascii=False).encode()


class LeanClient:
    """Connections are reused (LIFO) and opened on demand; `headers` go with every request."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        fixed = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode()
        self._idle: list[_Connection] = []

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        transport, connection = await loop.create_connection(_Connection, self.host, self.port)
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        json_bytes: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """`json_bytes`: a JSON body already encoded (`encode_json`), so that a bench can
        encode its bodies before its clock starts: the load generator's encoding is not the
        service's work."""
        body = b""
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        if json_body is not None:
            json_bytes = encode_json(json_body)
        if json_bytes is not None:
            body = json_bytes
            head += b"Content-Type: application/json\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n".encode()
        connection = await self._connection()
        try:
            response, reusable = await connection.exchange(head + body)
        except BaseException:
            connection.close()
            raise
        if reusable:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()
        return response

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if time.monotonic() - connection.idle_since < REUSE_IDLE_SECONDS:
                return connection
            connection.close()
        return await self._connect()

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Response:
        return await self.request("POST", path, json_body=json, **kwargs)

    async def post_encoded(self, path: str, body: bytes, **kwargs: Any) -> Response:
        """POST a JSON body encoded beforehand (`encode_json`)."""
        return await self.request("POST", path, json_bytes=body, **kwargs)

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def __aenter__(self) -> "LeanClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def wait_ready(base_url: str, *, within: float = 120) -> None:
    """Poll /readyz until the service answers 200 (on a busy machine a replica's imports alone
    have taken 25 s)."""
    client = LeanClient(base_url)
    deadline = asyncio.get_running_loop().time() + within
    last = "no answer"
    try:
        while True:
            try:
                answer = await client.get("/readyz")
                if answer.status == 200:
                    return
                last = f"{answer.status} {answer.text[:300]}"
            except OSError as error:
                last = f"{type(error).__name__}: {error}"
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(
                    f"{base_url} did not become ready in {within:.0f} s (last: {last}; "
                    "BENCH_SERVER_LOG=<file> keeps the replicas' output)"
                )
            await asyncio.sleep(0.2)
    finally:
        await client.close()


async def run_pool(
    count: int,
    work: Callable[[int], Awaitable[object]],
    *,
    concurrency: int,
    latencies: list[float] | None = None,
) -> float:
    """work(i) for every i < count, `concurrency` at a time (each worker takes the next i as it
    finishes one, as a closed loop of callers); returns the elapsed seconds. `latencies`, if
    given, gets each call's duration in milliseconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            began = time.perf_counter()
            await work(i)
            if latencies is not None:
                latencies.append((time.perf_counter() - began) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def replica_count() -> int:
    """How many replicas a service bench runs: `BENCH_WORKERS`, else one per core less one.

    On a bench machine PostgreSQL and the load generator run on the same cores as the
    service, and a database-bound service does more with fewer processes there. Measured on
    2 cores (docs/benchmarks.md, 2026-12-05): one replica against two served about as many
    requests or more (`request_path` writes +4-15 %, keyed `idempotent_writes` +29 %) for
    18-23 % less of the replica's CPU per request and 35-52 % less of PostgreSQL's: two busy
    replicas left the database's backends waiting for a core. A CPU-bound service
    (`eapp_submit`'s signature checks) keeps one replica per core."""
    configured = os.environ.get("BENCH_WORKERS")
    if configured:
        return int(configured)
    return max(1, (os.cpu_count() or 1) - 1)


@dataclass(frozen=True)
class Replica:
    url: str
    pid: int


@contextlib.contextmanager
def service_replicas(
    factory: str, env_prefix: str, settings: Mapping[str, str], count: int
) -> Iterator[list[str]]:
    """`count` replicas of a service as deployed (see `replica_processes`); yields their base
    URLs."""
    with replica_processes(factory, env_prefix, settings, count) as replicas:
        yield [replica.url for replica in replicas]


@contextlib.contextmanager
def replica_processes(
    factory: str, env_prefix: str, settings: Mapping[str, str], count: int
) -> Iterator[list[Replica]]:
    """`count` replicas of a service as deployed: one single-worker uvicorn process each, on a
    port of its own (the client spreads its connections over them, as a balancer would; uvicorn
    --workers shares one socket and the kernel hands connections out unevenly). Yields their
    base URLs and process ids (for their CPU time); stops them afterwards."""
    env = {**os.environ, **{f"{env_prefix}{k.upper()}": v for k, v in settings.items()}}
    ports = [free_port() for _ in range(count)]
    with open(SERVER_LOG, "ab") as log:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mch_common.serve",
                    "--factory",
                    factory,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                    # Longer than any phase of a bench on a busy machine: a connection the
                    # client left idle and reuses must not meet uvicorn's close (a reset).
                    "--timeout-keep-alive",
                    "600",
                ],
                env=env,
                stdout=log,
                stderr=log,
            )
            for port in ports
        ]
        try:
            yield [
                Replica(f"http://127.0.0.1:{port}", process.pid)
                for port, process in zip(ports, processes, strict=True)
            ]
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
