"""Lead data fetched from the LinkedIn REST API, against a strict local fake of ``leadFormResponses`` and
``leadForms`` on 127.0.0.1 (no internet): mapping of predefined fields, consent, errors and caching."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from peerscore.consent import opted_out
from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.app import create_app
from peerscore.ingest.linkedin.leads import lead_response_key
from peerscore.ingest.settings import IngestConfig, LinkedInSettings
from peerscore.settings import IdentitySettings, KafkaSettings, RuntimeSettings
from tests.unit.ingest.support import SECRET, RecordingPublisher, TestClient, make_settings

CLIENT_SECRET = b"li-fetch-client-secret"
TOKEN = "li-oauth-token-for-tests"
VERSION = "202511"

FORM = {
    "id": 42,
    "content": {
        "questions": [
            {"questionId": 1, "predefinedField": "EMAIL", "name": "email"},
            {"questionId": 2, "predefinedField": "FIRST_NAME", "name": "firstName"},
            {"questionId": 3, "predefinedField": "LAST_NAME", "name": "lastName"},
            {"questionId": 4, "predefinedField": "JOB_TITLE", "name": "jobTitle"},
            {"questionId": 5, "predefinedField": "SENIORITY", "name": "seniority"},
            {"questionId": 6, "predefinedField": "COMPANY_NAME", "name": "company"},
            {"questionId": 7, "predefinedField": "COMPANY_SIZE", "name": "companySize"},
            {"questionId": 8, "predefinedField": "INDUSTRY", "name": "industry"},
            {"questionId": 9, "predefinedField": "COUNTRY", "name": "country"},
            {"questionId": 10, "predefinedField": "PHONE_NUMBER", "name": "phone"},
            {
                "questionId": 11,
                "name": {"localized": {"en_US": "timeline"}},
                "questionDetails": {
                    "multipleChoiceQuestionDetails": {
                        "options": [
                            {"id": 1, "text": {"localized": {"en_US": "This quarter"}}},
                            {"id": 2, "text": "Later"},
                        ]
                    }
                },
            },
        ]
    },
}


def text_answer(question_id: int, answer: str) -> dict[str, Any]:
    return {"questionId": question_id, "answerDetails": {"textQuestionAnswer": {"answer": answer}}}


def lead_response(response_id: str) -> dict[str, Any]:
    return {
        "id": response_id,
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:5120"},
        "submitter": "urn:li:person:Yx9-member",
        "leadType": "SPONSORED",
        "versionedLeadGenFormUrn": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:42,1)",
        "submittedAt": 1714564700000,
        "testLead": False,
        "leadMetadata": {"sponsoredLeadMetadata": {"campaign": "urn:li:sponsoredCampaign:777"}},
        "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:88"},
        "formResponse": {
            "answers": [
                text_answer(1, "Ada.Lovelace@Acme-Analytics.com"),
                text_answer(2, "Ada"),
                text_answer(3, "Lovelace"),
                text_answer(4, "VP of Marketing"),
                text_answer(5, "VP"),
                text_answer(6, "Acme Analytics"),
                text_answer(7, "201-500"),
                text_answer(8, "Software Development"),
                text_answer(9, "United Kingdom"),
                text_answer(10, "+44 20 0000 0000"),
                {"questionId": 11, "answerDetails": {"multipleChoiceAnswer": {"options": [1]}}},
            ],
            "consentResponses": [{"consentId": 3, "accepted": True}, {"consentId": 4, "accepted": False}],
        },
    }


class FakeLinkedIn:
    """Answers like LinkedIn's REST API, and refuses calls without the bearer token and version header."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.requests.append((self.path, dict(self.headers)))
                if (
                    self.headers.get("Authorization") != f"Bearer {TOKEN}"
                    or self.headers.get("LinkedIn-Version") != VERSION
                    or self.headers.get("X-Restli-Protocol-Version") != "2.0.0"
                ):
                    return self._json(401, {"status": 401, "message": "Invalid access token"})
                if self.path == "/rest/leadForms/42":
                    return self._json(200, FORM)
                prefix = "/rest/leadFormResponses/"
                if self.path.startswith(prefix):
                    response_id = self.path.removeprefix(prefix)
                    if response_id == "gone":
                        return self._json(404, {"status": 404})
                    if response_id == "flaky":
                        return self._json(500, {"status": 500})
                    if response_id == "nobody":
                        body = lead_response(response_id)
                        body.pop("submitter")
                        body["formResponse"]["answers"] = [text_answer(4, "CTO")]
                        return self._json(200, body)
                    return self._json(200, lead_response(response_id))
                return self._json(404, {"status": 404})

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/rest"

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
def fake() -> Iterator[FakeLinkedIn]:
    server = FakeLinkedIn()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def li(fake: FakeLinkedIn, publisher: RecordingPublisher) -> Iterator[TestClient]:
    linkedin = LinkedInSettings(
        client_secret=SecretStr(CLIENT_SECRET.decode()),
        access_token=SecretStr(TOKEN),
        api_base_url=fake.base_url,
        api_version=VERSION,
    )
    app = create_app(
        IngestConfig(
            make_settings(),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit"),
            linkedin=linkedin,
        ),
        publisher=publisher,
    )
    with TestClient(app) as client:
        yield client


def notify(client: TestClient, response_id: str, action: str = "CREATED"):  # type: ignore[no-untyped-def]
    raw = json.dumps(
        {
            "type": "LEAD_ACTION",
            "leadGenFormResponse": f"urn:li:leadGenFormResponse:{response_id}",
            "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:42,1)",
            "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:5120"},
            "leadType": "SPONSORED",
            "leadAction": action,
            "occurredAt": 1714564800000,
        }
    ).encode()
    signature = hmac.new(CLIENT_SECRET, b"hmacsha256=" + raw, hashlib.sha256).hexdigest()
    return client.post("/v1/linkedin/leads", content=raw, headers={"X-LI-Signature": signature})


