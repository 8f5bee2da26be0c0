"""The LinkedIn webhooks over HTTP, signed exactly as LinkedIn documents it (computed here with hmac/hashlib,
not with Peerscore's helper): challenge, signature checks, lead and social-action notifications."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from peerscore.events import EngagementEvent
from peerscore.ingest.app import create_app
from peerscore.ingest.settings import IngestConfig, LinkedInSettings
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from tests.unit.ingest.support import SECRET, RecordingPublisher, TestClient, make_settings

CLIENT_SECRET = b"li-client-secret-for-tests"
RESPONSE_URN = "urn:li:leadGenFormResponse:3f2a-77"


def li_signature(body: bytes, secret: bytes = CLIENT_SECRET) -> str:
    """LinkedIn's published algorithm: hex HMAC-SHA256, key = client secret, message = "hmacsha256=" + body."""
    return hmac.new(secret, b"hmacsha256=" + body, hashlib.sha256).hexdigest()


def li_client(publisher: RecordingPublisher, **linkedin: object) -> TestClient:
    settings = LinkedInSettings(client_secret=SecretStr(CLIENT_SECRET.decode())).model_copy(update=linkedin)
    app = create_app(
        IngestConfig(
            make_settings(),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit"),
            linkedin=settings,
        ),
        publisher=publisher,
    )
    return TestClient(app)


@pytest.fixture
def li(publisher: RecordingPublisher) -> Iterator[TestClient]:
    with li_client(publisher) as client:
        yield client


def lead_notification(action: str = "DELETED", **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "LEAD_ACTION",
        "leadGenFormResponse": RESPONSE_URN,
        "leadGenForm": "urn:li:leadGenForm:(urn:li:leadGenForm:42,1)",
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:5120"},
        "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:88"},
        "leadType": "SPONSORED",
        "leadAction": action,
        "occurredAt": 1714564800000,
    }
    body.update(extra)
    return body


def post_signed(client: TestClient, path: str, body: object, *, signature: str | None = None):  # type: ignore[no-untyped-def]
    raw = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-LI-Signature": signature or li_signature(raw)}
    return client.post(path, content=raw, headers=headers)


def published(publisher: RecordingPublisher) -> list[EngagementEvent]:
    return [EngagementEvent.model_validate_json(r.value) for r in publisher.records]


