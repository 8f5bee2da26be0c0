"""Accounts: group calls, LinkedIn organisations and work email domains make accounts; free mail never does."""

from __future__ import annotations

import pytest

from peerscore.events import AccountHints, PersonIdentifiers
from peerscore.identity import (
    account_key_from,
    free_mail_domains,
    identifier_keys,
    is_free_mail,
    parse_free_mail_domains,
    person_key,
)
from peerscore.scoring.domain import new_person
from peerscore.scoring.domain.state import account_key_for, event_account_key
from tests.unit.scoring.builders import T0, event


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "Outlook.com",
        "yahoo.com",
        "hotmail.com",
        "icloud.com",
        "proton.me",
        "gmx.de",
        "gmx.at",
        "yahoo.co.uk",
        "hotmail.fr",
        "www.gmail.com",
    ],
)
def test_free_mail_domains_are_recognised(domain: str) -> None:
    assert is_free_mail(domain)


@pytest.mark.parametrize("domain", ["acme.com", "live.acme.com", "gmx-systems.com", "outlook.acme.io"])
def test_company_domains_are_not_free_mail(domain: str) -> None:
    assert not is_free_mail(domain)


def test_the_list_is_a_data_file() -> None:
    parsed = parse_free_mail_domains("# comment\nExample.org\n\n[brands]\nmailco\n")
    assert "example.org" in parsed and "mailco.de" in parsed and "acme.com" not in parsed
    assert len(free_mail_domains().domains) > 50


def test_account_key_precedence() -> None:
    urn = "urn:li:organization:42"
    assert account_key_from(domain="WWW.Acme.com", linkedin_org_urn=urn, email="a@other.io") == "acme.com"
    assert account_key_from(domain="gmail.com", email="ada@acme.com") == "acme.com"
    assert account_key_from(domain=None, email="ada@gmail.com", linkedin_org_urn=urn) == urn
    assert account_key_from(domain=None, group_id="g-7") == "group:g-7"
    assert account_key_from(domain="gmail.com", email="x@yahoo.co.uk") is None


def test_scoring_takes_the_account_from_group_calls_and_linkedin_organisations() -> None:
    group = event("group", T0, domain="acme.com", properties={"group_id": "g-1"})
    assert event_account_key(group) == "acme.com"
    bare_group = event("group", T0, properties={"group_id": "g-1"})
    assert event_account_key(bare_group) == "group:g-1"
    engaged = event("linkedin.post.engaged", T0).model_copy(
        update={"account": AccountHints(linkedin_org_urn="urn:li:organization:9")}
    )
    assert event_account_key(engaged) == "urn:li:organization:9"
    free = event("identify", T0, domain="gmail.com")
    assert event_account_key(free) is None
    person = new_person("p1").model_copy(update={"account_key": "acme.com"})
    assert account_key_for(person, free) == "acme.com", "a free-mail hint never moves a person off their company"


def test_identifier_keys_rank_user_id_over_email_over_linkedin_over_anonymous() -> None:
    ids = PersonIdentifiers(anonymous_id="a", linkedin_member_urn="urn:li:person:1", email="E@x.io", user_id="u")
    ranked = identifier_keys(ids, b"s")
    assert [rank for rank, _ in ranked] == [3, 2, 1, 0]
    assert ranked[0][1] == person_key(ids, b"s")
    assert identifier_keys(PersonIdentifiers(email="e@x.io"), b"s")[0][1] == person_key(
        PersonIdentifiers(email=" E@X.io "), b"s"
    )
