"""The tracking API over HTTP with a recording publisher: auth, bodies, limits, errors, acknowledgement."""

from __future__ import annotations

import gzip
import json
import time

import orjson
import pytest

from peerscore.events import EngagementEvent
from peerscore.ingest import app as app_module
from peerscore.kafka_io import KafkaPublisher
from tests.unit.ingest.support import (
    SECOND_KEY,
    SECOND_SOURCE,
    SECRET,
    WRITE_KEY,
    RecordingPublisher,
    TestClient,
    basic,
    make_client,
    track,
)


def post_batch(client: TestClient, calls: list[dict[str, object]], **kwargs: object):  # type: ignore[no-untyped-def]
    headers = kwargs.pop("headers", basic(WRITE_KEY))
    return client.post("/v1/batch", json={"batch": calls}, headers=headers, **kwargs)  # type: ignore[arg-type]


def metric(client: TestClient, name: str, **labels: str) -> float:
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_basic_auth_batch_is_published_keyed_by_person_after_ack(
    client: TestClient, publisher: RecordingPublisher
) -> None:
    response = post_batch(client, [track(1), track(2, type="page", name="Pricing")])
    assert response.status_code == 200
    assert response.json() == {"success": True}
    [(records, wait)] = publisher.calls
    assert wait is True
    events = [EngagementEvent.model_validate_json(r.value) for r in records]
    assert [r.topic for r in records] == ["unit.events.v1"] * 2
    assert [r.key for r in records] == [e.person_key for e in events]
    assert [e.type for e in events] == ["demo.requested", "page.viewed"]
    assert metric(client, "peerscore_ingest_events_total", call="track") == 1
    assert metric(client, "peerscore_ingest_events_total", call="page") == 1


@pytest.mark.parametrize(
    ("headers", "body_key"),
    [({"X-Write-Key": SECOND_KEY}, None), ({}, WRITE_KEY), ({}, SECOND_KEY)],
    ids=["x-write-key", "body-key", "rotated-body-key"],
)
def test_other_ways_to_present_the_key(
    client: TestClient, publisher: RecordingPublisher, headers: dict[str, str], body_key: str | None
) -> None:
    body: dict[str, object] = {"batch": [track()]}
    if body_key:
        body["writeKey"] = body_key
    assert client.post("/v1/batch", json=body, headers=headers).status_code == 200
    assert len(publisher.records) == 1


