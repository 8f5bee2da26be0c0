from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from peerscore.events import EngagementEvent

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def event(**overrides: object) -> EngagementEvent:
    data: dict[str, object] = {
        "event_id": "m1",
        "type": "page.viewed",
        "source": "segment",
        "person_key": "p_1",
        "occurred_at": NOW,
        "received_at": NOW,
    }
    return EngagementEvent.model_validate({**data, **overrides})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        event(occurred_at=datetime(2026, 11, 1, 12))  # noqa: DTZ001 - the point of the test


def test_aware_datetimes_are_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=1))
    e = event(occurred_at=datetime(2026, 11, 1, 13, tzinfo=paris))
    assert e.occurred_at == NOW and e.occurred_at.tzinfo == UTC


def test_unknown_fields_and_versions_are_refused() -> None:
    with pytest.raises(ValidationError):
        event(surprise=1)
    with pytest.raises(ValidationError):
        event(schema_version=2)


def test_round_trip_through_json() -> None:
    e = event(properties={"path": "/pricing"})
    assert EngagementEvent.model_validate_json(e.model_dump_json()) == e
