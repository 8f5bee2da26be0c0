"""A ruleset: the YAML marketers edit, validated into an immutable model the engine can trust.

Field-level problems (unknown field, bad regex, wrong type) come from pydantic; cross-field problems (unknown
group, duplicate id, unordered thresholds) from :func:`cross_check`. Both are reported together, each with the
YAML line and field path, by :func:`parse_ruleset`.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Hashable
from functools import cache
from importlib.resources import files
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from peerscore.events import event_type_for

from .conditions import Conditions, Strict
from .errors import RulesetError, RulesetProblem
from .lines import LinePlan, ProductLine, line_plans, line_problems, policy_problems
from .matching import compiled
from .policy import BreadthPolicy, Grades, GroupSpec, Levels, QualificationPolicy
from .vocabulary import alias_table, neutral_types, vocabulary_problems
from .yaml_source import Loc, format_path, load, locate

FIT = "fit"
REQUIRED_GROUPS = (FIT, "engagement", "intent")
ATTRIBUTE_PLACEHOLDERS = frozenset(
    {"title", "seniority", "function", "country", "employees", "industry", "region", "account", "company"}
)
ACTIVITY_PLACEHOLDERS = frozenset({"times", "count", "period", "total"})
BREADTH_PLACEHOLDERS = frozenset({"colleagues", "window_days"})
"""Only the ``breadth:`` reason may mention colleagues: rule reasons are part of the person's stored score."""
_NO_BREADTH_POINTS = (
    "breadth is an account signal shown in reasons and awards no person points; give min_colleagues, "
    "window_days and reason"
)
REMOVED_FIELDS = {
    "account_active_people": "breadth is configured in the breadth: section (an account signal shown in "
    "reasons, not a rule condition)",
    "breadth.group": _NO_BREADTH_POINTS,
    "breadth.points": _NO_BREADTH_POINTS,
    "breadth.cap": _NO_BREADTH_POINTS,
}
"""Fields older rulesets used, refused with a hint: colleagues' events (other partitions) must never feed a
person's stored state, or replays would differ with partition interleaving."""


class Rule(Strict):
    """Points for a match. In the fit group: who the person is, counted once. Elsewhere: per matching event."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    group: str
    points: float
    when: Conditions
    repeatable: bool = True
    cap: float | None = Field(default=None, gt=0, description="Most (decayed) points this rule can hold")
    reason: str | None = Field(default=None, description="Text for sales, e.g. 'Viewed pricing {times}'")
    description: str | None = None


FIT_CACHE_SIZE = 50_000
DISPATCH_CACHE_SIZE = 10_000


class Ruleset(Strict):
    name: str = Field(min_length=1)
    version: str = Field(default="", description="Defaults to a 12-hex hash of the content")
    description: str | None = None
    groups: dict[str, GroupSpec]
    rules: list[Rule]
    grades: Grades = Grades()
    levels: Levels = Levels()
    qualification: QualificationPolicy
    breadth: BreadthPolicy | None = None
    aliases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Canonical event type → other wordings of the same action, scored exactly like it",
    )
    neutral: list[str] = Field(
        default_factory=list, description="Events left unscored on purpose (not reported as unscored signals)"
    )
    product_lines: dict[str, ProductLine] = Field(
        default_factory=dict,
        exclude_if=lambda lines: not lines,  # a ruleset without lines keeps its version (content hash)
        description="Product line → its groups, bars and MQL policy: a score, grade and MQL flag per line",
    )

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Ruleset:
        problems = cross_check(self)
        sink = info.context.get("problems") if isinstance(info.context, dict) else None
        if problems and isinstance(sink, list):
            sink.extend(problems)
        elif problems:
            raise ValueError("; ".join(f"{format_path(loc)}: {message}" for loc, message in problems))
        if not self.version:
            object.__setattr__(self, "version", content_hash(self))
        return self

    def __eq__(self, other: object) -> bool:
        """Equal by content (fields), never by the caches held in private attributes."""
        if not isinstance(other, Ruleset):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    def all_rules(self) -> list[Rule]:
        """The rules in evaluation order (breadth is not a rule: see :class:`BreadthPolicy`)."""
        return self.rules

    def index(self) -> RulesetIndex:
        """Lookup tables derived from this (immutable) ruleset, built once; see :class:`RulesetIndex`."""
        found = _INDEXES.get(id(self))
        if found is None or found.ruleset is not self:
            if len(_INDEXES) >= INDEX_CACHE_SIZE:
                _INDEXES.clear()
            found = _INDEXES[id(self)] = RulesetIndex(self)
        return found

    def event_rules_for(self, event_type: str, event_name: str | None = None) -> list[Rule]:
        """The non-fit rules that can match an event of this type (and track name), in evaluation order."""
        return self.index().event_rules_for(event_type, event_name)

    def group_of_rule(self) -> dict[str, str]:
        """Rule id → group, for summing a person's tallies per group without scanning every rule."""
        return self.index().group_of

    def fit_rules_cache(self) -> dict[Hashable, tuple[Rule, ...]]:
        """Matched fit rules by person profile: fit depends on nothing else, so it is matched once per profile."""
        index = self.index()
        if len(index.fit_cache) > FIT_CACHE_SIZE:
            index.fit_cache.clear()
        return index.fit_cache

    def activity_groups(self) -> list[str]:
        return list(self.levels.groups) if self.levels.groups else [g for g in self.groups if g != FIT]