@pytest.mark.parametrize(
    ("headers", "body_key"),
    [
        ({}, None),
        (basic("wrong"), None),
        ({"X-Write-Key": "wrong"}, None),
        ({}, "wrong"),
        (basic("wrong"), WRITE_KEY),
        ({"Authorization": "Basic !!not-base64"}, None),
        ({"Authorization": f"Bearer {WRITE_KEY}"}, None),
    ],
    ids=["none", "basic", "header", "body", "wrong-basic-right-body", "garbled-basic", "bearer"],
)
def test_missing_or_wrong_key_is_401_and_nothing_published(
    client: TestClient, publisher: RecordingPublisher, headers: dict[str, str], body_key: str | None
) -> None:
    body: dict[str, object] = {"batch": [track()]}
    if body_key:
        body["writeKey"] = body_key
    response = client.post("/v1/batch", json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert publisher.calls == []
    assert metric(client, "peerscore_ingest_rejected_requests_total", reason="auth") == 1


def test_gzip_body_is_accepted(client: TestClient, publisher: RecordingPublisher) -> None:
    body = gzip.compress(json.dumps({"batch": [track(1), track(2)]}).encode())
    headers = {**basic(WRITE_KEY), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post("/v1/batch", content=body, headers=headers).status_code == 200
    assert len(publisher.records) == 2


def test_gzip_bomb_is_413_without_inflating_it(client: TestClient, publisher: RecordingPublisher) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * (50 * 1024 * 1024) + b"]}")
    assert len(bomb) < 500 * 1024
    headers = {**basic(WRITE_KEY), "Content-Encoding": "gzip"}
    response = client.post("/v1/batch", content=bomb, headers=headers)
    assert response.status_code == 413
    assert publisher.calls == []


def test_broken_gzip_and_unknown_encoding(client: TestClient) -> None:
    truncated = gzip.compress(json.dumps({"batch": [track()]}).encode())[:-12]
    headers = {**basic(WRITE_KEY), "Content-Encoding": "gzip"}
    assert client.post("/v1/batch", content=truncated, headers=headers).status_code == 400
    headers["Content-Encoding"] = "br"
    assert client.post("/v1/batch", content=b"{}", headers=headers).status_code == 415


def test_single_event_over_32kb_is_413(client: TestClient, publisher: RecordingPublisher) -> None:
    big = {"blob": "x" * (32 * 1024)}
    response = post_batch(client, [track(1), track(2, properties=big), track(3), track(4, properties=big)])
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "payload_too_large"
    assert "batch[1]" in body["message"]
    assert [d["path"] for d in body["detail"]] == ["batch[1]", "batch[3]"]
    assert publisher.calls == []
    assert metric(client, "peerscore_ingest_rejected_requests_total", reason="too_large") == 1


def test_an_event_of_exactly_32kb_passes(client: TestClient) -> None:
    call = track(1, properties={"blob": ""})
    call["properties"] = {"blob": "x" * (32 * 1024 - len(orjson.dumps(call)))}
    assert len(orjson.dumps(call)) == 32 * 1024
    assert post_batch(client, [call]).status_code == 200
    call["properties"] = {"blob": call["properties"]["blob"] + "x"}  # type: ignore[index]
    assert post_batch(client, [call]).json()["detail"] == [
        {"path": "batch[0]", "message": "is larger than 32768 bytes"}
    ]


@pytest.mark.parametrize("key", [WRITE_KEY, SECOND_KEY])
def test_each_write_key_records_its_source_name(client: TestClient, publisher: RecordingPublisher, key: str) -> None:
    rudder = track(1, context={"library": {"name": "rudder-sdk"}})
    assert post_batch(client, [track(0), rudder], headers=basic(key)).status_code == 200
    assert client.post("/v1/track", json={"writeKey": key, **track(2)}).status_code == 200
    sources = [EngagementEvent.model_validate_json(r.value).source for r in publisher.records]
    if key == SECOND_KEY:
        assert sources == [SECOND_SOURCE] * 3
    else:  # an unbound key: named after the SDK family
        assert sources == ["segment", "rudderstack", "segment"]


def test_batch_over_500kb_is_413(client: TestClient, publisher: RecordingPublisher) -> None:
    calls = [track(i, properties={"blob": "x" * (30 * 1024)}) for i in range(17)]
    assert len(orjson.dumps({"batch": calls})) > 500 * 1024
    response = post_batch(client, calls)
    assert response.status_code == 413
    assert response.json()["detail"][0]["path"] == "$"
    assert publisher.calls == []


def test_more_than_2500_events_is_413(client: TestClient, publisher: RecordingPublisher) -> None:
    calls = [{"type": "track", "event": "A B", "userId": "u"}] * 2501
    response = post_batch(client, calls)
    assert response.status_code == 413
    assert [d["path"] for d in response.json()["detail"]] == ["batch"]
    assert post_batch(client, calls[:2500]).status_code == 200


def test_single_call_endpoint_over_32kb_is_413(client: TestClient) -> None:
    response = client.post("/v1/track", json=track(properties={"blob": "x" * 33_000}), headers=basic(WRITE_KEY))
    assert response.status_code == 413
    assert [d["path"] for d in response.json()["detail"]] == ["$"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"batch": NaN}'])
def test_bad_json_is_400(client: TestClient, publisher: RecordingPublisher, body: bytes) -> None:
    response = client.post("/v1/batch", content=body, headers=basic(WRITE_KEY))
    assert response.status_code == 400
    assert publisher.calls == []


def test_deep_nesting_is_400_but_32_levels_are_fine(client: TestClient) -> None:
    def nested(levels: int) -> dict[str, object]:
        value: dict[str, object] = {}
        for _ in range(levels):
            value = {"x": value}
        return value

    # body object, batch list and call object are 3 levels; properties adds 1 more, then the nesting.
    ok = post_batch(client, [track(properties=nested(28))])
    deep = post_batch(client, [track(properties=nested(29))])
    assert ok.status_code == 200
    assert deep.status_code == 400
    assert "nested" in deep.json()["message"]


def test_invalid_timestamp_is_400_with_path_and_nothing_published(
    client: TestClient, publisher: RecordingPublisher
) -> None:
    response = post_batch(client, [track(0), track(1), track(2, timestamp="2024-05-01 12:00")])
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_event"
    assert [d["path"] for d in body["detail"]] == ["batch[2].timestamp"]
    assert publisher.calls == []
    assert metric(client, "peerscore_ingest_rejected_requests_total", reason="invalid") == 1


def test_single_call_endpoints(client: TestClient, publisher: RecordingPublisher) -> None:
    auth = basic(WRITE_KEY)
    assert client.post("/v1/track", json={"userId": "u", "event": "Webinar Attended"}, headers=auth).status_code == 200
    assert (
        client.post("/v1/identify", json={"userId": "u", "traits": {"title": "CTO"}}, headers=auth).status_code == 200
    )
    assert client.post("/v1/page", json={"anonymousId": "a", "name": "Home"}, headers=auth).status_code == 200
    assert client.post("/v1/screen", json={"anonymousId": "a", "name": "Home"}, headers=auth).status_code == 200
    assert client.post("/v1/group", json={"userId": "u", "groupId": "g"}, headers=auth).status_code == 200
    wrong = client.post("/v1/page", json={"type": "track", "userId": "u", "event": "A B"}, headers=auth)
    assert (wrong.status_code, wrong.json()["detail"][0]["path"]) == (400, "type")
    types = [EngagementEvent.model_validate_json(r.value).type for r in publisher.records]
    assert types == ["webinar.attended", "identify", "page.viewed", "screen.viewed", "group"]


def test_empty_batch_is_success_without_publishing(client: TestClient, publisher: RecordingPublisher) -> None:
    assert post_batch(client, []).status_code == 200
    assert publisher.calls == []


def test_publish_failure_is_503_with_retry_after_and_nothing_accepted() -> None:
    publisher = RecordingPublisher(fail=RuntimeError("broker down"))
    with make_client(publisher) as client:
        response = post_batch(client, [track()])
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "5"
        assert response.json()["error"] == "unavailable"
        assert metric(client, "peerscore_ingest_events_total", call="track") == 0
        assert metric(client, "peerscore_ingest_rejected_requests_total", reason="unavailable") == 1


def test_unacknowledged_publish_times_out_as_503() -> None:
    publisher = RecordingPublisher(stall_s=10.0)
    try:
        with make_client(publisher, publish_timeout_s=0.2) as client:
            started = time.monotonic()
            response = post_batch(client, [track()])
            assert response.status_code == 503
            assert time.monotonic() - started < 5.0
    finally:
        publisher.released.set()


def test_lifespan_owns_a_kafka_publisher_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeProducer:
        closed = False

        def close(self, timeout: float | None = None) -> None:
            FakeProducer.closed = True

    made: list[str] = []

    def fake_make_publisher(settings: object, client_suffix: str = "producer") -> KafkaPublisher:
        made.append(client_suffix)
        return KafkaPublisher(FakeProducer())  # type: ignore[arg-type]

    monkeypatch.setattr(app_module, "make_publisher", fake_make_publisher)
    client = make_client(None)  # type: ignore[arg-type]
    with client:
        assert made == ["ingest"]
        assert not FakeProducer.closed
    assert FakeProducer.closed


def test_health_and_metrics_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503  # nothing listens on 127.0.0.1:1
    post_batch(client, [track()])
    assert "peerscore_ingest_request_seconds_count" in client.get("/metrics").text


def test_person_keys_use_the_identity_secret(client: TestClient, publisher: RecordingPublisher) -> None:
    from peerscore.events import PersonIdentifiers
    from peerscore.identity import person_key

    post_batch(client, [track(5)])
    [published] = publisher.records
    assert published.key == person_key(PersonIdentifiers(user_id="user-5"), SECRET)


def test_shutdown_survives_a_publisher_that_cannot_close(monkeypatch: pytest.MonkeyPatch) -> None:
    class StuckProducer:
        def close(self, timeout: float | None = None) -> None:
            raise TimeoutError("records still pending")

    monkeypatch.setattr(app_module, "make_publisher", lambda *_a, **_k: KafkaPublisher(StuckProducer()))  # type: ignore[arg-type]
    with make_client(None) as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200


def test_the_worker_listener_is_a_tcp_socket_so_answers_are_not_delayed() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listener's protocol is IPPROTO_TCP."""
    import socket

    from peerscore.ingest.__main__ import tcp_listener

    sock = tcp_listener("127.0.0.1", 0)
    try:
        assert (sock.family, sock.proto, sock.get_inheritable()) == (socket.AF_INET, socket.IPPROTO_TCP, True)
    finally:
        sock.close()
