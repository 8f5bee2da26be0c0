"""The watcher's choice of ruleset: the newest valid announcement for its name wins, broken ones are skipped."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from peerscore.scoring.domain import Ruleset, parse_ruleset
from peerscore.scoring.rulesets.messages import RulesetPublished
from peerscore.scoring.rulesets.watcher import LiveRuleset, RawRecord, latest_valid

from .support import BROKEN, variant

AT = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def announced(text: str, *, version: str | None = None, name: str = "test") -> RawRecord:
    parsed_version = version
    if parsed_version is None:
        parsed_version = parse_ruleset(text).version
    message = RulesetPublished(name=name, version=parsed_version, yaml=text, published_at=AT)
    return name, message.model_dump_json().encode()


def test_the_last_record_for_the_name_wins() -> None:
    records = [announced(variant("a")), announced(variant("b")), announced(variant("o", name="other"), name="other")]
    accepted, rejected = latest_valid(records, "test")
    assert accepted is not None and accepted.ruleset.version == parse_ruleset(variant("b")).version
    assert rejected == []
    other, _ = latest_valid(records, "other")
    assert other is not None and other.message.name == "other"
    assert latest_valid(records, "missing") == (None, [])


def test_a_rollback_announcement_later_in_the_log_wins_over_a_newer_version() -> None:
    records = [announced(variant("a")), announced(variant("b")), announced(variant("a"))]
    accepted, _ = latest_valid(records, "test")
    assert accepted is not None and accepted.ruleset.version == parse_ruleset(variant("a")).version


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (("test", None), "empty value"),
        (("test", b"{not json"), "not a RulesetPublished"),
        (("test", b'{"name": "test"}'), "not a RulesetPublished"),
        (announced(BROKEN, version="deadbeef0000"), "invalid ruleset"),
        (announced(variant("c"), version="0123456789ab"), "but the YAML is"),
        (("test", announced(variant("c", name="x"), name="x")[1]), "keyed 'test' but announces 'x'"),
        (announced(variant("c", name="x"), name="test", version=parse_ruleset(variant("c", name="x")).version), "x@"),
    ],
)
def test_broken_newest_records_are_reported_and_the_previous_good_one_kept(bad: RawRecord, reason: str) -> None:
    accepted, rejected = latest_valid([announced(variant("a")), bad], "test")
    assert accepted is not None and accepted.ruleset.version == parse_ruleset(variant("a")).version
    assert len(rejected) == 1 and reason in rejected[0]


def test_nothing_usable_means_no_choice() -> None:
    accepted, rejected = latest_valid([("test", b"junk")], "test")
    assert accepted is None and len(rejected) == 1


def test_the_provider_serves_the_fallback_once_then_what_is_installed() -> None:
    calls: list[int] = []
    default = parse_ruleset(variant("default"))

    def fallback() -> Ruleset:
        calls.append(1)
        return default

    live = LiveRuleset(name="test", topic="rules", fallback=fallback)
    assert live.current() is default and live.current() is default
    assert len(calls) == 1
    newer = parse_ruleset(variant("b"))
    assert live.install(newer, source="test") is True
    assert live.install(parse_ruleset(variant("b")), source="test") is False
    assert live.current() is newer
    live.check()  # never started: serving its fallback is ready
    with pytest.raises(RuntimeError):
        live.start()


def test_a_failing_fallback_is_retried_on_the_next_call() -> None:
    outcomes: list[Exception | Ruleset] = [OSError("database down"), parse_ruleset(variant("a"))]

    def fallback() -> Ruleset:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    live = LiveRuleset(name="test", topic="rules", fallback=fallback)
    with pytest.raises(OSError):
        live.current()
    assert live.current().version == parse_ruleset(variant("a")).version
