"""What ``bench/e2e.py`` sends and how it reads the result back: paced load with probe leads, then each probe's
time at every hop (ingest ack → scoring commit → outbox publish → CRM row), read from where each hop leaves it.

Every timestamp is wall-clock time on this one machine: the bench's own clock for the HTTP send and acknowledgement,
``person_state.updated_at`` for scoring, the Kafka record timestamp of the ``qualified`` transition (set by the
scoring producer when the outbox row is sent) for the publish, and ``synced_at`` of the local CRM row for crm-sync.

``updated_at`` is stamped once per batch when the handler starts writing the batch's rows, inside the transaction
that commits them: "ack → scoring commit" is the wait on Kafka and behind earlier batches plus the batch's fold,
and "scoring commit → publish" also holds the batch's writes and its commit before the outbox is sent.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from peerscore.crm_sync.models import CrmLead
from peerscore.scoring.models import PersonRow

BATCH = 100
HOPS = ("ingest_http", "ack_to_scoring_commit", "scoring_commit_to_publish", "publish_to_crm_row")


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


PROBE_EVENTS = len(probe_calls(0))


@dataclass(frozen=True)
class ProbeSent:
    sent: float
    """Wall-clock time the request left the bench."""
    acked: float
    """Wall-clock time of ingest's HTTP 200 (the events are on Kafka, acks=all)."""


