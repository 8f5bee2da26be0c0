"""Rulesets are refused with the YAML line and field at fault; valid ones get a stable content version."""

from __future__ import annotations

import pytest

from peerscore.scoring.domain import BreadthPolicy, RulesetError, load_default_ruleset, parse_ruleset

from .builders import TEST_RULESET, small_ruleset


def line_of(text: str, snippet: str) -> int:
    """1-based line of the first line containing ``snippet`` (computed independently of the parser)."""
    return next(i for i, line in enumerate(text.splitlines(), start=1) if snippet in line)


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(text)
    return [(p.line, p.path, p.message) for p in caught.value.errors]


def test_default_ruleset_parses_with_peer_research_rules() -> None:
    ruleset = load_default_ruleset()
    ids = {rule.id for rule in ruleset.all_rules()}
    assert {
        "review-site-comparison",
        "comparison-page",
        "case-study",
        "linkedin-lead-form",
        "webinar-question",
        "pricing-page",
        "careers-page",
        "personal-email",
    } <= ids
    assert set(ruleset.groups) >= {"fit", "engagement", "intent"}
    assert ruleset.breadth == BreadthPolicy(
        min_colleagues=2, window_days=7, reason="{colleagues} colleagues at {account} active this week"
    )
    assert len(ruleset.version) == 12


def test_version_is_a_content_hash_unless_given() -> None:
    first, again = parse_ruleset(TEST_RULESET), parse_ruleset(TEST_RULESET)
    assert first.version == again.version
    assert len(first.version) == 12 and int(first.version, 16) >= 0
    changed = small_ruleset(**{"points: 10\n    cap: 25": "points: 11\n    cap: 25"})
    assert changed.version != first.version
    assert parse_ruleset(TEST_RULESET, version="2025-03-01").version == "2025-03-01"


def test_comments_and_explicit_defaults_do_not_change_the_version() -> None:
    noisy = "# a comment\n" + TEST_RULESET.replace("  - id: demo\n", "  - id: demo\n    repeatable: true\n")
    assert parse_ruleset(noisy).version == parse_ruleset(TEST_RULESET).version


def test_round_trips_through_json() -> None:
    ruleset = load_default_ruleset()
    again = type(ruleset).model_validate(ruleset.model_dump(mode="json", by_alias=True))
    assert again == ruleset and again.version == ruleset.version


def test_bad_regex_points_at_its_line_and_path() -> None:
    text = TEST_RULESET.replace("url_matches: /careers", "url_matches: '/careers(['")
    [(line, path, message)] = problems(text)
    assert line == line_of(text, "/careers([")
    assert path == "rules[6].when.url_matches"
    assert "regular expression" in message


def test_bad_regex_nested_in_person_and_any() -> None:
    text = TEST_RULESET.replace(
        "    when: {person: {seniority: [vp]}}",
        "    when:\n      any:\n        - person: {seniority: [vp]}\n        - person: {title_matches: 'vp('}",
    )
    [(line, path, _)] = problems(text)
    assert (line, path) == (line_of(text, "vp("), "rules[0].when.any[1].person.title_matches")


def test_unknown_group() -> None:
    text = TEST_RULESET.replace("    group: product_x", "    group: product_y")
    [(line, path, message)] = problems(text)
    assert (line, path) == (line_of(text, "product_y"), "rules[7].group")
    assert "unknown group 'product_y'" in message


def test_unknown_field_is_named() -> None:
    text = TEST_RULESET.replace("    repeatable: false", "    repeatable: false\n    repeatible: true")
    [(line, path, message)] = problems(text)
    assert (line, path, message) == (line_of(text, "repeatible"), "rules[5].repeatible", "unknown field 'repeatible'")


def test_duplicate_rule_id() -> None:
    text = TEST_RULESET.replace("  - id: careers", "  - id: pricing")
    [(line, path, message)] = problems(text)
    lines = [i for i, t in enumerate(text.splitlines(), start=1) if t == "  - id: pricing"]
    assert (line, path) == (lines[1], "rules[6].id")
    assert "duplicate rule id 'pricing'" in message


def test_missing_field_names_the_field_at_the_rule() -> None:
    text = TEST_RULESET.replace("    points: 40\n", "")
    [(line, path, message)] = problems(text)
    assert (line, path) == (line_of(text, "  - id: demo"), "rules[4].points")
    assert "missing" in message


def test_unordered_thresholds_and_flapping_policy_all_reported() -> None:
    text = TEST_RULESET.replace("grades: {A: 60, B: 40, C: 20}", "grades: {A: 30, B: 40, C: 20}").replace(
        "recycle: {below_activity: 10}", "recycle: {below_activity: 35}"
    )
    found = {(path, line) for line, path, _ in problems(text)}
    assert found == {
        ("grades.B", line_of(text, "grades:")),
        ("qualification.recycle.below_activity", line_of(text, "below_activity")),
    }