def test_challenge_is_answered_with_the_hmac_of_the_code(li: TestClient) -> None:
    code = "6b7ae9c0-3c22-4a8f-9f1d-0f6b2d9c1e11"
    response = li.get("/v1/linkedin/leads", params={"challengeCode": code, "applicationId": "78ab9"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    expected = hmac.new(CLIENT_SECRET, code.encode(), hashlib.sha256).hexdigest()
    assert response.json() == {"challengeCode": code, "challengeResponse": expected}
    social = li.get("/v1/linkedin/social-actions", params={"challengeCode": code})
    assert social.json()["challengeResponse"] == expected


def test_challenge_without_a_code_is_a_400(li: TestClient) -> None:
    response = li.get("/v1/linkedin/leads")
    assert response.status_code == 400
    assert response.json()["detail"][0]["path"] == "challengeCode"


def test_without_a_client_secret_the_endpoints_do_not_exist(publisher: RecordingPublisher) -> None:
    with li_client(publisher, client_secret=SecretStr("")) as client:
        assert client.get("/v1/linkedin/leads", params={"challengeCode": "x"}).status_code == 404
        assert post_signed(client, "/v1/linkedin/leads", lead_notification()).status_code == 404


def test_signed_deletion_is_published_with_a_deterministic_id(li: TestClient, publisher: RecordingPublisher) -> None:
    response = post_signed(li, "/v1/linkedin/leads", lead_notification("DELETED"))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "published": 1, "skipped": []}
    [event] = published(publisher)
    assert event.type == "linkedin.lead_form.deleted"
    assert event.source == "linkedin"
    assert event.event_id == f"linkedin:lead:deleted:{RESPONSE_URN}"
    assert event.properties["lead_form_response"] == RESPONSE_URN
    assert event.properties["owner"] == {"sponsoredAccount": "urn:li:sponsoredAccount:5120"}
    assert "answers" not in event.properties
    assert event.occurred_at.isoformat() == "2024-05-01T12:00:00+00:00"
    assert publisher.records[0].key == event.person_key and event.person_key.startswith("p_")


def test_duplicate_delivery_gives_the_same_event_id(li: TestClient, publisher: RecordingPublisher) -> None:
    body = lead_notification("DELETED")
    assert post_signed(li, "/v1/linkedin/leads", body).status_code == 200
    assert post_signed(li, "/v1/linkedin/leads", body).status_code == 200
    first, second = published(publisher)
    assert first.event_id == second.event_id
    assert first.person_key == second.person_key
    other = post_signed(li, "/v1/linkedin/leads", lead_notification("DELETED", leadGenFormResponse=RESPONSE_URN + "9"))
    assert other.status_code == 200
    assert published(publisher)[2].event_id != first.event_id


def test_created_without_an_access_token_is_acknowledged_and_waits_for_kafka_data(
    li: TestClient, publisher: RecordingPublisher
) -> None:
    response = post_signed(li, "/v1/linkedin/leads", lead_notification("CREATED"))
    assert response.status_code == 200
    assert response.json()["published"] == 0
    assert "Kafka" in response.json()["skipped"][0]["reason"]
    assert publisher.calls == []


@pytest.mark.parametrize("kind", ["missing", "wrong-secret", "garbage", "tampered", "non-ascii"])
def test_bad_signatures_get_401_and_nothing_is_published(
    li: TestClient, publisher: RecordingPublisher, kind: str
) -> None:
    raw = json.dumps(lead_notification()).encode()
    headers = {"Content-Type": "application/json"}
    if kind == "wrong-secret":
        headers["X-LI-Signature"] = li_signature(raw, b"another-apps-secret")
    elif kind == "garbage":
        headers["X-LI-Signature"] = "not-a-signature"
    elif kind == "tampered":
        headers["X-LI-Signature"] = li_signature(raw)
        raw = raw.replace(b"DELETED", b"CREATED")
    elif kind == "non-ascii":
        headers["X-LI-Signature"] = "é" * 64
    response = li.post("/v1/linkedin/leads", content=raw, headers={k: v.encode() for k, v in headers.items()})
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert publisher.calls == []
    social = li.post("/v1/linkedin/social-actions", content=raw, headers={"Content-Type": "application/json"})
    assert social.status_code == 401


def test_signature_over_whitespace_exact_body(li: TestClient, publisher: RecordingPublisher) -> None:
    """The HMAC covers the bytes as sent; re-serialising the JSON would break real LinkedIn signatures."""
    raw = json.dumps(lead_notification(), indent=3).encode()
    response = li.post("/v1/linkedin/leads", content=raw, headers={"X-LI-Signature": li_signature(raw)})
    assert response.status_code == 200
    assert len(publisher.records) == 1


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"type": "SOMETHING_ELSE"}, "type"),
        ({"leadAction": "UPDATED"}, "leadAction"),
        ({"leadType": "NEWSLETTER"}, "leadType"),
        ({"occurredAt": "yesterday"}, "occurredAt"),
        ({"leadGenFormResponse": None}, "leadGenFormResponse"),
        ({"leadGenFormResponse": "3f2a-77"}, "leadGenFormResponse"),
    ],
)
def test_signed_but_malformed_notification_is_a_400_with_the_field(
    li: TestClient, publisher: RecordingPublisher, change: dict[str, object], path: str
) -> None:
    response = post_signed(li, "/v1/linkedin/leads", lead_notification(**change))
    assert response.status_code == 400
    assert [d["path"] for d in response.json()["detail"]] == [path]
    assert publisher.calls == []


def test_signed_body_that_is_not_json_is_a_400(li: TestClient) -> None:
    raw = b"{not json"
    response = li.post("/v1/linkedin/leads", content=raw, headers={"X-LI-Signature": li_signature(raw)})
    assert response.status_code == 400