class Load:
    """Paced senders: background journeys at the offered rate, and probe leads, each on its own thread."""

    def __init__(self, url: str, write_key: str, background: list[dict[str, Any]]) -> None:
        self.url = url
        self.write_key = write_key
        self.background = background
        self.accepted_events = 0
        self.failed_requests = 0
        self.probes: dict[str, ProbeSent] = {}  # probe email → when it was sent and acknowledged
        self._lock = threading.Lock()

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
        with httpx.Client(base_url=self.url, auth=(self.write_key, ""), timeout=30) as http:
            start = time.monotonic()
            for i in range(0, len(self.background), BATCH):
                self._post(http, self.background[i : i + BATCH])
                delay = start + (i // BATCH + 1) * interval - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    def run_probes(self, seconds: float, per_s: float) -> None:
        with httpx.Client(base_url=self.url, auth=(self.write_key, ""), timeout=30) as http:
            start, n = time.monotonic(), 0
            while time.monotonic() - start < seconds:
                calls = probe_calls(n)
                sent = time.time()
                if self._post(http, calls):
                    self.probes[str(calls[0]["traits"]["email"])] = ProbeSent(sent, time.time())
                n += 1
                delay = start + n / per_s - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


def crm_rows(crm_db: Engine, emails: list[str], seen: dict[str, float]) -> None:
    """Add to ``seen`` the ``synced_at`` of probes whose local CRM row appeared since the last look.

    A row holds its newest synced version: a probe's lead is updated later (its account's score moves when another
    probe of the same company arrives), so only the first look at a row tells when it was first synced. Polled
    every half second while the load runs."""
    missing = [e for e in emails if e not in seen]
    if not missing:
        return
    with Session(crm_db) as s:
        rows = s.exec(select(CrmLead.email, CrmLead.synced_at).where(col(CrmLead.email).in_(missing))).all()
    seen.update({email: at.timestamp() for email, at in rows})


def scoring_rows(scoring_db: Engine, emails: list[str]) -> dict[str, tuple[str, float]]:
    """Each probe's person key and the time its last batch was committed (``updated_at``; probes are idle once
    qualified, so that is the batch that qualified them)."""
    with Session(scoring_db) as s:
        rows = s.exec(
            select(PersonRow.email, PersonRow.person_key, PersonRow.updated_at).where(col(PersonRow.email).in_(emails))
        ).all()
    return {str(email): (key, at.timestamp()) for email, key, at in rows}


def published(bootstrap: str, topic: str, wanted: set[str], timeout_s: float = 30.0) -> dict[str, float]:
    """Kafka timestamp of the first ``qualified`` transition of each wanted person key (the outbox publish)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        first: dict[str, float] = {}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and len(first) < len(wanted):
            batch = consumer.poll(timeout_ms=1000)
            if not batch:
                break
            for records in batch.values():
                for r in records:
                    body = json.loads(r.value or b"{}")
                    key = body.get("person_key")
                    if key in wanted and body.get("kind") == "qualified":
                        first[key] = min(first.get(key, r.timestamp / 1000), r.timestamp / 1000)
        return first
    finally:
        consumer.close()


def probe_hops(
    probes: dict[str, ProbeSent],
    scored: dict[str, tuple[str, float]],
    publishes: dict[str, float],
    synced: dict[str, float],
) -> dict[str, dict[str, float]]:
    """Per probe that reached the CRM: end to end (ack → CRM row) and each hop in seconds. A probe whose
    intermediate stamps are missing or out of order (its person row was written again after it qualified) keeps
    only its end-to-end figure."""
    out: dict[str, dict[str, float]] = {}
    for email, sent in probes.items():
        if email not in synced:
            continue
        row = {"end_to_end": synced[email] - sent.acked, "ingest_http": sent.acked - sent.sent}
        commit, publish = (scored[email][1], publishes.get(scored[email][0])) if email in scored else (0.0, None)
        if publish is not None and sent.acked <= commit <= publish <= synced[email]:  # else re-stamped later
            row |= {
                "ack_to_scoring_commit": commit - sent.acked,
                "scoring_commit_to_publish": publish - commit,
                "publish_to_crm_row": synced[email] - publish,
            }
        out[email] = row
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def distribution(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_s": None, "p99_s": None, "max_s": None}
    return {
        "p50_s": round(statistics.median(values), 3),
        "p99_s": round(percentile(values, 0.99), 3),
        "max_s": round(max(values), 3),
    }


def hop_report(hops: dict[str, dict[str, float]]) -> dict[str, Any]:
    """p50/p99/max of each hop, and for the slowest tenth of probes (by end to end) the mean of each hop: the
    hop that dominates the tail."""
    report: dict[str, Any] = {h: distribution([r[h] for r in hops.values() if h in r]) for h in HOPS}
    report["probes_with_every_hop"] = sum(all(h in r for h in HOPS) for r in hops.values())
    slow = sorted(hops.values(), key=lambda r: r["end_to_end"])[-max(1, len(hops) // 10) :] if hops else []
    complete = [r for r in slow if all(h in r for h in HOPS)]
    if complete:
        means = {h: round(statistics.fmean(r[h] for r in complete), 3) for h in HOPS}
        report["slowest_tenth_mean_s"] = means
        report["slowest_tenth_dominant_hop"] = max(means, key=lambda h: means[h])
    return report


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the resident-set high-water mark of a live process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def consumer_batches(base_url: str) -> dict[str, Any]:
    """The service's main consumer loop as its metrics tell it: batches, records per batch, time per batch (the
    loop of the group named like the service; erasure/merge/outcome loops have their own group labels)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in {
                "peerscore_consumer_batch_seconds_sum",
                "peerscore_consumer_batch_seconds_count",
                "peerscore_consumer_messages_total",
            }:
                group = sample.labels.get("group", "")
                if not group.endswith(("-erasure", "-merges", "-outcomes")):
                    sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
    count = sums.get("peerscore_consumer_batch_seconds_count", 0.0)
    handled = sums.get("peerscore_consumer_messages_total", 0.0)
    return {
        "batches": int(count),
        "records_per_batch": round(handled / count, 1) if count else None,
        "mean_batch_s": round(sums.get("peerscore_consumer_batch_seconds_sum", 0.0) / count, 4) if count else None,
    }


def state_size(scoring_db: Engine, database_file: Path) -> dict[str, Any]:
    """What scoring stores per person: the JSON state document (and score), and the whole database file per person."""
    with Session(scoring_db) as s:
        people, state, score = s.exec(
            select(
                func.count(),
                func.coalesce(func.avg(func.length(PersonRow.state)), 0),
                func.coalesce(func.avg(func.length(PersonRow.score)), 0),
            ).select_from(PersonRow)
        ).one()
    files = [database_file, *database_file.parent.glob(database_file.name + "-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    return {
        "people": int(people),
        "state_json_bytes_per_person": round(float(state)),
        "score_json_bytes_per_person": round(float(score)),
        "scoring_db_bytes_per_person": round(size / people) if people else None,
    }