class RulesetIndex:
    """What the hot path looks up per event, derived once per ruleset.

    Kept outside the pydantic model (in :data:`_INDEXES`, by identity) because pydantic's private attributes
    are read through a slow ``__getattr__`` and these are read several times per event.
    """

    __slots__ = (
        "ruleset",
        "group_of",
        "half_life",
        "caps",
        "activity_names",
        "activity_groups",
        "fit_cache",
        "last_fit",
        "_by_event",
        "_plans",
        "scoring_key",
        "aliases",
        "neutral",
        "lines",
    )

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.group_of: dict[str, str] = {rule.id: rule.group for rule in ruleset.rules}
        self.half_life: dict[str, float | None] = {name: g.half_life_days for name, g in ruleset.groups.items()}
        self.caps: tuple[tuple[str, float | None], ...] = tuple((name, g.cap) for name, g in ruleset.groups.items())
        """Every group and its cap, in the ruleset's order (the order of a scorecard's groups)."""
        self.activity_names = tuple(name for name in ruleset.groups if name != FIT)
        """The non-fit groups, whose points come from event-rule tallies."""
        self.activity_groups = tuple(ruleset.activity_groups())
        """The groups that make up activity (levels and qualification)."""
        self.scoring_key = content_hash(
            ruleset, include={"groups", "rules", "grades", "levels", "aliases", "product_lines"}
        )
        """Hash of everything that turns events into points, grade and level (not the qualification policy):
        rulesets with equal keys score every event alike and differ only in who qualifies."""
        self.fit_cache: dict[Hashable, tuple[Rule, ...]] = {}
        self.last_fit: tuple[object, object, str | None, str | None, tuple[Rule, ...]] | None = None
        """The last profile matched and its fit rules: a fold asks for the same profile objects event after
        event, and an identity check is much cheaper than hashing the profile (the tuple keeps them alive)."""
        self._by_event: dict[tuple[str, str | None], list[Rule]] = {}
        self.aliases = alias_table(ruleset.aliases)
        """Event type of another wording → the canonical type it is scored as (see :mod:`.vocabulary`)."""
        self.neutral = neutral_types(ruleset.neutral)
        self._plans: dict[tuple[str, str | None], tuple[tuple[Rule, Any, float | None], ...]] = {}
        self.lines: tuple[LinePlan, ...] = line_plans(ruleset)
        """The product lines with their defaults filled in; empty (and never looped over) without lines."""

    def event_rules_for(self, event_type: str, event_name: str | None) -> list[Rule]:
        """A pre-filter only: a rule is skipped when its conditions require a type or name the event does not
        have (see :func:`dispatch_keys`); matching still decides. Cached per (type, name): most events skip
        most rules, which is where scoring spends its time.
        """
        key = (event_type.lower(), event_name.strip().lower() if event_name else None)
        cached = self._by_event.get(key)
        if cached is None:
            by_type, by_name = ("type", key[0]), ("name", key[1])
            cached = []
            for rule in self.ruleset.rules:
                if rule.group == FIT:
                    continue
                needed = dispatch_keys(rule.when)
                if needed is None or by_type in needed or by_name in needed:
                    cached.append(rule)
            if len(self._by_event) >= DISPATCH_CACHE_SIZE:  # names come from the wild: keep the cache bounded
                self._by_event.clear()
            self._by_event[key] = cached
        return cached

    def scoring_plan(self, event_type: str, event_name: str | None) -> tuple[tuple[Rule, Any, float | None], ...]:
        """:meth:`event_rules_for` with each rule's compiled condition and its group's half-life: what scoring an
        event reads per rule, looked up once per (type, name)."""
        key = (event_type, event_name)
        plan = self._plans.get(key)
        if plan is None:
            rules = self.event_rules_for(event_type, event_name)
            plan = tuple((rule, compiled(rule.when), self.half_life[rule.group]) for rule in rules)
            if len(self._plans) >= DISPATCH_CACHE_SIZE:
                self._plans.clear()
            self._plans[key] = plan
        return plan


