"""Property tests: whatever JSON, bytes or CSV arrives, the parsers answer with events or field-path errors.

Never an unexpected exception (which would be a 5xx over HTTP): every refusal is :class:`InvalidEvent`,
:class:`RequestRejected` or :class:`CsvFormatError`, each naming where the problem is.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peerscore.ingest.csv_rows import KNOWN_COLUMNS, CsvFormatError, normalise_rows
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.normalise import CALL_TYPES, normalise_batch, normalise_call
from tests.unit.ingest.support import WRITE_KEY, RecordingPublisher, basic, make_client

SECRET = b"property-secret"
RECEIVED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["2024-05-01T12:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x@y.io"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
FIELDS = [
    "type",
    "userId",
    "anonymousId",
    "messageId",
    "event",
    "name",
    "timestamp",
    "originalTimestamp",
    "sentAt",
    "properties",
    "traits",
    "context",
    "groupId",
    "previousId",
]
field_values = json_values | st.sampled_from([*CALL_TYPES, "Demo Requested", {"email": "a@b.io"}, {}])
calls = st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS))
bodies = st.dictionaries(
    st.sampled_from(["batch", "sentAt", "context", "writeKey"]),
    st.lists(calls | json_values, max_size=4) | json_values,
    max_size=4,
)


def assert_paths(exc: InvalidEvent) -> None:
    assert exc.errors
    for error in exc.errors:
        assert error.path and error.message


@FAST
@given(body=bodies | json_values)
def test_any_batch_body_normalises_or_names_its_bad_fields(body: Any) -> None:
    try:
        events = normalise_batch(
            body if isinstance(body, dict) else {"batch": body}, secret=SECRET, received_at=RECEIVED
        )
    except InvalidEvent as exc:
        assert_paths(exc)
        return
    assert all(e.received_at == RECEIVED and e.event_id for e in events)


@FAST
@given(call=calls | json_values, expected=st.sampled_from([None, *CALL_TYPES]), email_ok=st.booleans())
def test_any_single_call_normalises_or_names_its_bad_fields(call: Any, expected: str | None, email_ok: bool) -> None:
    try:
        event = normalise_call(
            call, secret=SECRET, received_at=RECEIVED, expected_type=expected, email_identifies=email_ok
        )
    except InvalidEvent as exc:
        assert_paths(exc)
        return
    assert event.person_key.startswith("p_")


HTTP = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def test_any_json_over_http_is_2xx_or_a_4xx_with_a_field_path() -> None:
    with make_client(RecordingPublisher()) as client:

        @HTTP
        @given(
            body=bodies | json_values,
            endpoint=st.sampled_from(["/v1/batch", "/v1/track", "/v1/identify", "/v1/group"]),
            zipped=st.booleans(),
        )
        def answers(body: Any, endpoint: str, zipped: bool) -> None:
            content = orjson.dumps(body)
            headers = basic(WRITE_KEY)
            if zipped:
                content, headers = gzip.compress(content), {**headers, "Content-Encoding": "gzip"}
            response = client.post(endpoint, content=content, headers=headers)
            assert response.status_code in (200, 400, 413), response.text
            if response.status_code != 200:
                detail = response.json()["detail"]
                assert detail and all(d["path"] and d["message"] for d in detail)

        answers()


def test_any_bytes_over_http_never_get_a_5xx() -> None:
    with make_client(RecordingPublisher()) as client:

        @HTTP
        @given(raw=st.binary(max_size=200), encoding=st.sampled_from([None, "gzip", "identity", "br"]))
        def answers(raw: bytes, encoding: str | None) -> None:
            headers = basic(WRITE_KEY) | ({"Content-Encoding": encoding} if encoding else {})
            response = client.post("/v1/batch", content=raw, headers=headers)
            assert response.status_code in (200, 400, 413, 415)

        answers()


columns = st.lists(
    st.sampled_from(sorted(KNOWN_COLUMNS)) | st.just("properties.x") | st.just("consent.ads"),
    min_size=1,
    max_size=6,
    unique=True,
)
cells = st.sampled_from(["", "a@b.example", "Demo Requested", "track", "group", "2024-05-01T12:00:00Z", "yes", "7"])


@FAST
@given(header=columns, rows=st.lists(st.lists(cells | st.text(max_size=6), max_size=7), max_size=5))
def test_any_csv_rows_become_events_or_row_and_column_errors(header: list[str], rows: list[list[str]]) -> None:
    lines = [",".join(header)] + [",".join(c.replace(",", " ").replace('"', "") for c in row) for row in rows]
    try:
        results = list(normalise_rows(lines, secret=SECRET, received_at=RECEIVED, source="csv", max_event_bytes=32768))
    except CsvFormatError as exc:
        assert exc.errors and all(e.row >= 1 for e in exc.errors)
        return
    for result in results:
        assert (result.event is None) == bool(result.errors)
        for error in result.errors:
            assert error.row == result.row and error.message
            assert error.column == "*" or error.column in header


@FAST
@given(text=st.text(max_size=300))
def test_any_text_as_csv_never_raises_anything_else(text: str) -> None:
    try:
        list(
            normalise_rows(text.splitlines(), secret=SECRET, received_at=RECEIVED, source="csv", max_event_bytes=32768)
        )
    except CsvFormatError as exc:
        assert exc.errors
