"""End to end at a fixed offered load: Segment batches over HTTP → ingest → Kafka → scoring → crm-sync → the local
CRM, with the three real service processes on the embedded broker and SQLite (what ``make run`` starts).

Sending starts only once every service's ``/readyz`` answers 200, which now means its consumers hold their
partitions (the group joins are done): start-up is not counted as latency. Load: generated buyer journeys at
``BENCH_E2E_RATE`` events/s (default 1,000) for ``BENCH_E2E_WARMUP_S`` (default 10) + ``BENCH_E2E_SECONDS``
(default 30). Mixed in are *probe* leads — one batch that qualifies a new person at once — ``BENCH_E2E_PROBES_PER_S``
per second (default 5); probes acknowledged during the warm-up are left out of the figures. For each probe the
send and acknowledgement times are recorded, and its latency is from ingest's HTTP 200 to its row in the local CRM,
broken down per hop (ingest ack → scoring commit → outbox publish → CRM row; see ``e2e_probes``).
Also reported: events/s accepted and scored, whether the backlog drained when the load stopped, each service's
peak memory (VmHWM) and the stored state size per person. Prints a table and writes var/bench/e2e.json.
"""

from __future__ import annotations

import os
import platform
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from e2e_probes import (  # noqa: E402 - bench/ is on sys.path when run as a script
    PROBE_EVENTS,
    Load,
    consumer_batches,
    crm_rows,
    distribution,
    hop_report,
    peak_rss_mib,
    percentile,
    probe_hops,
    published,
    scoring_rows,
    state_size,
)
from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import Engine, func, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from peerscore.db import StoredOffset, make_engine
from peerscore.dev.broker import EmbeddedBroker, free_port
from peerscore.dev.journeys import JourneyGenerator
from peerscore.dev.runner import DevStack
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