_INDEXES: dict[int, RulesetIndex] = {}
INDEX_CACHE_SIZE = 64


def dispatch_keys(when: Conditions) -> frozenset[tuple[str, str | None]] | None:
    """The ``("type", t)``/``("name", n)`` keys of which an event must have one for ``when`` to hold.

    ``None`` when no type or name is required (the rule is a candidate for every event). A top-level ``type``
    (or ``name``) is required as written; an ``any`` requires one of its alternatives' keys, unless one
    alternative requires none.
    """
    if when.type is not None:
        return frozenset(("type", t) for t in when.type)
    if when.name is not None:
        return frozenset(("name", n.strip()) for n in when.name)
    if when.any is None:
        return None
    keys: set[tuple[str, str | None]] = set()
    for alternative in when.any:
        needed = dispatch_keys(alternative)
        if needed is None:
            return None
        keys |= needed
    return frozenset(keys)


def content_hash(ruleset: Ruleset, include: set[str] | None = None) -> str:
    """sha256 of the canonical JSON (sorted keys, defaults filled in): same meaning, same version."""
    if include is None:
        body = ruleset.model_dump(mode="json", by_alias=True, exclude={"version"})
    else:
        body = ruleset.model_dump(mode="json", by_alias=True, include=include)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]


def _placeholder_problem(template: str, allowed: frozenset[str]) -> str | None:
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        return f"reason template is malformed: {exc}"
    for name in names:
        if name in BREADTH_PLACEHOLDERS and name not in allowed:
            return f"{{{name}}} is only for the breadth: reason (colleagues never change a person's score)"
        if name not in allowed:
            return f"unknown placeholder {{{name}}}; use one of " + ", ".join(sorted(allowed))
    return None


