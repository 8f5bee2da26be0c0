"""Event times: Segment's clock-skew correction (receivedAt - sentAt + timestamp) and the fields at fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from peerscore.events import EngagementEvent
from peerscore.ingest.errors import InvalidEvent
from peerscore.ingest.normalise import normalise_batch, normalise_call

SECRET = b"normalise-secret"
RECEIVED = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)


def norm(call: dict[str, Any], **kwargs: Any) -> EngagementEvent:
    return normalise_call(call, secret=SECRET, received_at=RECEIVED, **kwargs)


def errors_of(exc: pytest.ExceptionInfo[InvalidEvent]) -> dict[str, str]:
    return {e.path: e.message for e in exc.value.errors}


def test_timestamp_is_corrected_by_sent_at_skew() -> None:
    # The device clock is 4 minutes behind: it sent at 12:06 (device time), we received at 12:10.
    event = norm(
        {
            "type": "track",
            "event": "A B",
            "userId": "u",
            "timestamp": "2024-05-01T12:00:00Z",
            "sentAt": "2024-05-01T12:06:00Z",
        }
    )
    assert event.occurred_at == datetime(2024, 5, 1, 12, 4, tzinfo=UTC)
    assert event.received_at == RECEIVED


def test_timestamp_without_sent_at_is_kept_and_offsets_become_utc() -> None:
    event = norm({"type": "track", "event": "A B", "userId": "u", "timestamp": "2024-05-01T14:00:00+02:00"})
    assert event.occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_missing_timestamp_means_receive_time() -> None:
    assert norm({"type": "track", "event": "A B", "userId": "u"}).occurred_at == RECEIVED


def test_batch_sent_at_applies_to_every_call() -> None:
    body = {
        "sentAt": "2024-05-01T12:09:00Z",
        "batch": [{"type": "track", "event": "A B", "userId": "u", "timestamp": "2024-05-01T12:00:00Z"}],
    }
    [event] = normalise_batch(body, secret=SECRET, received_at=RECEIVED)
    assert event.occurred_at == datetime(2024, 5, 1, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2024-05-01T12:00:00", "yesterday", 1714564800, ""])
def test_naive_or_unparsable_timestamp_is_refused_with_its_path(bad: object) -> None:
    body = {
        "batch": [
            {"type": "track", "event": "A B", "userId": "u"},
            {"type": "track", "event": "A B", "userId": "u", "timestamp": bad},
        ]
    }
    with pytest.raises(InvalidEvent) as exc:
        normalise_batch(body, secret=SECRET, received_at=RECEIVED)
    assert list(errors_of(exc)) == ["batch[1].timestamp"]


def test_segment_formula_receivedat_minus_sentat_minus_original() -> None:
    # Device clock 2 h 30 min fast: it stamped 14:33:20 and sent at 14:39:00 (device time); we received 12:10.
    event = norm(
        {
            "type": "track",
            "event": "A B",
            "userId": "u",
            "timestamp": "2024-05-01T14:33:20.250+00:00",
            "sentAt": "2024-05-01T14:39:00Z",
        }
    )
    expected = RECEIVED - (
        datetime(2024, 5, 1, 14, 39, tzinfo=UTC) - datetime(2024, 5, 1, 14, 33, 20, 250000, tzinfo=UTC)
    )
    assert event.occurred_at == expected == datetime(2024, 5, 1, 12, 4, 20, 250000, tzinfo=UTC)


def test_original_timestamp_is_corrected_when_sent_without_timestamp() -> None:
    # RudderStack's JS SDK sends originalTimestamp + sentAt.
    call = {"type": "track", "event": "A B", "userId": "u", "originalTimestamp": "2024-05-01T12:00:00Z"}
    assert norm({**call, "sentAt": "2024-05-01T12:01:00Z"}).occurred_at == datetime(2024, 5, 1, 12, 9, tzinfo=UTC)
    assert norm(call).occurred_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    with pytest.raises(InvalidEvent) as exc:
        norm({**call, "originalTimestamp": "noon"})
    assert list(errors_of(exc)) == ["originalTimestamp"]


def test_sent_at_without_any_timestamp_means_receive_time() -> None:
    event = norm({"type": "track", "event": "A B", "userId": "u", "sentAt": "2020-01-01T00:00:00Z"})
    assert event.occurred_at == RECEIVED


def test_call_sent_at_overrides_the_batch_sent_at() -> None:
    body = {
        "sentAt": "2024-05-01T12:09:00Z",
        "batch": [
            {"type": "track", "event": "A B", "userId": "u", "timestamp": "2024-05-01T12:00:00Z"},
            {
                "type": "track",
                "event": "A B",
                "userId": "u",
                "timestamp": "2024-05-01T12:00:00Z",
                "sentAt": "2024-05-01T12:05:00Z",
            },
        ],
    }
    first, second = normalise_batch(body, secret=SECRET, received_at=RECEIVED)
    assert (first.occurred_at.minute, second.occurred_at.minute) == (1, 5)


def test_correction_overflow_is_a_field_error() -> None:
    with pytest.raises(InvalidEvent) as exc:
        norm(
            {
                "type": "track",
                "event": "A B",
                "userId": "u",
                "timestamp": "0001-01-01T00:00:00Z",
                "sentAt": "9999-12-31T00:00:00Z",
            }
        )
    assert list(errors_of(exc)) == ["timestamp"]
