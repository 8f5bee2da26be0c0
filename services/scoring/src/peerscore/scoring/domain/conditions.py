"""The ``when:`` part of a rule: what must be true of an event, a person or their account.

Conditions are written the way a marketer would say them (``type: page.viewed``, ``url_matches: /pricing``,
``person: {seniority: [vp, director]}``); every listed condition must hold, and ``any:`` offers alternatives.
Choices are compared case-insensitively because sources spell the same value differently ("VP" vs "vp").
Regexes are compiled while the ruleset is parsed, so a bad pattern is refused at its line, not at 3 a.m.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, model_validator


class Strict(BaseModel):
    """Base of every ruleset model: a typo in a field name must be an error, never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Rule regexes ignore case: ``/Pricing`` and ``/pricing`` are the same page to a marketer."""
    return re.compile(pattern, re.IGNORECASE)


def _check_regex(value: str) -> str:
    try:
        compile_pattern(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str | int | float) and not isinstance(value, bool) else value


def _lowered(values: list[str]) -> list[str]:
    return [v.strip().lower() for v in values]


Regex = Annotated[str, AfterValidator(_check_regex)]
"""A regular expression, searched (not anchored) and case-insensitive."""

Choices = Annotated[list[str], BeforeValidator(_as_list), AfterValidator(_lowered), Field(min_length=1)]
"""One value or a list of values; matches when the attribute equals any of them, ignoring case."""

Scalar = str | bool | int | float


class Range(Strict):
    """Inclusive numeric bounds; either side may be left open."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is greater than max ({self.max:g})")
        return self

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class PropertyCondition(Strict):
    """A test on one event property. Written as a bare value (equals), a list (in) or ``{min, max}``."""

    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in", min_length=1)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"in": value}
        if isinstance(value, str | int | float | bool):
            return {"equals": value}
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> PropertyCondition:
        if self.equals is None and self.in_ is None and self.min is None and self.max is None:
            raise ValueError("give equals, in, min or max")
        return self


class PersonConditions(Strict):
    """Who the person is (the inputs of fit)."""

    title_matches: Regex | None = None
    seniority: Choices | None = None
    function: Choices | None = None
    country: Choices | None = None
    email_domain: Choices | None = None

    _title: re.Pattern[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        self._title = compile_pattern(self.title_matches) if self.title_matches is not None else None

    @property
    def title_pattern(self) -> re.Pattern[str] | None:
        return self._title


class AccountConditions(Strict):
    """What the person's company is."""

    employees: Range | None = None
    industry: Choices | None = None
    region: Choices | None = None
    domain: Choices | None = None


EVENT_FIELDS = ("type", "name", "properties", "url_matches", "title_matches")


class Conditions(Strict):
    """Everything listed must hold. ``any`` holds when at least one of its alternatives holds."""

    type: Choices | None = None
    name: Choices | None = None
    properties: dict[str, PropertyCondition] | None = None
    url_matches: Regex | None = None
    title_matches: Regex | None = None
    person: PersonConditions | None = None
    account: AccountConditions | None = None
    any: list[Conditions] | None = Field(default=None, min_length=1)

    _url: re.Pattern[str] | None = PrivateAttr(default=None)
    _title: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _not_empty(self) -> Conditions:
        if not any(getattr(self, name) is not None for name in type(self).model_fields):
            raise ValueError("a condition set needs at least one condition")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._url = compile_pattern(self.url_matches) if self.url_matches is not None else None
        self._title = compile_pattern(self.title_matches) if self.title_matches is not None else None

    @property
    def url_pattern(self) -> re.Pattern[str] | None:
        return self._url

    @property
    def title_pattern(self) -> re.Pattern[str] | None:
        return self._title

    def event_fields_used(self) -> list[str]:
        """Names of event-time conditions used here or in any alternative (fit rules may use none)."""
        used = [name for name in EVENT_FIELDS if getattr(self, name) is not None]
        for alternative in self.any or []:
            used.extend(n for n in alternative.event_fields_used() if n not in used)
        return used