def test_created_lead_is_fetched_and_mapped(li: TestClient, fake: FakeLinkedIn, publisher: RecordingPublisher) -> None:
    response = notify(li, "r-100")
    assert response.status_code == 200, response.text
    assert response.json()["published"] == 1
    [event] = [EngagementEvent.model_validate_json(r.value) for r in publisher.records]
    assert event.type == "linkedin.lead_form.submitted"
    assert event.event_id == "linkedin:lead:created:urn:li:leadGenFormResponse:r-100"
    assert event.occurred_at.isoformat() == "2024-05-01T11:58:20+00:00"  # submittedAt, not the notification time
    assert event.person == PersonIdentifiers(
        email="ada.lovelace@acme-analytics.com", linkedin_member_urn="urn:li:person:Yx9-member"
    )
    assert event.person_key == person_key(PersonIdentifiers(email="ada.lovelace@acme-analytics.com"), SECRET)
    assert (event.traits.first_name, event.traits.last_name) == ("Ada", "Lovelace")
    assert (event.traits.title, event.traits.seniority, event.traits.country) == (
        "VP of Marketing",
        "VP",
        "United Kingdom",
    )
    assert event.account.name == "Acme Analytics"
    assert event.account.domain == "acme-analytics.com"
    assert event.account.employees == 201
    assert event.account.industry == "Software Development"
    assert event.properties["company_size"] == "201-500"
    assert event.properties["campaign"] == "urn:li:sponsoredCampaign:777"
    assert event.properties["test_lead"] is False
    assert event.properties["answers"] == {"timeline": "This quarter"}
    assert "+44" not in event.model_dump_json()  # unused personal data (phone) is not carried
    assert event.consent == {"linkedin_consent:3": True, "linkedin_consent:4": False, "opted_out": True}
    assert opted_out(event.consent) is True  # one declined box: not scored, not synced
    assert fake.paths() == ["/rest/leadFormResponses/r-100", "/rest/leadForms/42"]
    _, headers = fake.requests[0]
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_form_definitions_are_cached(li: TestClient, fake: FakeLinkedIn) -> None:
    assert notify(li, "r-1").status_code == 200
    assert notify(li, "r-2").status_code == 200
    assert fake.paths().count("/rest/leadForms/42") == 1


def test_lead_gone_before_the_fetch_is_acknowledged_without_an_event(
    li: TestClient, publisher: RecordingPublisher
) -> None:
    response = notify(li, "gone")
    assert response.status_code == 200
    assert response.json()["published"] == 0
    assert publisher.calls == []


def test_deleted_lead_without_data_is_keyed_by_its_response(li: TestClient, publisher: RecordingPublisher) -> None:
    assert notify(li, "gone", "DELETED").status_code == 200
    [event] = [EngagementEvent.model_validate_json(r.value) for r in publisher.records]
    assert event.type == "linkedin.lead_form.deleted"
    assert event.person_key == lead_response_key("urn:li:leadGenFormResponse:gone", SECRET)


def test_deleted_lead_still_readable_is_keyed_by_its_person(li: TestClient, publisher: RecordingPublisher) -> None:
    assert notify(li, "r-7", "DELETED").status_code == 200
    [event] = [EngagementEvent.model_validate_json(r.value) for r in publisher.records]
    assert event.person_key == person_key(PersonIdentifiers(email="ada.lovelace@acme-analytics.com"), SECRET)
    assert "answers" not in event.properties


def test_linkedin_errors_answer_503_so_the_notification_is_retried(
    li: TestClient, publisher: RecordingPublisher
) -> None:
    response = notify(li, "flaky")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert publisher.calls == []


def test_wrong_token_is_an_upstream_failure_not_a_client_error(
    fake: FakeLinkedIn, publisher: RecordingPublisher
) -> None:
    linkedin = LinkedInSettings(
        client_secret=SecretStr(CLIENT_SECRET.decode()),
        access_token=SecretStr("expired-token"),
        api_base_url=fake.base_url,
        api_version=VERSION,
    )
    app = create_app(
        IngestConfig(
            make_settings(),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit"),
            linkedin=linkedin,
        ),
        publisher=publisher,
    )
    with TestClient(app) as client:
        assert notify(client, "r-1").status_code == 503
    assert publisher.calls == []


def test_unreachable_api_is_a_503(publisher: RecordingPublisher) -> None:
    linkedin = LinkedInSettings(
        client_secret=SecretStr(CLIENT_SECRET.decode()),
        access_token=SecretStr(TOKEN),
        api_base_url="http://127.0.0.1:1/rest",
        fetch_timeout_s=1.0,
    )
    app = create_app(
        IngestConfig(
            make_settings(),
            IdentitySettings(person_key_secret=SecretStr(SECRET.decode())),
            RuntimeSettings(env="dev"),
            KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="unit"),
            linkedin=linkedin,
        ),
        publisher=publisher,
    )
    with TestClient(app) as client:
        assert notify(client, "r-1").status_code == 503


def test_lead_that_identifies_nobody_is_acknowledged_and_reported(
    li: TestClient, publisher: RecordingPublisher
) -> None:
    response = notify(li, "nobody")
    assert response.status_code == 200
    assert response.json()["published"] == 0
    assert "email" in response.json()["skipped"][0]["reason"]
    assert publisher.calls == []
    assert 'peerscore_ingest_linkedin_notifications_total{kind="lead",outcome="skipped"} 1.0' in li.get("/metrics").text