WRITE_KEY = "bench-e2e-write-key"
RATE = int(os.environ.get("BENCH_E2E_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "30"))
WARMUP_S = float(os.environ.get("BENCH_E2E_WARMUP_S", "10"))
PROBES_PER_S = float(os.environ.get("BENCH_E2E_PROBES_PER_S", "5"))
TARGET_P99_S = 1.0


def stack_env(prefix: str) -> dict[str, str]:
    return {
        "PEERSCORE_ENV": "dev",
        "KAFKA_TOPIC_PREFIX": prefix,
        "INGEST_WRITE_KEYS": f'["{WRITE_KEY}"]',
        "SCORING_GROUP_ID": f"{prefix}-scoring",
        "CRM_GROUP_ID": f"{prefix}-crm",
        "SCORING_DECAY_SWEEP_INTERVAL_S": "0",
        "PEERSCORE_LOG_LEVEL": "WARNING",
    }


def send(load: Load, total_s: float, crm_db: Engine, synced: dict[str, float]) -> tuple[float, float]:
    """Run the background and probe senders for ``total_s``; returns when the load started (monotonic, wall).
    Meanwhile probes' CRM rows are looked for every half second (into ``synced``)."""
    background_rate = RATE - PROBES_PER_S * PROBE_EVENTS
    started = time.monotonic(), time.time()
    threads = [
        threading.Thread(target=load.run_background, args=(background_rate,), daemon=True),
        threading.Thread(target=load.run_probes, args=(total_s, PROBES_PER_S), daemon=True),
    ]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) and time.monotonic() - started[0] < total_s * 4 + 60:
        time.sleep(0.5)
        crm_rows(crm_db, list(load.probes), synced)
    return started


def applied(scoring_db: Engine) -> int:
    """Records scoring has applied: the sum of its stored next offsets (every partition starts at 0)."""
    with Session(scoring_db) as s:
        return int(s.exec(select(func.coalesce(func.sum(StoredOffset.next_offset), 0))).one())


def distinct_events(scoring_db: Engine) -> int | None:
    """Distinct events scoring applied (its history rows), or None without that table. The offsets count more:
    the events topic holds duplicates of accepted events (deduplicated by scoring) or has offset gaps."""
    with Session(scoring_db) as s:
        try:
            return int(s.exec(text("SELECT count(*) FROM event_history")).one()[0])  # type: ignore[call-overload]
        except OperationalError:
            return None


def wait_drained(scoring_db: Engine, accepted: int, deadline: float, quiet_s: float = 2.0) -> tuple[int, float]:
    """Wait until scoring applied at least every accepted event and then nothing more for ``quiet_s``; returns the
    records applied and when the last of them was (monotonic). The events topic holds more records than the calls
    ingest accepted (scoring writes records of its own there, e.g. on identity merges), and Tansu's end offsets
    are not the high-water mark: the count to reach is not known exactly."""
    count, changed = applied(scoring_db), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = applied(scoring_db)
        if now != count:
            count, changed = now, time.monotonic()
        elif count >= accepted and time.monotonic() - changed >= quiet_s:
            break
    return count, changed


def load_and_measure(load: Load, work: Path, kafka: KafkaSettings) -> tuple[dict[str, Any], float]:
    """Send the load, then read every probe's hops back (waiting for the backlog and the CRM rows) and summarise.
    Probes acknowledged in the first ``WARMUP_S`` of the load are left out. Also returns how long sending took."""
    scoring_db = make_engine(f"sqlite:///{work / 'scoring.db'}")
    crm_db = make_engine(f"sqlite:///{work / 'crm.db'}")
    try:
        synced: dict[str, float] = {}
        started = send(load, WARMUP_S + SECONDS, crm_db, synced)
        sent_done = time.monotonic()
        deadline = sent_done + 300
        offsets, drained = wait_drained(scoring_db, load.accepted_events, deadline)
        scored_events = distinct_events(scoring_db)
        measured = {e: p for e, p in load.probes.items() if p.acked >= started[1] + WARMUP_S}
        emails = list(measured)
        while not set(emails) <= synced.keys() and time.monotonic() < deadline:
            crm_rows(crm_db, emails, synced)
            time.sleep(0.3)
        scored = scoring_rows(scoring_db, emails)
        publishes = published(kafka.bootstrap_servers, kafka.topics().qualified, {k for k, _ in scored.values()})
        hops = probe_hops(measured, scored, publishes, synced)
        latencies = [h["end_to_end"] for h in hops.values()]
        summary = {
            "probe_leads_sent": len(load.probes),
            "probe_leads_after_warmup": len(measured),
            "probe_leads_in_crm": len(latencies),
            **{f"latency_{k}": v for k, v in distribution(latencies).items()},
            "target_p99_s": TARGET_P99_S,
            "target_met": bool(latencies)
            and percentile(latencies, 0.99) < TARGET_P99_S
            and len(latencies) == len(measured),
            "hops": hop_report(hops),
            "scored_events": scored_events,
            "scored_events_per_s": round(scored_events / (drained - started[0]), 1) if scored_events else None,
            "events_topic_offsets_applied": offsets,
            "scoring_backlog_drained_s_after_load": round(drained - sent_done, 1),
            "stored_state": state_size(scoring_db, work / "scoring.db"),
        }
        return summary, sent_done - started[0]
    finally:
        scoring_db.dispose()
        crm_db.dispose()


def start_stack(work: Path, bootstrap: str, prefix: str, attempts: int = 3) -> tuple[DevStack, float]:
    """The three services, every ``/readyz`` 200 (consumers hold their partitions); and how long that took.

    A service that exits at start most likely lost its port to another process between :func:`_offset`'s check
    and its bind (the machine is shared): it is started again on other ports."""
    for attempt in range(1, attempts + 1):
        stack = DevStack(var=work, port_offset=_offset(), env=stack_env(prefix), log_dir=work / "logs")
        boot = time.monotonic()
        stack.start_services(bootstrap)
        try:
            stack.wait_ready(timeout=120)
            return stack, time.monotonic() - boot
        except RuntimeError:
            stack.stop()
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


def run(work: Path, broker: EmbeddedBroker) -> dict[str, Any]:
    prefix = f"e2e_{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=prefix)
    ensure_topics(kafka)
    stack, ready_s = start_stack(work, broker.bootstrap_servers, prefix)
    total_s = WARMUP_S + SECONDS
    people = max(100, int(RATE * total_s / 7))
    background = JourneyGenerator(seed=7).calls(people, end=datetime.now(UTC))
    background = background[: int((RATE - PROBES_PER_S * PROBE_EVENTS) * total_s)]
    try:
        load = Load(stack.url("ingest"), WRITE_KEY, background)
        result, send_s = load_and_measure(load, work, kafka)
        memory = {name: peak_rss_mib(proc.pid) for name, proc in stack.processes.items()}
        batches = {name: consumer_batches(stack.url(name)) for name in ("scoring", "crm-sync")}
    finally:
        stack.stop()
    return {
        "offered_events_per_s": RATE,
        "warmup_s": WARMUP_S,
        "measured_s": SECONDS,
        "services_ready_s_after_start": round(ready_s, 1),
        "accepted_events": load.accepted_events,
        "accepted_events_per_s": round(load.accepted_events / send_s, 1),
        "failed_requests": load.failed_requests,
        **result,
        **{f"peak_rss_mib_{name}": mib for name, mib in memory.items()},
        **{f"consumer_batches_{name}": b for name, b in batches.items()},
    }


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="peerscore-e2e-"))
    broker = EmbeddedBroker(port=free_port(), log_path=work / "tansu.log").start()
    try:
        result = run(work, broker)
    finally:
        broker.stop()
    result |= {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "database": "SQLite (WAL), one file per service",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    publish_result("e2e", result, "End to end: HTTP accept at ingest → row in the local CRM")


def _offset() -> int:
    """A port offset whose three service ports are free (the services use 8000/8001/8002 + offset)."""
    for _ in range(50):
        base = free_port()
        if base < 60000:
            offset = base - 8000
            try:
                for port in (base + 1, base + 2):
                    with socket.socket() as s:
                        s.bind(("127.0.0.1", port))
                return offset
            except OSError:
                continue
    raise RuntimeError("no free port range")


if __name__ == "__main__":
    main()
