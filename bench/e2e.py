"""End to end at a fixed offered load: Segment batches over HTTP → ingest → Kafka → scoring → crm-sync → the local
CRM, with the three real service processes on the embedded broker and SQLite (what ``make run`` starts).

Load: generated buyer journeys sent at ``BENCH_E2E_RATE`` events/s (default 1,000) for ``BENCH_E2E_SECONDS``
(default 30). Mixed in are *probe* leads — one batch that qualifies a new person at once — five per second; the
latency of a probe is from ingest's HTTP 200 to the ``synced_at`` of its row in the local CRM (same clock).
Also reported: the events/s actually accepted and scored, and each service's peak memory (VmHWM from /proc).
Prints a table and writes var/bench/e2e.json.
"""

from __future__ import annotations

import os
import platform
import socket
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from report import publish_result  # noqa: E402 - bench/ is on sys.path when run as a script
from sqlalchemy import func
from sqlmodel import Session, select

from peerscore.crm_sync.models import CrmLead
from peerscore.db import StoredOffset, make_engine
from peerscore.dev.broker import EmbeddedBroker, free_port
from peerscore.dev.journeys import JourneyGenerator
from peerscore.dev.runner import DevStack
from peerscore.settings import KafkaSettings
from peerscore.topics import ensure_topics

