"""Ingest throughput end to end: Segment batches over HTTP → the real ingest service → Kafka ack (acks=all),
at batch sizes 1, 100 and 500, next to a bare kafka-python producer sending the same events to the same broker
in the same run. Prints a table and writes var/bench/ingest.json.

    make bench-ingest
    BENCH_INGEST_EVENTS=10000 make bench-ingest     # events per batch size (default 30000; size 1 sends 1/10)
    BENCH_INGEST_CONCURRENCY=8 make bench-ingest    # concurrent HTTP clients (default 4)
    BENCH_INGEST_WORKERS=1 make bench-ingest        # uvicorn worker processes (INGEST_WORKERS; default 2 = cores)
    BENCH_INGEST_PROFILE=var/bench/ingest.prof make bench-ingest   # cProfile the service (python -m pstats …)

The ingest service runs as its own process (``python -m peerscore.ingest``, ``INGEST_WORKERS`` uvicorn workers)
exactly as deployed; the load generator sends pre-serialised bodies from threads in this process. Broker, service and
load generator share the machine's cores, so the figures are a lower bound for a dedicated ingest host.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from kafka import KafkaProducer
from report import measured_where, publish_result  # noqa: E402 - bench/ is on sys.path when run as a script

from peerscore.dev.broker import EmbeddedBroker, free_port
from peerscore.dev.journeys import JourneyGenerator
from peerscore.ingest.normalise import normalise_batch
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

WRITE_KEY = "bench-ingest-write-key"
SIZES = (1, 100, 500)
END = datetime(2026, 11, 1, tzinfo=UTC)
PROFILED = """
import cProfile, signal, sys
from peerscore.ingest.__main__ import main
profile = cProfile.Profile()
def dump(*_):  # uvicorn re-raises SIGTERM after its graceful shutdown: write the profile then
    profile.disable()
    profile.dump_stats({path!r})
    sys.exit(0)
