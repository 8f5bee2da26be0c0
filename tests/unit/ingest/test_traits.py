"""Account hints: company traits, websites, and the email-domain fallback that skips free mail."""

from __future__ import annotations

import pytest

from peerscore.ingest.traits import count, domain_from, group_account, is_free_mail, person_account


@pytest.mark.parametrize(
    "domain",
    ["gmail.com", "GMail.com", "proton.me", "gmx.at", "gmx.ch", "yahoo.co.uk", "hotmail.fr", "icloud.com"],
)
def test_free_mail_domains(domain: str) -> None:
    assert is_free_mail(domain)


@pytest.mark.parametrize("domain", ["acme.com", "live.acme-corp.com", "gmxsolutions.com", "outlook-partners.io"])
def test_company_domains_are_not_free_mail(domain: str) -> None:
    assert not is_free_mail(domain)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("acme.com", "acme.com"),
        ("WWW.acme.co.uk", "acme.co.uk"),
        ("http://acme.com:8080", "acme.com"),
        ("localhost", None),
        ("", None),
        (42, None),
    ],
)
def test_domain_from_website(raw: object, expected: str | None) -> None:
    assert domain_from(raw) == expected


def test_email_domain_is_the_fallback_unless_free_mail() -> None:
    assert person_account({}, "jane@sales.acme.com").domain == "sales.acme.com"
    assert person_account({}, "jane@gmail.com").domain is None
    assert person_account({}, "jane@gmx.de").domain is None


def test_company_traits_beat_the_email_domain() -> None:
    hints = person_account(
        {"company": {"name": "Acme", "domain": "acme.io", "employees": 50, "industry": "SaaS"}},
        "jane@other.com",
    )
    assert hints.model_dump(exclude_none=True) == {
        "name": "Acme",
        "domain": "acme.io",
        "employees": 50,
        "industry": "SaaS",
    }


def test_company_string_and_website_trait() -> None:
    hints = person_account({"company": "Acme Ltd", "website": "acme.co.uk"}, "jo@gmail.com")
    assert (hints.name, hints.domain) == ("Acme Ltd", "acme.co.uk")


def test_group_traits_describe_the_account() -> None:
    hints = group_account({"name": "Acme", "website": "https://acme.com", "employees": "1200", "industry": "Retail"})
    assert (hints.name, hints.domain, hints.employees, hints.industry) == ("Acme", "acme.com", 1200, "Retail")


@pytest.mark.parametrize(
    ("raw", "expected"),
    # "²" and "١٢" pass str.isdigit(); int() refuses the first, so it was a 500 on a public endpoint.
    [(10, 10), ("250", 250), (5.0, 5), ("51-200", None), (True, None), (-3, None), ("²", None), ("١٢", None)],
)
def test_employee_counts(raw: object, expected: int | None) -> None:
    assert count(raw) == expected
