"""CSV import without a broker: row mapping, row-level errors, all-or-nothing semantics, the upload endpoint."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from peerscore.events import EngagementEvent, PersonIdentifiers
from peerscore.identity import person_key
from peerscore.ingest.csv_import import CsvImport, ImportInterrupted, run_import
from peerscore.ingest.csv_routes import safe_upload_name
from peerscore.ingest.csv_rows import CsvFormatError, RowError, normalise_rows
from peerscore.ingest.rejections import RequestRejected
from tests.unit.ingest.support import (
    SECOND_KEY,
    SECOND_SOURCE,
    SECRET,
    WRITE_KEY,
    RecordingPublisher,
    TestClient,
    basic,
    make_client,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
GOOD = (
    "Email,First Name,Title,Company,Domain,Employees,event,timestamp,properties.asset,consent.marketing\n"
    "ada@acme.example,Ada,VP Marketing,Acme,acme.example,500,,2026-10-01T09:00:00Z,,yes\n"
    "ada@acme.example,,,,,,Content Downloaded,2026-10-02T09:00:00+02:00,pricing-guide,\n"
    "\n"
    "bo@gmail.com,Bo,Student,,,,Webinar Attended,,,no\n"
)


def job(text: str, source: str = "csv") -> CsvImport:
    return CsvImport(
        open_lines=lambda: text.splitlines(keepends=True),
        secret=SECRET,
        source=source,
        received_at=NOW,
        max_event_bytes=32 * 1024,
    )


def events_of(text: str, source: str = "csv") -> list[EngagementEvent]:
    results = list(
        normalise_rows(text.splitlines(), secret=SECRET, received_at=NOW, source=source, max_event_bytes=32768)
    )
    assert all(r.event is not None for r in results), [r.errors for r in results]
    return [r.event for r in results if r.event is not None]


def test_lead_and_event_rows_become_the_events_an_sdk_would_send() -> None:
    lead, download, student = events_of(GOOD)
    assert (lead.type, lead.source, lead.occurred_at) == ("identify", "csv", datetime(2026, 10, 1, 9, tzinfo=UTC))
    assert lead.person == PersonIdentifiers(email="ada@acme.example")
    assert lead.person_key == person_key(PersonIdentifiers(email="ada@acme.example"), SECRET)
    assert (lead.traits.first_name, lead.traits.title) == ("Ada", "VP Marketing")
    assert lead.account.model_dump(exclude_none=True) == {"domain": "acme.example", "name": "Acme", "employees": 500}
    assert lead.consent == {"marketing": True}
    assert (download.type, download.name, download.properties) == (
        "content.downloaded",
        "Content Downloaded",
        {"asset": "pricing-guide"},
    )
    assert download.person_key == lead.person_key
    assert download.occurred_at == datetime(2026, 10, 2, 7, tzinfo=UTC)
    assert student.occurred_at == NOW  # no timestamp: the import time
    assert student.account.domain is None  # free mail never makes an account
    assert student.consent == {"marketing": False}


def test_ids_are_derived_from_the_row_so_reimporting_is_idempotent() -> None:
    first = [e.event_id for e in events_of(GOOD)]
    again = [e.event_id for e in events_of(GOOD)]
    assert first == again and len(set(first)) == 3 and all(i.startswith("csv:") for i in first)
    assert [e.event_id for e in events_of(GOOD, source="crm-export")] != first
    with_ids = "email,message_id,event\nada@acme.example,evt-1,Demo Requested\n"
    assert [e.event_id for e in events_of(with_ids)] == ["evt-1"]


def test_row_errors_name_row_and_column_never_the_value() -> None:
    text = (
        "email,user_id,type,event,timestamp,consent.ads,group_id\n"
        "a@x.example,,,Demo Requested,yesterday,,\n"  # row 2: timestamp
        ",,,Demo Requested,,,\n"  # row 3: no identity
        "c@x.example,,fly,,,,\n"  # row 4: type
        "d@x.example,,,Demo Requested,,maybe,\n"  # row 5: consent flag
        "e@x.example,,group,,,,\n"  # row 6: group without group_id
        "f@x.example,only-two\n"  # row 7: field count
        "g@x.example,,track,,,,\n"  # row 8: track without event
        "ok@x.example,,,Demo Requested,,,\n"  # row 9: fine
    )
    report = job(text).validate()
    assert (report.rows, report.valid, report.invalid_rows) == (8, 1, 7)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "timestamp"),
        (3, "*"),
        (4, "type"),
        (5, "consent.ads"),
        (6, "group_id"),
        (7, "*"),
        (8, "event"),
    ]
    assert "yesterday" not in str(report.errors) and "x.example" not in str(report.errors)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("email,evnt\na@x.example,Demo\n", "evnt"),
        ("first_name,event\nAda,Demo\n", "*"),
        ("email,email\na@x.example,b@x.example\n", "email"),
        ("", "*"),
        ('email,event\na@x.example,"never closed\n', "*"),
    ],
    ids=["unknown-column", "no-identity-column", "duplicate-column", "empty", "broken-quoting"],
)
def test_file_level_problems_refuse_the_whole_file(text: str, column: str) -> None:
    with pytest.raises(CsvFormatError) as exc:
        job(text).validate()
    assert exc.value.errors[0].column == column


def test_invalid_rows_publish_nothing_unless_skip_invalid() -> None:
    text = GOOD + "bad@x.example,,,,,,Demo Requested,not-a-time,,\n"
    publisher = RecordingPublisher()
    refused = run_import(job(text), publisher, "t", skip_invalid=False, chunk_rows=2)
    assert (refused.published, refused.invalid_rows) == (0, 1)
    assert refused.errors == [RowError(6, "timestamp", refused.errors[0].message)]
    assert publisher.calls == []

    done = run_import(job(text), publisher, "t", skip_invalid=True, chunk_rows=2)
    assert (done.rows, done.published, done.invalid_rows) == (4, 3, 1)
    assert [len(records) for records, wait in publisher.calls if wait] == [2, 1]  # every chunk awaited its acks
    assert all(r.key == EngagementEvent.model_validate_json(r.value).person_key for r in publisher.records)


def test_a_broker_failure_mid_import_says_what_was_published() -> None:
    class FailsSecondChunk(RecordingPublisher):
        def publish(self, records, *, wait=True):  # type: ignore[no-untyped-def]
            if self.calls:
                raise TimeoutError("no ack")
            super().publish(records, wait=wait)

    publisher = FailsSecondChunk()
    with pytest.raises(ImportInterrupted) as exc:
        run_import(job(GOOD), publisher, "t", skip_invalid=False, chunk_rows=2)
    assert (exc.value.report.published, exc.value.resume_row) == (2, 5)
    assert "resume from row 5" in str(exc.value)


def upload(client: TestClient, text: str | bytes, *, key: str = WRITE_KEY, name: str = "leads.csv", **params: str):  # type: ignore[no-untyped-def]
    data = text.encode() if isinstance(text, str) else text
    files = {"file": (name, data, "text/csv")}
    return client.post("/v1/import/csv", files=files, headers=basic(key), params=params)


def test_upload_publishes_every_row_after_acks(client: TestClient, publisher: RecordingPublisher) -> None:
    response = upload(client, "\ufeff" + GOOD, key=SECOND_KEY)  # a BOM, as spreadsheets write it
    assert response.status_code == 200, response.text
    assert response.json() == {
        "file": "leads.csv",
        "source": SECOND_SOURCE,
        "rows": 3,
        "published": 3,
        "invalid_rows": 0,
        "errors": [],
        "errors_truncated": False,
    }
    events = [EngagementEvent.model_validate_json(r.value) for r in publisher.records]
    assert [e.type for e in events] == ["identify", "content.downloaded", "webinar.attended"]
    assert {e.source for e in events} == {SECOND_SOURCE}
    assert all(wait for _, wait in publisher.calls)


def test_upload_with_invalid_rows_is_400_with_the_rows_and_publishes_nothing(
    client: TestClient, publisher: RecordingPublisher
) -> None:
    text = GOOD + "x@x.example,,,,,,Demo,soon,,\n"
    response = upload(client, text)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["invalid_rows"], body["published"]) == ("invalid_rows", 1, 0)
    assert body["errors"] == [{"row": 6, "column": "timestamp", "message": body["errors"][0]["message"]}]
    assert publisher.calls == []
    skipped = upload(client, text, skip_invalid="true")
    assert (skipped.status_code, skipped.json()["published"], skipped.json()["invalid_rows"]) == (200, 3, 1)
    assert len(publisher.records) == 3


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b.csv", "..\\x.csv", ".."])
def test_path_like_file_names_are_refused(client: TestClient, publisher: RecordingPublisher, name: str) -> None:
    response = upload(client, GOOD, name=name)
    assert response.status_code == 400
    assert response.json()["detail"][0]["path"] == "file.filename"
    assert publisher.calls == []


def test_upload_refusals(client: TestClient, publisher: RecordingPublisher) -> None:
    assert upload(client, GOOD, key="wrong").status_code == 401
    assert client.post("/v1/import/csv", content=GOOD, headers=basic(WRITE_KEY)).status_code == 415
    assert upload(client, b"email\n\xff\xfe\n").json()["detail"][0]["path"] == "file"
    unknown = upload(client, "email,colour\na@x.example,red\n")
    assert (unknown.status_code, unknown.json()["error"], unknown.json()["errors"][0]["column"]) == (
        400,
        "invalid_csv",
        "colour",
    )
    no_file = client.post("/v1/import/csv", files={"other": ("a.csv", b"email\n")}, headers=basic(WRITE_KEY))
    assert (no_file.status_code, no_file.json()["detail"][0]["path"]) == (400, "file")
    assert publisher.calls == []


def test_control_characters_in_file_names_are_refused() -> None:
    assert safe_upload_name("leads 2024.csv") == "leads 2024.csv"
    assert safe_upload_name(None) == "upload.csv"
    for bad in ("C:\\temp\\x.csv", "bad\nname.csv", "nul\x00.csv", "x" * 256):
        with pytest.raises(RequestRejected):
            safe_upload_name(bad)


def test_oversized_upload_is_413_before_parsing() -> None:
    publisher = RecordingPublisher()
    with make_client(publisher, max_import_bytes=1024) as client:
        response = upload(client, GOOD + "a@x.example,,,,,,Demo,,,\n" * 100)
        assert response.status_code == 413
        assert response.json()["detail"][0]["path"] == "file"

        def chunked():  # no Content-Length: the limit holds while streaming
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
            for _ in range(100):
                yield b"x" * 100

        headers = {**basic(WRITE_KEY), "Content-Type": "multipart/form-data; boundary=b"}
        streamed = client.post("/v1/import/csv", content=chunked(), headers=headers)
        assert streamed.status_code == 413
    assert publisher.calls == []
