"""Registry operations on a real SQLite file: drafts, publication order, rollback through history, problems."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.scoring.domain import RulesetError, parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry as registry

from .support import BROKEN, line_of, sqlite_engine, variant

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = sqlite_engine(tmp_path)
    yield eng
    eng.dispose()


def store(engine: Engine, text: str, minutes: int = 0) -> str:
    with Session(engine) as session, session.begin():
        return registry.store_draft(session, text=text, now=T0 + timedelta(minutes=minutes)).row.version


def publish(engine: Engine, version: str, minutes: int = 0) -> bool:
    with Session(engine) as session, session.begin():
        return registry.publish(session, version=version, now=T0 + timedelta(minutes=minutes))[1]


def rollback(engine: Engine, name: str = "test") -> str:
    with Session(engine) as session, session.begin():
        return registry.rollback(session, name=name, now=T0 + timedelta(hours=1)).version


def statuses(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {r.version: r.status for r in registry.list_versions(session)}


def live(engine: Engine, name: str = "test") -> str | None:
    with Session(engine) as session:
        row = registry.live_version(session, name)
        return row.version if row else None


def test_a_draft_is_stored_under_its_content_version_with_the_text_as_written(engine: Engine) -> None:
    text = variant("a")
    version = store(engine, text)
    assert version == parse_ruleset(text).version
    with Session(engine) as session:
        row = registry.get_version(session, version)
        assert (row.name, row.status, row.yaml, row.published_at) == ("test", "draft", text, None)
        assert row.created_at == T0 and row.created_at.tzinfo is not None


def test_storing_the_same_ruleset_again_is_the_same_row(engine: Engine) -> None:
    first = store(engine, variant("a"))
    publish(engine, first)
    with Session(engine) as session, session.begin():
        again = registry.store_draft(session, text="# reworded comment\n" + variant("a"), now=T0)
        assert (again.row.version, again.created, again.row.status) == (first, False, "published")


def test_a_different_ruleset_claiming_a_stored_version_is_a_conflict(engine: Engine) -> None:
    store(engine, "version: v1\n" + variant("a"))
    with pytest.raises(registry.RulesetConflict), Session(engine) as session:
        registry.store_draft(session, text="version: v1\n" + variant("b"), now=T0)


def test_invalid_rulesets_are_refused_with_every_problem_and_its_line(engine: Engine) -> None:
    with pytest.raises(RulesetError) as caught, Session(engine) as session:
        registry.store_draft(session, text=BROKEN, now=T0)
    found = {(p.line, p.path) for p in caught.value.errors}
    assert (line_of(BROKEN, "points: lots"), "rules[0].points") in found
    assert (line_of(BROKEN, "cap: -5"), "rules[3].cap") in found
    assert statuses(engine) == {}


@pytest.mark.parametrize("version", ["live", "rollback", "has space", "x" * 65])
def test_versions_the_api_could_not_address_are_refused(engine: Engine, version: str) -> None:
    with pytest.raises(RulesetError) as caught, Session(engine) as session:
        registry.store_draft(session, text=f"version: '{version}'\n" + variant("a"), now=T0)
    assert [p.path for p in caught.value.errors] == ["version"]


def test_publish_retires_the_previous_live_version_and_republishing_changes_nothing(engine: Engine) -> None:
    a, b = store(engine, variant("a")), store(engine, variant("b"))
    assert live(engine) is None
    assert publish(engine, a, 1) is True
    assert publish(engine, b, 2) is True
    assert statuses(engine) == {a: "retired", b: "published"}
    assert publish(engine, b, 3) is False
    with Session(engine) as session:
        assert registry.get_version(session, b).published_at == T0 + timedelta(minutes=2)
    assert live(engine) == b


def test_rollback_walks_back_through_history_not_between_the_last_two(engine: Engine) -> None:
    a, b, c = (store(engine, variant(x)) for x in "abc")
    for minute, version in enumerate((a, b, c)):
        publish(engine, version, minute)
    assert rollback(engine) == b
    assert statuses(engine) == {a: "retired", b: "published", c: "retired"}
    assert rollback(engine) == a
    assert live(engine) == a
    with pytest.raises(registry.RulesetConflict):
        rollback(engine)
    publish(engine, c)
    assert rollback(engine) == a, "after a new publish, rollback returns to what was live before it"


def test_live_versions_are_per_ruleset_name(engine: Engine) -> None:
    a, other = store(engine, variant("a")), store(engine, variant("o", name="other"))
    publish(engine, a)
    publish(engine, other)
    assert (live(engine, "test"), live(engine, "other")) == (a, other)
    assert statuses(engine) == {a: "published", other: "published"}
    with pytest.raises(registry.RulesetConflict):
        rollback(engine, "other")


def test_unknown_versions_are_not_found(engine: Engine) -> None:
    with pytest.raises(registry.RulesetNotFound), Session(engine) as session:
        registry.publish(session, version="0123456789ab", now=T0)


def test_live_ruleset_parses_the_stored_text(engine: Engine) -> None:
    a = store(engine, variant("a"))
    with Session(engine) as session:
        assert registry.live_ruleset(session, "test") is None
    publish(engine, a)
    with Session(engine) as session:
        parsed = registry.live_ruleset(session, "test")
    assert parsed is not None and parsed.version == a


@pytest.mark.parametrize(
    ("log", "stack"),
    [
        ([], []),
        ([("publish", "a"), ("publish", "b")], ["a", "b"]),
        ([("publish", "a"), ("publish", "b"), ("rollback", "a")], ["a"]),
        ([("publish", "a"), ("publish", "b"), ("publish", "c"), ("rollback", "b"), ("publish", "d")], ["a", "b", "d"]),
        ([("publish", "a"), ("rollback", "z")], ["z"]),
    ],
)
def test_live_stack_replays_the_publication_log(log: list[tuple[str, str]], stack: list[str]) -> None:
    assert registry.live_stack(log) == stack


def test_unified_diff_shows_changed_lines_with_version_labels() -> None:
    old, new = variant("a"), variant("a").replace("points: 40", "points: 55")
    diff = registry.unified_diff(old, new, old_label="v1", new_label="v2")
    lines = diff.splitlines()
    assert lines[:2] == ["--- v1", "+++ v2"]
    assert "-    points: 40" in lines and "+    points: 55" in lines
    assert sum(1 for line in lines if line.startswith(("-", "+")) and line[:3] not in ("---", "+++")) == 2
    assert registry.unified_diff(old, old, old_label="v1", new_label="v1") == ""


def test_summary_lists_rules_per_group() -> None:
    summary = registry.summary(parse_ruleset(variant("a")))
    groups = summary["groups"]
    assert isinstance(groups, dict)
    assert groups["engagement"]["rules"] == ["pricing", "demo", "signup", "careers"]
    assert summary["rule_count"] == sum(len(g["rules"]) for g in groups.values())
