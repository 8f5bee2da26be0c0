from __future__ import annotations

import pytest

from peerscore.events import PersonIdentifiers
from peerscore.identity import account_key, email_domain, person_key

SECRET = b"unit-secret"


def test_person_key_is_stable_and_case_insensitive_for_email() -> None:
    a = person_key(PersonIdentifiers(email="Ada@Acme.example "), SECRET)
    b = person_key(PersonIdentifiers(email="ada@acme.example"), SECRET)
    assert a == b and a is not None and a.startswith("p_") and len(a) == 34


def test_person_key_contains_no_personal_data_and_depends_on_the_secret() -> None:
    ids = PersonIdentifiers(email="ada@acme.example")
    key = person_key(ids, SECRET)
    assert key is not None and "ada" not in key and "acme" not in key and "@" not in key
    assert person_key(ids, b"another-secret") != key


@pytest.mark.parametrize(
    ("ids", "winner"),
    [
        (PersonIdentifiers(user_id="u1", email="a@b.example", anonymous_id="x"), PersonIdentifiers(user_id="u1")),
        (PersonIdentifiers(email="a@b.example", anonymous_id="x"), PersonIdentifiers(email="a@b.example")),
        (
            PersonIdentifiers(linkedin_member_urn="urn:li:person:1", anonymous_id="x"),
            PersonIdentifiers(linkedin_member_urn="urn:li:person:1"),
        ),
        (PersonIdentifiers(anonymous_id="x"), PersonIdentifiers(anonymous_id="x")),
    ],
)
def test_strongest_identifier_wins(ids: PersonIdentifiers, winner: PersonIdentifiers) -> None:
    assert person_key(ids, SECRET) == person_key(winner, SECRET)


def test_identifier_kinds_do_not_collide() -> None:
    assert person_key(PersonIdentifiers(user_id="same"), SECRET) != person_key(
        PersonIdentifiers(anonymous_id="same"), SECRET
    )


def test_nobody_has_no_key() -> None:
    assert person_key(PersonIdentifiers(), SECRET) is None


def test_domains() -> None:
    assert email_domain("Ada@Acme.Example") == "acme.example"
    assert email_domain("not-an-email") is None
    assert email_domain("trailing@") is None
    assert account_key(" WWW.Acme.example ") == "acme.example"