WRITE_KEY = "bench-e2e-write-key"
RATE = int(os.environ.get("BENCH_E2E_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "30"))
PROBES_PER_S = 5
BATCH = 100


def probe_calls(n: int) -> list[dict[str, Any]]:
    """A VP at a mid-size software company who looks at pricing, compares, and asks for a demo: qualifies at once."""
    who = {"userId": f"probe-{n}-{uuid.uuid4().hex[:6]}"}
    now = datetime.now(UTC)
    steps: list[dict[str, Any]] = [
        {
            "type": "identify",
            "traits": {
                "email": f"probe{n}@probe{n % 50}.example",
                "title": "VP of Marketing",
                "seniority": "vp",
                "function": "marketing",
                "company": {"name": f"Probe {n % 50}", "domain": f"probe{n % 50}.example", "employee_count": 800},
            },
        },
        {"type": "page", "properties": {"path": "/pricing"}},
        {"type": "track", "event": "Case Study Viewed"},
        {"type": "track", "event": "Review Site Visited", "properties": {"site": "g2", "page_type": "comparison"}},
        {"type": "page", "properties": {"path": "/compare/peerscore-vs-legacy"}},
        {"type": "page", "properties": {"path": "/pricing"}},
        {"type": "track", "event": "Webinar Attended"},
        {"type": "page", "properties": {"path": "/pricing"}},
        {"type": "track", "event": "Demo Requested"},
    ]
    return [
        {**who, **s, "messageId": uuid.uuid4().hex, "timestamp": (now - timedelta(minutes=9 - i)).isoformat()}
        for i, s in enumerate(steps)
    ]


class Load:
    """Paced senders: background journeys at the offered rate, and probe leads, each on its own thread."""

    def __init__(self, url: str, background: list[dict[str, Any]]) -> None:
        self.url = url
        self.background = background
        self.accepted_events = 0
        self.failed_requests = 0
        self.probes: dict[str, float] = {}  # probe email → wall-clock time of the 200
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _post(self, http: httpx.Client, calls: list[dict[str, Any]]) -> bool:
        try:
            ok = http.post("/v1/batch", json={"batch": calls}).status_code == 200
        except httpx.HTTPError:
            ok = False
        with self._lock:
            if ok:
                self.accepted_events += len(calls)
            else:
                self.failed_requests += 1
        return ok

    def run_background(self, rate: float) -> None:
        interval = BATCH / rate
        with httpx.Client(base_url=self.url, auth=(WRITE_KEY, ""), timeout=30) as http:
            start = time.monotonic()
            for i in range(0, len(self.background), BATCH):
                if self._stop.is_set():
                    return
                self._post(http, self.background[i : i + BATCH])
                delay = start + (i // BATCH + 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def run_probes(self, seconds: float) -> None:
        with httpx.Client(base_url=self.url, auth=(WRITE_KEY, ""), timeout=30) as http:
            start, n = time.monotonic(), 0
            while time.monotonic() - start < seconds and not self._stop.is_set():
                calls = probe_calls(n)
                if self._post(http, calls):
                    self.probes[str(calls[0]["traits"]["email"])] = time.time()
                n += 1
                delay = start + n / PROBES_PER_S - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the resident-set high-water mark of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="peerscore-e2e-"))
    broker = EmbeddedBroker(port=free_port(), log_path=work / "tansu.log").start()
    prefix = f"e2e_{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topic_prefix=prefix)
    ensure_topics(kafka)
    env = {
        "PEERSCORE_ENV": "dev",
        "KAFKA_TOPIC_PREFIX": prefix,
        "INGEST_WRITE_KEYS": f'["{WRITE_KEY}"]',
        "SCORING_GROUP_ID": f"{prefix}-scoring",
        "CRM_GROUP_ID": f"{prefix}-crm",
        "SCORING_DECAY_SWEEP_INTERVAL_S": "0",
        "PEERSCORE_LOG_LEVEL": "WARNING",
    }
    stack = DevStack(var=work, port_offset=_offset(), env=env, log_dir=work / "logs")
    background_people = max(100, int(RATE * SECONDS / 7))
    background = JourneyGenerator(seed=7).calls(background_people, end=datetime.now(UTC))
    background = background[: int((RATE - PROBES_PER_S * 9) * SECONDS)]
    result: dict[str, Any] = {}
    try:
        stack.start_services(broker.bootstrap_servers)
        stack.wait_ready(timeout=120)
        load = Load(stack.url("ingest"), background)
        started = time.monotonic()
        threads = [
            threading.Thread(target=load.run_background, args=(RATE - PROBES_PER_S * 9,), daemon=True),
            threading.Thread(target=load.run_probes, args=(SECONDS,), daemon=True),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS * 4 + 60)
        send_s = time.monotonic() - started
        scoring_db = make_engine(f"sqlite:///{work / 'scoring.db'}")
        crm_db = make_engine(f"sqlite:///{work / 'crm.db'}")
        expected = load.accepted_events
        deadline = time.monotonic() + 300

        def applied() -> int:
            with Session(scoring_db) as s:
                return int(s.exec(select(func.coalesce(func.sum(StoredOffset.next_offset), 0))).one())

        while applied() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        scored_s = time.monotonic() - started
        probes = dict(load.probes)
        synced: dict[str, datetime] = {}
        while len(synced) < len(probes) and time.monotonic() < deadline:
            with Session(crm_db) as s:
                rows = s.exec(select(CrmLead.email, CrmLead.synced_at).where(CrmLead.email.in_(list(probes)))).all()
            synced = {email: at for email, at in rows}
            time.sleep(0.3)
        latencies = [max(0.0, synced[e].timestamp() - probes[e]) for e in probes if e in synced]
        memory = {name: peak_rss_mib(proc.pid) for name, proc in stack.processes.items()}
        scoring_db.dispose()
        crm_db.dispose()
        result = {
            "offered_events_per_s": RATE,
            "duration_s": SECONDS,
            "accepted_events": expected,
            "accepted_events_per_s": round(expected / send_s, 1),
            "failed_requests": load.failed_requests,
            "scored_events_per_s": round(applied() / scored_s, 1),
            "scoring_backlog_drained_s_after_load": round(scored_s - send_s, 1),
            "probe_leads": len(probes),
            "probe_leads_in_crm": len(latencies),
            "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
            "latency_p99_s": round(percentile(latencies, 0.99), 3) if latencies else None,
            "latency_max_s": round(max(latencies), 3) if latencies else None,
            "target_p99_s": 2.0,
            "target_met": bool(latencies) and percentile(latencies, 0.99) < 2.0 and len(latencies) == len(probes),
            **{f"peak_rss_mib_{name}": mib for name, mib in memory.items()},
            "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
            "database": "SQLite (WAL), one file per service",
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    finally:
        stack.stop()
        broker.stop()
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
