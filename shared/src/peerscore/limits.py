"""How long each stored string may be, in one place: the tables' ``max_length`` and the contracts' limits.

PostgreSQL refuses a value longer than its ``VARCHAR(n)`` and any text holding a NUL character; SQLite accepts
both. A limit checked only by the database therefore reaches production as a failed transaction, so every
string an event carries into a column is bounded here, by the contract (:mod:`peerscore.events`) that ingest
validates against and workers decode with, and by the column (SQLModel ``Field(max_length=…)``) it lands in.

Ingest refuses (400, with the field path) identifiers and keys that do not fit — an account domain, a
``groupId``, an email, an id: cutting one would merge different people or companies — and cuts free text
(names, titles, company names…) to its limit with a trailing ellipsis, so the lead still arrives and the cut is
visible in the CRM (see :func:`clip`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import StringConstraints

PERSON_KEY = 64
EVENT_ID = 256
EVENT_TYPE = 128
EVENT_NAME = 256
SOURCE = 64
IDENTIFIER = 256
"""userId, anonymousId, LinkedIn member URN: kept in the person's JSON state, bounded like event ids."""
EMAIL = 320
"""RFC 5321: 64 for the local part, @, 255 for the domain."""
ACCOUNT_KEY = 255
"""A domain, a LinkedIn organisation URN or ``group:<groupId>``: the primary key of the account tables."""
GROUP_PREFIX = "group:"
GROUP_ID = ACCOUNT_KEY - len(GROUP_PREFIX)
"""A Segment ``groupId`` becomes the account key ``group:<groupId>`` when nothing better names the company."""
PERSON_NAME = 255
TITLE = 255
COMPANY = 255
COUNTRY = 64
TRAIT = 255
"""Other free-text traits (seniority, function, industry, region)."""
OUTCOME_REASON = 2000
CRM_OBJECT_ID = 128
REQUEST_ID = 128
INTEGER_MAX = 2**31 - 1
"""The largest value of an ``INTEGER`` column (PostgreSQL int4, e.g. a model version): an id from a URL is
bounded by it, or PostgreSQL answers a DataError (a 500) and SQLite's driver overflows past 2**63."""

ELLIPSIS = "…"


NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold U+0000: refused by the contracts (a pattern checked in pydantic-core, near free)."""

StoredText = Annotated[str, StringConstraints(pattern=NO_NUL)]
"""A key or id that ends up in a database column (its length is the field's ``max_length``): refused if longer."""

PersonNameText = Annotated[str, StringConstraints(max_length=PERSON_NAME, pattern=NO_NUL)]
TitleText = Annotated[str, StringConstraints(max_length=TITLE, pattern=NO_NUL)]
CompanyText = Annotated[str, StringConstraints(max_length=COMPANY, pattern=NO_NUL)]
CountryText = Annotated[str, StringConstraints(max_length=COUNTRY, pattern=NO_NUL)]
TraitText = Annotated[str, StringConstraints(max_length=TRAIT, pattern=NO_NUL)]
"""Free text: ingest cuts it to fit (:func:`clip_fields`) before validating; the contracts only check it."""


def clip(value: str | None, max_chars: int) -> str | None:
    """Free text cut to ``max_chars`` (the last character an ellipsis, so the cut shows); None stays None."""
    if value is None or len(value) <= max_chars:
        return value
    return value[: max_chars - 1].rstrip() + ELLIPSIS


def clip_fields(values: Mapping[str, Any], maxima: Mapping[str, int]) -> dict[str, Any]:
    """``values`` with each field named in ``maxima`` that is a string longer than its limit :func:`clip`-ped."""
    out = dict(values)
    for name, limit in maxima.items():
        value = out.get(name)
        if type(value) is str and len(value) > limit:
            out[name] = clip(value, limit)
    return out
