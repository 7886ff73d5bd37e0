"""What three copies of a stream cost: JetStream publish acks per second on a stream kept on all
three nodes of deploy/'s cluster (STREAM_REPLICAS=3), against a stream kept on one node of the
same cluster, in the same run.

The cluster is deploy/nats/cluster.conf run here (mch_testing.nats_cluster: three nats-server
processes, TLS, the services' users). Events are published the way the outbox relay publishes
them: a CloudEvent envelope of about 1.6 KB with `Nats-Msg-Id`, 500 publishes awaited together.
The ceiling is the same publishing on the one-copy stream; the figure is the three-copy rate, and
the ratio what replication leaves of it. All three nodes share this machine's cores and
loopback, so the ratio says what the RAFT round trips cost, not what a network adds.
Usage: python bench/nats_replicas.py [--events N] [--rounds R]
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import result_line

from mch_common.events import CloudEvent, EventBus
from mch_testing.nats_cluster import nats_cluster, random_passwords

BATCH = 500
# About the size of a registration's envelope in atena_load (benchmarks.md: 1.6 KB).
PAYLOAD = {"person": {"name": "ベンチ 太郎", "kana": "ベンチ タロウ", "address": "x" * 1_200}}


async def publish_rate(bus: EventBus, service: str, n: int) -> float:
    stream = await bus.ensure_stream(service)
    subject = f"{service}.person.registered"
    body = CloudEvent(
        source="bench", type=f"{service}.person.registered", data=PAYLOAD, tenant="401005"
    ).to_json_bytes()
    started = time.perf_counter()
    for start in range(0, n, BATCH):
        await asyncio.gather(
            *(
                bus.js.publish(
                    subject, body, stream=stream, headers={"Nats-Msg-Id": str(uuid.uuid4())}
                )
                for _ in range(min(BATCH, n - start))
            )
        )
        done = min(start + BATCH, n)
        if done % (BATCH * 10) == 0 or done == n:
            print(f"  {service}: {done}/{n}", flush=True)
    rate = n / (time.perf_counter() - started)
    await bus.js.delete_stream(stream)
    return rate


async def measure(url: str, admin_password: str, n: int, rounds: int) -> tuple[float, float]:
    one = await EventBus.connect(url, name="bench-r1", user="admin", password=admin_password)
    three = await EventBus.connect(
        url, name="bench-r3", user="admin", password=admin_password, stream_replicas=3
    )
    try:
        single, replicated = [], []
        for round_no in range(1, rounds + 1):
            print(
                f"round {round_no}/{rounds}: one copy, then three copies, {n} events each",
                flush=True,
            )
            single.append(await publish_rate(one, "benchone", n))
            replicated.append(await publish_rate(three, "benchthree", n))
            print(
                f"  one copy {single[-1]:,.0f}/s, three copies {replicated[-1]:,.0f}/s", flush=True
            )
        return max(single), max(replicated)
    finally:
        await one.close(drain=False)
        await three.close(drain=False)


def main(n: int, rounds: int) -> None:
    passwords = random_passwords()
    with tempfile.TemporaryDirectory(prefix="bench-nats-") as folder:
        print("starting the three-node cluster of deploy/nats/cluster.conf ...", flush=True)
        with nats_cluster(Path(folder), passwords) as cluster:
            os.environ["SSL_CERT_FILE"] = str(Path(folder) / "tls" / "ca.crt")
            url = f"tls://127.0.0.1:{cluster.nodes[0].client}"
            ceiling, rate = asyncio.run(measure(url, passwords["NATS_ADMIN_PASSWORD"], n, rounds))
    print(result_line("jetstream_three_copies", rate, "events/s", ceiling=ceiling, rounds=rounds))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    main(arguments.events, arguments.rounds)