signal.signal(signal.SIGTERM, dump)
profile.enable()
main()
"""


def generate(count: int) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    seed = 5
    while len(calls) < count:
        calls += JourneyGenerator(seed=seed).calls(max(10, count // 6), end=END)
        seed += 1
    for n, call in enumerate(calls):
        call["messageId"] = f"bench-{n}"
    return calls[:count]


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of the service and its worker processes (Linux ``/proc``), None elsewhere: a
    figure the noisy neighbours of a shared machine cannot inflate the way they inflate wall-clock rates."""
    try:
        pids = [pid] + [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(int(p.name)) == pid]
        ticks = sum(int(_stat(p)[11]) + int(_stat(p)[12]) for p in pids)
    except OSError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def _ppid(pid: int) -> int | None:
    try:
        return int(_stat(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def ingest_service(settings: KafkaSettings, log: Path, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {
        **os.environ,
        "PEERSCORE_ENV": "dev",
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": settings.topic_prefix,
        "KAFKA_EVENT_PARTITIONS": str(settings.event_partitions),
        "INGEST_WRITE_KEYS": f"{WRITE_KEY}:bench",
        "HTTP_PORT": str(port),
        "INGEST_WORKERS": str(workers),
    }
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        profile = os.environ.get("BENCH_INGEST_PROFILE")  # a path: cProfile the service's event-loop thread
        command = (
            [sys.executable, "-c", PROFILED.format(path=profile)]
            if profile
            else [sys.executable, "-m", "peerscore.ingest"]
        )
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=out)  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ingest did not start; see {log}")
                time.sleep(0.2)
            yield url, proc.pid
        finally:
            proc.terminate()
            proc.wait(30)


def http_run(url: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Send every body once with ``concurrency`` clients; (elapsed seconds, per-request latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    auth = httpx.BasicAuth(WRITE_KEY, "")
    headers = {"Content-Type": "application/json"}

    def worker() -> None:
        # TCP_NODELAY as the SDKs' urllib3 sets it: without it a small body waits on a delayed ACK (~40 ms).
        transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(base_url=url, auth=auth, headers=headers, timeout=60, transport=transport) as client:
            while True:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                started = time.perf_counter()
                response = client.post("/v1/batch", content=bodies[index])
                took = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:200]}")
                with lock:
                    latencies.append(took)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    return time.perf_counter() - started, latencies


def bare_producer_run(settings: KafkaSettings, topic: str, batches: list[list[tuple[bytes, bytes]]]) -> float:
    """The reference: the same events, already normalised, sent and awaited (acks=all) batch by batch."""
    producer = KafkaProducer(**settings.client_options(), acks="all", linger_ms=5, batch_size=256 * 1024)
    try:
        started = time.perf_counter()
        for batch in batches:
            futures = [producer.send(topic, key=key, value=value) for key, value in batch]
            producer.flush()
            for future in futures:
                future.get(30)
        return time.perf_counter() - started
    finally:
        producer.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    per_size = int(os.environ.get("BENCH_INGEST_EVENTS", "30000"))
    concurrency = int(os.environ.get("BENCH_INGEST_CONCURRENCY", "4"))
    workers = 1 if os.environ.get("BENCH_INGEST_PROFILE") else int(os.environ.get("BENCH_INGEST_WORKERS", "2"))
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        **measured_where(),
        "concurrency": concurrency,
        "ingest_workers": workers,
    }
    rows = []
    with EmbeddedBroker(port=free_port()) as broker:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix="bench_ingest")
        ensure_topics(settings)
        with ingest_service(settings, out / "ingest-service.log", workers) as (url, pid):
            for size in SIZES:
                count = max(size, per_size // 10 if size == 1 else per_size)
                calls = generate(count)
                chunks = [calls[i : i + size] for i in range(0, len(calls), size)]
                bodies = [orjson.dumps({"batch": chunk, "sentAt": END.isoformat()}) for chunk in chunks]
                http_run(url, bodies[: max(2, concurrency)], concurrency)  # warm-up (connections, code paths)
                print(f"batch size {size}: {len(bodies)} requests …", flush=True)
                cpu_before = cpu_seconds(pid)
                elapsed, latencies = http_run(url, bodies, concurrency)
                cpu_after = cpu_seconds(pid)
                events = normalise_batch({"batch": calls}, secret=b"bench", received_at=END)
                records = [(e.person_key.encode(), e.model_dump_json().encode()) for e in events]
                reference = bare_producer_run(
                    settings,
                    "bench_ingest.reference",
                    [records[i : i + size] for i in range(0, len(records), size)],
                )
                http_rate, bare_rate = count / elapsed, count / reference
                rows.append((size, http_rate, percentile(latencies, 50), percentile(latencies, 99), bare_rate))
                result[f"batch_{size}_events_per_s"] = round(http_rate)
                result[f"batch_{size}_p50_ms"] = round(percentile(latencies, 50) * 1000, 1)
                result[f"batch_{size}_p99_ms"] = round(percentile(latencies, 99) * 1000, 1)
                result[f"batch_{size}_bare_producer_events_per_s"] = round(bare_rate)
                result[f"batch_{size}_ratio_to_bare"] = round(http_rate / bare_rate, 3)
                if cpu_before is not None and cpu_after is not None:
                    cpu_ms = (cpu_after - cpu_before) * 1000 / count * 1000
                    result[f"batch_{size}_ingest_cpu_ms_per_1000_events"] = round(cpu_ms, 1)
                    result[f"batch_{size}_events_per_ingest_cpu_s"] = round(1_000_000 / cpu_ms) if cpu_ms else None
    result["target_batch_500_events_per_s"] = 5000
    result["target_met"] = result["batch_500_events_per_s"] >= 5000
    print("\n  batch | ingest events/s | p50 ms | p99 ms | bare producer events/s | ratio")
    for size, rate, p50, p99, bare in rows:
        line = f"  {size:>5} | {rate:>15,.0f} | {p50 * 1000:>6.1f} | {p99 * 1000:>6.1f} | {bare:>22,.0f}"
        print(f"{line} | {rate / bare:.2f}")
    publish_result("ingest", result, title="ingest (/v1/batch → Kafka ack, acks=all)")


if __name__ == "__main__":
    main()