def test_broker_failure_is_a_503_so_linkedin_retries() -> None:
    failing = RecordingPublisher(fail=RuntimeError("no ack"))
    with li_client(failing) as client:
        response = post_signed(client, "/v1/linkedin/leads", lead_notification())
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def social_batch() -> dict[str, object]:
    base = {
        "organizationalEntity": "urn:li:organization:2414183",
        "sourcePost": "urn:li:share:7001",
        "lastModifiedAt": 1714564800000,
        "subscriber": "urn:li:person:admin1",
    }
    return {
        "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
        "notifications": [
            {**base, "notificationId": 901, "action": "LIKE", "actor": "urn:li:person:ada"},
            {
                **base,
                "notificationId": 902,
                "action": "COMMENT",
                "generatedActivity": "urn:li:comment:(urn:li:activity:7001,555)",
                "decoratedGeneratedActivity": {"comment": {"owner": "urn:li:person:bob", "text": "Great!"}},
            },
            {**base, "notificationId": 903, "action": "ADMIN_COMMENT", "actor": "urn:li:organization:2414183"},
            {**base, "notificationId": 904, "action": "SHARE", "actor": "urn:li:organization:99"},
        ],
    }


def test_social_actions_become_post_engaged_events(li: TestClient, publisher: RecordingPublisher) -> None:
    response = post_signed(li, "/v1/linkedin/social-actions", social_batch())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["published"] == 2
    assert [s["path"] for s in body["skipped"]] == ["notifications[2]", "notifications[3]"]
    like, comment = published(publisher)
    assert (like.type, like.event_id, like.properties["action"]) == (
        "linkedin.post.engaged",
        "linkedin:social:901",
        "like",
    )
    assert like.person.linkedin_member_urn == "urn:li:person:ada"
    assert like.properties["post"] == "urn:li:share:7001"
    assert comment.person.linkedin_member_urn == "urn:li:person:bob"
    assert comment.properties["action"] == "comment"
    assert "Great!" not in comment.model_dump_json()  # the comment text is not carried
    assert like.person_key != comment.person_key


def test_one_malformed_social_notification_refuses_the_batch(li: TestClient, publisher: RecordingPublisher) -> None:
    batch = social_batch()
    batch["notifications"][1]["action"] = "REACT"  # type: ignore[index]
    response = post_signed(li, "/v1/linkedin/social-actions", batch)
    assert response.status_code == 400
    assert response.json()["detail"][0]["path"] == "notifications[1].action"
    assert publisher.calls == []


def test_placeholder_linkedin_secrets_are_refused_outside_dev() -> None:
    prod = RuntimeSettings(env="prod")
    with pytest.raises(ValueError, match="LINKEDIN_CLIENT_SECRET"):
        LinkedInSettings(client_secret=SecretStr("changeme")).check(prod)
    with pytest.raises(ValueError, match="LINKEDIN_ACCESS_TOKEN"):
        LinkedInSettings(client_secret=SecretStr("a-real-secret-123"), access_token=SecretStr("secret")).check(prod)
    assert LinkedInSettings().check(prod).enabled is False  # off is always allowed
    LinkedInSettings(client_secret=SecretStr("changeme")).check(RuntimeSettings(env="dev"))


def test_the_challenge_cannot_be_used_to_sign_a_forged_notification(
    li: TestClient, publisher: RecordingPublisher
) -> None:
    """The review's attack: ask the unauthenticated challenge for HMAC("hmacsha256=" + body), then post that body
    with the answer as its X-LI-Signature. The challenge must refuse the code, and the forgery must be a 401."""
    forged = json.dumps(
        {
            "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
            "notifications": [
                {"notificationId": 66, "action": "LIKE", "actor": "urn:li:person:x", "sourcePost": "urn:li:share:1"}
            ],
        },
        separators=(",", ":"),
    ).encode()
    assert len(forged) < 200  # short enough for the old 256-character limit on challenge codes
    oracle = li.get("/v1/linkedin/social-actions", params={"challengeCode": "hmacsha256=" + forged.decode()})
    signature = oracle.json().get("challengeResponse", "")
    headers = {"Content-Type": "application/json", "X-LI-Signature": signature}
    refused = li.post("/v1/linkedin/social-actions", content=forged, headers=headers)
    assert refused.status_code == 401
    assert publisher.calls == []
    assert oracle.status_code == 400


@pytest.mark.parametrize(
    "code",
    ["x", "hmacsha256={}", "6b7ae9c0-3c22-4a8f-9f1d-0f6b2d9c1e11=", "6b7ae9c03c224a8f9f1d0f6b2d9c1e11", "é" * 36],
)
def test_only_uuid_shaped_challenge_codes_are_answered(li: TestClient, code: str) -> None:
    response = li.get("/v1/linkedin/leads", params={"challengeCode": code})
    assert response.status_code == 400
    assert response.json()["detail"][0]["path"] == "challengeCode"
