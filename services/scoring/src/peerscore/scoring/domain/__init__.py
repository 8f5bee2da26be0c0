"""Pure scoring domain: rulesets, per-person/account state, decay, caps, qualification and reasons.

Imports only pydantic, PyYAML, the standard library and :mod:`peerscore.events`; the worker and the API do
all I/O and call :func:`apply_event` / :func:`score_person`. Person state is a fold of the person's own events;
colleagues (other partitions) only reach outputs through :func:`with_account_context`.
"""

from __future__ import annotations

from .engine import Applied, Award, apply_event, score_person, with_account_context
from .errors import RulesetError, RulesetProblem
from .policy import BreadthPolicy, Grades, GroupSpec, Levels, QualificationPolicy
from .ruleset import Rule, Ruleset, load_default_ruleset, parse_ruleset
from .state import (
    AccountState,
    PersonState,
    account_breadth,
    account_key_for,
    new_account,
    new_person,
    normalise_domain,
)

__all__ = [
    "AccountState",
    "Applied",
    "Award",
    "BreadthPolicy",
    "Grades",
    "GroupSpec",
    "Levels",
    "PersonState",
    "QualificationPolicy",
    "Rule",
    "Ruleset",
    "RulesetError",
    "RulesetProblem",
    "account_breadth",
    "account_key_for",
    "apply_event",
    "load_default_ruleset",
    "new_account",
    "new_person",
    "normalise_domain",
    "parse_ruleset",
    "score_person",
    "with_account_context",
]