def cross_check(ruleset: Ruleset) -> list[tuple[Loc, str]]:
    """Problems no single field can see: references, uniqueness, ordering, fit-vs-event rule shape."""
    problems: list[tuple[Loc, str]] = []
    for group in REQUIRED_GROUPS:
        if group not in ruleset.groups:
            problems.append((("groups",), f"group '{group}' is required"))
    fit = ruleset.groups.get(FIT)
    if fit is not None and fit.half_life_days is not None:
        problems.append((("groups", FIT, "half_life_days"), "fit describes who the person is and does not decay"))
    seen: dict[str, int] = {}
    for index, rule in enumerate(ruleset.rules):
        at: tuple[int | str, ...] = ("rules", index)
        if rule.id in seen:
            problems.append(((*at, "id"), f"duplicate rule id '{rule.id}' (first used by rules[{seen[rule.id]}])"))
        seen.setdefault(rule.id, index)
        if rule.group not in ruleset.groups:
            problems.append(((*at, "group"), f"unknown group '{rule.group}'; groups are {sorted(ruleset.groups)}"))
        allowed = ATTRIBUTE_PLACEHOLDERS
        if rule.group == FIT:
            used = rule.when.event_fields_used()
            if used:
                problems.append(((*at, "when"), f"fit rules use person/account attributes only, not {used}"))
            if rule.cap is not None:
                problems.append(((*at, "cap"), "fit rules count once; a cap does not apply"))
            if not rule.repeatable:
                problems.append(((*at, "repeatable"), "fit rules count once while true; repeatable does not apply"))
        else:
            allowed = ATTRIBUTE_PLACEHOLDERS | ACTIVITY_PLACEHOLDERS
        if rule.reason is not None and (message := _placeholder_problem(rule.reason, allowed)):
            problems.append(((*at, "reason"), message))
    problems.extend(_check_policies(ruleset))
    problems.extend(vocabulary_problems(ruleset.aliases, ruleset.neutral, scored_types(ruleset)))
    return problems


def scored_types(ruleset: Ruleset) -> frozenset[str]:
    """The event types some event rule names, by type or by track name (in the type ingest gives that name)."""
    found: set[str] = set()
    for rule in ruleset.rules:
        keys = dispatch_keys(rule.when) if rule.group != FIT else None
        for kind, value in keys or ():
            spelled = (value or "").lower() if kind == "type" else event_type_for(value or "")
            if spelled:
                found.add(spelled)
    return frozenset(found)


def _check_policies(ruleset: Ruleset) -> list[tuple[Loc, str]]:
    problems = policy_problems((), ruleset.grades, ruleset.levels, ruleset.qualification)
    for index, group in enumerate(ruleset.levels.groups or []):
        if group not in ruleset.groups or group == FIT:
            problems.append((("levels", "groups", index), f"'{group}' is not an activity group"))
    problems.extend(line_problems(ruleset))
    breadth = ruleset.breadth
    if breadth is not None:
        allowed = ATTRIBUTE_PLACEHOLDERS | BREADTH_PLACEHOLDERS
        if breadth.reason is not None and (message := _placeholder_problem(breadth.reason, allowed)):
            problems.append((("breadth", "reason"), message))
    return problems


def parse_ruleset(text: str, *, version: str | None = None) -> Ruleset:
    """YAML text → validated Ruleset; every problem is raised at once as a :class:`RulesetError`."""
    data, root = load(text)
    if not isinstance(data, dict):
        raise RulesetError([RulesetProblem(line=1, path="", message="a ruleset is a mapping (name, groups, rules…)")])
    if version is not None:
        data["version"] = version
    deferred: list[tuple[Loc, str]] = []
    try:
        ruleset = Ruleset.model_validate(data, context={"problems": deferred})
    except ValidationError as exc:
        raise RulesetError([_problem(root, error) for error in exc.errors()]) from None
    if deferred:
        problems = []
        for loc, message in deferred:
            line, path = locate(root, loc)
            problems.append(RulesetProblem(line=line, path=format_path(loc) or path, message=message))
        raise RulesetError(problems)
    return ruleset


def _problem(root: Any, error: Any) -> RulesetProblem:
    kind = error["type"]
    line, path = locate(root, error["loc"], missing=kind == "missing")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        field = str(error["loc"][-1])
        removed = REMOVED_FIELDS.get(field) or REMOVED_FIELDS.get(".".join(str(p) for p in error["loc"]))
        message = f"unknown field '{field}'" + (f": {removed}" if removed else "")
    elif kind == "missing":
        message = "required field is missing"
    return RulesetProblem(line=line, path=path, message=message)


@cache
def load_default_ruleset() -> Ruleset:
    """The ruleset shipped with Peerscore (``default_ruleset.yaml``), parsed once per process."""
    text = files("peerscore.scoring.domain").joinpath("default_ruleset.yaml").read_text(encoding="utf-8")
    return parse_ruleset(text)
