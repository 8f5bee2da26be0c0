"""``python -m peerscore.crm_sync`` configured for HubSpot by environment only: leads reach the (fake) HubSpot through
the SDK, a signed outcome webhook reaches the outcomes topic, and a placeholder token stops start-up outside dev."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from peerscore.dev.broker import free_port
from peerscore.events import ErasureRequest, Outcome, PersonIdentifiers, PersonMerged
from peerscore.identity import person_key
from peerscore.kafka_io import make_publisher, record
from peerscore.settings import KafkaSettings
from peerscore.topics import Topics
from peerscore_testkit.fake_hubspot import hubspot_server
from peerscore_testkit.fake_servers import HUBSPOT_TOKEN
from tests.conftest import unique
from tests.kafka_helpers import read_topic
from tests.processes import start_service, stop, wait_ready, wait_until
from tests.unit.crm_sync.factories import transition

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OUTCOME_SECRET = "outcome-secret-for-service-test"
KEY_SECRET = "person-key-secret-for-service-test"


def test_hubspot_configured_service_syncs_and_publishes_outcomes(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with hubspot_server() as hubspot:
        proc = start_service(
            "peerscore.crm_sync",
            {
                "PEERSCORE_ENV": "dev",
                "HTTP_PORT": str(port),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
                "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
                "CRM_GROUP_ID": unique("crm-sync"),
                "CRM_ADAPTER": "hubspot",
                "HUBSPOT_HOST": hubspot.url,
                "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
                "OUTCOMES_WEBHOOK_SECRET": OUTCOME_SECRET,
                "PEERSCORE_PERSON_KEY_SECRET": KEY_SECRET,
            },
            tmp_path / "crm-sync.log",
        )
        try:
            wait_ready(base, proc)
            publisher = make_publisher(kafka_settings, "test")
            try:
                publisher.publish([record(topics.qualified, "p_ada", transition("p_ada", 4, domain="acme.example"))])
            finally:
                publisher.close()
            wait_until(lambda: "ada@example.com" in hubspot.state.records, 60, "the contact in HubSpot", interval=0.2)
            assert hubspot.state.records["ada@example.com"]["peerscore_version"] == "4"
            # The company association is a call of its own after the contact's (retried alone if it fails).
            wait_until(lambda: len(hubspot.state.extra.get("associations", [])) == 1, 30, "the association")

            body = json.dumps({"event_id": "o-1", "email": "ada@example.com", "kind": "won"}).encode()
            ts = str(int(time.time()))
            sig = "sha256=" + hmac.new(OUTCOME_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers = {"X-Peerscore-Timestamp": ts, "X-Peerscore-Signature": sig}
            assert httpx.post(f"{base}/v1/crm/outcomes/webhook", content=body, headers=headers).status_code == 200
        finally:
            stop(proc)
    [(key, value)] = read_topic(kafka_settings, topics.outcomes, expect=1)
    expected_key = person_key(PersonIdentifiers(email="ada@example.com"), KEY_SECRET.encode())
    assert key == expected_key and Outcome.model_validate_json(value).kind == "won"
    assert "ada@example.com" not in (tmp_path / "crm-sync.log").read_text()


def test_placeholder_hubspot_token_stops_start_up_outside_dev(tmp_path: Path) -> None:
    env = {
        "PEERSCORE_ENV": "prod",
        "CRM_ADAPTER": "hubspot",
        "HUBSPOT_ACCESS_TOKEN": "changeme",
        "PEERSCORE_API_TOKEN": "a-real-api-token-1",
        "PEERSCORE_PERSON_KEY_SECRET": "a-real-key-secret-1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "peerscore.crm_sync"],
        env={**os.environ, **env},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and b"HUBSPOT_ACCESS_TOKEN is a placeholder" in done.stderr


def test_merges_and_erasures_reach_hubspot_through_the_service(
    kafka_settings: KafkaSettings, topics: Topics, tmp_path: Path
) -> None:
    """Two people synced as two contacts; scoring's merge notice leaves one (HubSpot's merge API), and the erasure
    of the merged person GDPR-deletes it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    merged_at = datetime.now(UTC)
    with hubspot_server() as hubspot:
        proc = start_service(
            "peerscore.crm_sync",
            {
                "PEERSCORE_ENV": "dev",
                "HTTP_PORT": str(port),
                "DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}",
                "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
                "KAFKA_TOPIC_PREFIX": kafka_settings.topic_prefix,
                "CRM_GROUP_ID": unique("crm-sync"),
                "CRM_ADAPTER": "hubspot",
                "HUBSPOT_HOST": hubspot.url,
                "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
            },
            tmp_path / "crm-sync.log",
        )
        publisher = make_publisher(kafka_settings, "test")
        try:
            wait_ready(base, proc)
            publisher.publish(
                [
                    record(topics.qualified, "p_anon", transition("p_anon", 2, email="ada@forms.example")),
                    record(topics.qualified, "p_user", transition("p_user", 3, email="ada@acme.example")),
                ]
            )
            wait_until(lambda: len(hubspot.state.records) == 2, 60, "two contacts in HubSpot", interval=0.2)
            notice = PersonMerged(merge_id="m-1", source_key="p_anon", target_key="p_user", merged_at=merged_at)
            publisher.publish([record(topics.merges, "p_user", notice)])
            wait_until(lambda: len(hubspot.state.records) == 1, 60, "one contact after the merge", interval=0.2)
            [(primary, retired, merged)] = hubspot.state.extra["merges"]
            assert hubspot.state.records["ada@acme.example"]["_id"] == merged

            erasure = ErasureRequest(request_id="r-1", person_key="p_user", requested_at=merged_at, erased_at=merged_at)
            publisher.publish([record(topics.erasure, "p_user", erasure)])
            wait_until(lambda: not hubspot.state.records, 60, "the contact GDPR-deleted", interval=0.2)
            assert hubspot.state.extra["gdpr_deleted"] == [merged]
        finally:
            publisher.close()
            stop(proc)