def test_grade_hysteresis_must_leave_a_gap() -> None:
    text = TEST_RULESET.replace("recycle: {below_activity: 10}", "recycle: {below_activity: 10, below_grade: B}")
    [(_, path, message)] = problems(text)
    assert path == "qualification.recycle.below_grade" and "flap" in message


def test_fit_rules_cannot_use_event_conditions() -> None:
    text = TEST_RULESET.replace("    when: {person: {seniority: [vp]}}", "    when: {type: page.viewed}")
    [(line, path, _)] = problems(text)
    assert (line, path) == (line_of(text, "when: {type: page.viewed}"), "rules[0].when")


def test_unknown_reason_placeholder() -> None:
    text = TEST_RULESET.replace("Viewed pricing {times}", "Viewed pricing {tims}")
    [(line, path, message)] = problems(text)
    assert (line, path) == (line_of(text, "{tims}"), "rules[3].reason")
    assert "{tims}" in message


def test_activity_placeholders_are_refused_in_fit_reasons() -> None:
    text = TEST_RULESET.replace("reason: VP-level title", "reason: VP seen {times}")
    [(_, path, _)] = problems(text)
    assert path == "rules[0].reason"


def test_wrong_type_and_empty_conditions() -> None:
    text = TEST_RULESET.replace("    points: 40\n", "    points: lots\n").replace("when: {type: signed.up}", "when: {}")
    found = {path for _, path, _ in problems(text)}
    assert found == {"rules[4].points", "rules[5].when"}


def test_yaml_syntax_error_has_a_line() -> None:
    text = TEST_RULESET.replace("levels: {level_2: 20, level_3: 40}", "levels: {level_2: 20, level_3: 40")
    [(line, path, message)] = problems(text)
    assert path == "" and "YAML" in message and line is not None and line >= line_of(text, "levels:")


def test_duplicate_yaml_key_is_refused() -> None:
    text = TEST_RULESET.replace("    points: 40\n", "    points: 40\n    points: 4\n")
    [(line, path, _)] = problems(text)
    assert (line, path) == (text.splitlines().index("    points: 4") + 1, "rules[4].points")


def test_not_a_mapping() -> None:
    assert problems("- just\n- a list\n")[0][:2] == (1, "")


def test_required_groups() -> None:
    text = TEST_RULESET.replace("  intent: {cap: 40, half_life_days: 10}\n", "")
    text = text.replace("group: intent", "group: engagement")
    [(_, path, message)] = problems(text)
    assert path == "groups" and "'intent'" in message


def test_error_message_lists_every_problem() -> None:
    text = TEST_RULESET.replace("group: product_x", "group: nope").replace("{times} in", "{nope} in")
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(text)
    assert len(caught.value.errors) == 2
    assert "rules[7].group" in str(caught.value) and "rules[3].reason" in str(caught.value)


@pytest.mark.parametrize("field", ["group: intent", "points: 5", "cap: 10"])
def test_old_breadth_points_are_refused_at_their_line(field: str) -> None:
    text = TEST_RULESET.replace("  min_colleagues: 2\n", f"  min_colleagues: 2\n  {field}\n")
    [(line, path, message)] = problems(text)
    name = field.split(":")[0]
    assert (line, path) == (line_of(text, f"  {field}"), f"breadth.{name}")
    assert f"unknown field '{name}'" in message and "no person points" in message


def test_account_active_people_condition_is_refused_pointing_at_breadth_section() -> None:
    text = TEST_RULESET.replace(
        "    when: {type: demo.requested}",
        "    when:\n      any:\n        - type: demo.requested\n"
        "        - account_active_people: {min: 2, window_days: 7}",
    )
    [(line, path, message)] = problems(text)
    assert (line, path) == (line_of(text, "account_active_people"), "rules[4].when.any[1].account_active_people")
    assert "breadth:" in message and "section" in message


@pytest.mark.parametrize("placeholder", ["{colleagues}", "{window_days}"])
def test_colleague_placeholders_only_in_the_breadth_reason(placeholder: str) -> None:
    text = TEST_RULESET.replace("reason: Requested a demo", f"reason: Requested a demo ({placeholder})")
    [(line, path, message)] = problems(text)
    assert (line, path) == (line_of(text, "Requested a demo ("), "rules[4].reason") and "breadth" in message
    assert parse_ruleset(TEST_RULESET.replace("active this week", "active in {window_days} days")).breadth
