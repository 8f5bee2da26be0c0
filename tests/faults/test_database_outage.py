"""The database is unreachable for 30 s under a running pipeline (scoring + crm-sync processes): the workers pause,
commit no offsets, resume by themselves, and lose nothing.

How the outage is made without stopping the shared database server:

* PostgreSQL: both services reach the server through :class:`CuttableProxy` on localhost; cutting it resets every
  open connection and refuses new ones, restoring it listens again on the same port.
* SQLite: another connection holds ``BEGIN EXCLUSIVE`` on both service files, so every write waits out its busy
  timeout and fails with "database is locked" until the lock is released.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from sqlalchemy import Engine, make_url
from sqlmodel import Session, select

from peerscore.crm_sync.models import CrmLead
from peerscore.db import make_engine
from peerscore.dev.broker import free_port
from peerscore.scoring.models import PersonRow
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from tests.conftest import unique
from tests.faults.proxy import CuttableProxy
from tests.faults.support import (
    STREAM_PEOPLE,
    StreamingProducer,
    assert_same_state,
    reference_snapshot,
    scoring_env,
    scoring_tables,
)
from tests.integration.scoring.support import applied_count, journey_events, snapshot
from tests.processes import start_service, stop, wait_until

pytestmark = [pytest.mark.faults]

OUTAGE_S = 30.0


class Outage:
    """Where the services connect, and how to take their database away and give it back."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        self.direct = {"scoring": database_url, "crm": database_url}
        self._proxy: CuttableProxy | None = None
        self._locks: list[sqlite3.Connection] = []
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            self.direct = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("scoring", "crm")}
            self.service = dict(self.direct)
        else:
            self._proxy = CuttableProxy((url.host or "127.0.0.1", url.port or 5432)).start()
            proxied = url.set(host="127.0.0.1", port=self._proxy.port).render_as_string(hide_password=False)
            self.service = {"scoring": proxied, "crm": proxied}

    @property
    def makes_unreadable(self) -> bool:
        return self._proxy is not None

    def cut(self) -> None:
        if self._proxy is not None:
            self._proxy.cut()
            return
        for name in ("scoring", "crm"):
            path = make_url(self.direct[name]).database
            conn = sqlite3.connect(str(path), isolation_level=None, timeout=30)
            conn.execute("BEGIN EXCLUSIVE")
            self._locks.append(conn)

    def restore(self) -> None:
        if self._proxy is not None:
            self._proxy.start()
        for conn in self._locks:
            conn.execute("ROLLBACK")
            conn.close()
        self._locks.clear()

    def close(self) -> None:
        if self._proxy is not None:
            self._proxy.cut()


@contextlib.contextmanager
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=bootstrap, client_id=unique("faults-admin"))
    try:
        yield client
    finally:
        client.close()


def committed(client: KafkaAdminClient, group: str) -> dict[tuple[str, int], int]:
    offsets = client.list_group_offsets({group: None}).get(group, {})
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


def ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def test_database_unreachable_for_30s_workers_pause_commit_nothing_and_resume(
    kafka_settings: KafkaSettings, topics: Topics, database_url: str, tmp_path: Path
) -> None:
    events = journey_events(people=max(STREAM_PEOPLE // 3, 200), seed=45)
    half = len(events) // 2
    outage = Outage(database_url, tmp_path)
    scoring_db: Engine = make_engine(outage.direct["scoring"])
    crm_db: Engine = make_engine(outage.direct["crm"])
    scoring_tables(scoring_db)
    scoring_group, crm_group = unique("outage-scoring"), unique("outage-crm")
    scoring_port = free_port()
    procs = {
        "scoring": start_service(
            "peerscore.scoring",
            scoring_env(kafka_settings, outage.service["scoring"], scoring_group, HTTP_PORT=str(scoring_port)),
            tmp_path / "scoring.log",
        ),
        "crm": start_service(
            "peerscore.crm_sync",
            {
                "PEERSCORE_ENV": "dev",
                "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
                "KAFKA_EVENT_PARTITIONS": str(kafka_settings.event_partitions),
                "DATABASE_URL": outage.service["crm"],
                "CRM_GROUP_ID": crm_group,
                "HTTP_PORT": str(free_port()),
            },
            tmp_path / "crm-sync.log",
        ),
    }
    try:
        StreamingProducer(kafka_settings, topics.events, events[:half]).start().join()
        wait_until(lambda: applied_count(scoring_db, scoring_group) >= half, 180, "the first half applied")
        scoring_url = f"http://127.0.0.1:{scoring_port}"
        outage.cut()
        cut_at = time.monotonic()
        try:
            stream = StreamingProducer(kafka_settings, topics.events, events[half:]).start()
            time.sleep(3.0)  # a batch that committed just before the cut may still commit its Kafka offsets
            with admin(kafka_settings.bootstrap_servers) as client:
                before = {g: committed(client, g) for g in (scoring_group, crm_group)}
                applied_before = applied_count(scoring_db, scoring_group)
                stream.join()
                if outage.makes_unreadable:
                    wait_until(lambda: not ready(scoring_url), 20, "readiness to report the database down")
                time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
                assert {g: committed(client, g) for g in (scoring_group, crm_group)} == before, "offsets moved"
            assert applied_count(scoring_db, scoring_group) == applied_before, "state moved without a database"
            assert applied_before < len(events), "the outage must land before the end of the stream"
            assert all(p.poll() is None for p in procs.values()), "a worker died during the outage"
        finally:
            outage.restore()
        wait_until(lambda: applied_count(scoring_db, scoring_group) >= len(events), 240, "everything applied")

        def crm_matches_scoring() -> bool:
            with Session(scoring_db) as s, Session(crm_db) as c:
                qualified = {p.person_key for p in s.exec(select(PersonRow).where(PersonRow.qualified))}
                mqls = {lead.person_key for lead in c.exec(select(CrmLead).where(CrmLead.status == "MQL"))}
            return bool(qualified) and qualified == mqls

        wait_until(crm_matches_scoring, 120, "every qualified lead in the local CRM", interval=0.5)
        assert all(p.poll() is None for p in procs.values()), "no restart: the same processes resumed"
        got = snapshot(scoring_db)
    finally:
        for proc in procs.values():
            stop(proc, signal.SIGTERM)
        outage.close()
        scoring_db.dispose()
        crm_db.dispose()
    assert_same_state(got, reference_snapshot(events, tmp_path / "reference.db"), events)
