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

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

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

ELLIPSIS = "…"


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("nul_character", "must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
"""PostgreSQL text cannot hold U+0000; refused at the contract so it never reaches a statement."""

StoredText = Annotated[str, NoNul]
"""A key or id that ends up in a database column (its length is the field's ``max_length``): refused if longer."""


def clip(value: str | None, max_chars: int) -> str | None:
    """Free text cut to ``max_chars`` (the last character an ellipsis, so the cut shows); None stays None."""
    if value is None or len(value) <= max_chars:
        return value
    return value[: max_chars - 1].rstrip() + ELLIPSIS


def _clipping(max_chars: int) -> BeforeValidator:
    def cut(value: Any) -> Any:
        return clip(value, max_chars) if type(value) is str and len(value) > max_chars else value

    return BeforeValidator(cut)


# Free text is cut, not refused, wherever a contract is validated: at ingest, in a worker decoding a record
# written before these limits existed, and when scoring loads a person state stored before them.
PersonNameText = Annotated[str, _clipping(PERSON_NAME), StringConstraints(max_length=PERSON_NAME), NoNul]
TitleText = Annotated[str, _clipping(TITLE), StringConstraints(max_length=TITLE), NoNul]
CompanyText = Annotated[str, _clipping(COMPANY), StringConstraints(max_length=COMPANY), NoNul]
CountryText = Annotated[str, _clipping(COUNTRY), StringConstraints(max_length=COUNTRY), NoNul]
TraitText = Annotated[str, _clipping(TRAIT), StringConstraints(max_length=TRAIT), NoNul]
