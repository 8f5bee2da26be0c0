"""Ruleset registry operations inside the caller's session: store drafts, publish, roll back, read.

Kept free of Kafka and HTTP so the rules of versioning (what "live" and "previous" mean) are tested on a plain
database. The live version of a ruleset name is the top of a stack replayed from the publication log: publishing
pushes, rolling back pops, so repeated rollbacks walk back through history instead of flipping between two.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session, col, select

from peerscore.scoring.domain.errors import RulesetError, RulesetProblem
from peerscore.scoring.domain.ruleset import Ruleset, parse_ruleset

from .models import Action, RulesetPublicationRow, RulesetVersionRow

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
RESERVED_VERSIONS = frozenset({"live", "rollback"})
"""Words the HTTP routes use next to ``{version}``: a ruleset may not take them as its version."""
MAX_NAME_LENGTH = 128


class RulesetRegistryError(Exception):
    """A registry operation that cannot be done (the routes map each subclass to its HTTP status)."""


class RulesetNotFound(RulesetRegistryError):
    """No stored version by that name."""


class RulesetConflict(RulesetRegistryError):
    """The operation contradicts the stored state: a version holding another ruleset, nothing to roll back to."""


@dataclass(frozen=True)
class Stored:
    row: RulesetVersionRow
    created: bool


def _identity_problems(ruleset: Ruleset) -> list[RulesetProblem]:
    """Checks the domain cannot know: the version must be usable in a URL and the name must fit its column."""
    problems = []
    if not VERSION_PATTERN.match(ruleset.version) or ruleset.version in RESERVED_VERSIONS:
        problems.append(
            RulesetProblem(
                line=None,
                path="version",
                message="version must be 1-64 letters, digits, '.', '_', ':' or '-', and not 'live' or 'rollback'",
            )
        )
    if len(ruleset.name) > MAX_NAME_LENGTH:
        problems.append(RulesetProblem(line=None, path="name", message=f"name is longer than {MAX_NAME_LENGTH}"))
    return problems


def store_draft(session: Session, *, text: str, now: datetime) -> Stored:
    """Validate and store ``text`` as a draft. Raises :class:`RulesetError` (every problem, with its line).

    The same ruleset stored again returns the existing row whatever its status; a different ruleset claiming an
    existing version (only possible with an explicit ``version:``) is a conflict, never an overwrite.
    """
    ruleset = parse_ruleset(text)
    problems = _identity_problems(ruleset)
    if problems:
        raise RulesetError(problems)
    existing = session.get(RulesetVersionRow, ruleset.version)
    if existing is not None:
        if parse_ruleset(existing.yaml) != ruleset:
            raise RulesetConflict(f"version {ruleset.version} already holds a different ruleset")
        return Stored(existing, created=False)
    row = RulesetVersionRow(version=ruleset.version, name=ruleset.name, yaml=text, status="draft", created_at=now)
    session.add(row)
    session.flush()
    return Stored(row, created=True)


def list_versions(session: Session, *, name: str | None = None) -> list[RulesetVersionRow]:
    """Newest first."""
    query = select(RulesetVersionRow)
    if name is not None:
        query = query.where(RulesetVersionRow.name == name)
    return list(session.exec(query.order_by(col(RulesetVersionRow.created_at).desc())).all())


def get_version(session: Session, version: str) -> RulesetVersionRow:
    row = session.get(RulesetVersionRow, version)
    if row is None:
        raise RulesetNotFound(f"no ruleset version {version}")
    return row


def live_stack(log: Iterable[tuple[str, str]]) -> list[str]:
    """Replay ``(action, version)`` log entries into the stack of live versions (top = live now)."""
    stack: list[str] = []
    for action, version in log:
        if action == "rollback" and stack:
            stack.pop()
            if not stack or stack[-1] != version:  # a log edited by hand: trust what it says became live
                stack.append(version)
        else:
            stack.append(version)
    return stack


def _stack(session: Session, name: str) -> list[str]:
    rows = session.exec(
        select(RulesetPublicationRow).where(RulesetPublicationRow.name == name).order_by(col(RulesetPublicationRow.id))
    ).all()
    return live_stack((r.action, r.version) for r in rows)


def _lock_name(session: Session, name: str) -> None:
    """Serialise changes of one name's live version across API replicas (PostgreSQL advisory lock, released at
    commit). SQLite needs none: it has one writer, and a stale reader's write fails instead of interleaving."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"peerscore.ruleset:{name}"})


def live_version(session: Session, name: str) -> RulesetVersionRow | None:
    stack = _stack(session, name)
    return session.get(RulesetVersionRow, stack[-1]) if stack else None


def _make_live(session: Session, row: RulesetVersionRow, action: Action, now: datetime) -> RulesetVersionRow:
    for previous in session.exec(
        select(RulesetVersionRow).where(
            RulesetVersionRow.name == row.name,
            RulesetVersionRow.status == "published",
            RulesetVersionRow.version != row.version,
        )
    ).all():
        previous.status = "retired"
        session.add(previous)
    row.status = "published"
    row.published_at = now
    session.add(row)
    session.add(RulesetPublicationRow(name=row.name, version=row.version, action=action, at=now))
    session.flush()
    return row


def publish(session: Session, *, version: str, now: datetime) -> tuple[RulesetVersionRow, bool]:
    """Make ``version`` live for its name; returns the row and whether the live version changed.

    Publishing the version that is already live changes nothing (so a client can safely retry a publish whose
    announcement failed); publishing an older, retired version is allowed and is a deliberate new step.
    """
    row = get_version(session, version)
    _lock_name(session, row.name)
    stack = _stack(session, row.name)
    if stack and stack[-1] == row.version:
        return row, False
    return _make_live(session, row, "publish", now), True


def rollback(session: Session, *, name: str, now: datetime) -> RulesetVersionRow:
    """Return ``name`` to the version that was live before the current one."""
    _lock_name(session, name)
    stack = _stack(session, name)
    if len(stack) < 2:
        raise RulesetConflict(f"ruleset {name!r} has no earlier published version to roll back to")
    return _make_live(session, get_version(session, stack[-2]), "rollback", now)


def live_ruleset(session: Session, name: str) -> Ruleset | None:
    """The parsed live ruleset of ``name``, or ``None`` when nothing was ever published."""
    row = live_version(session, name)
    return parse_ruleset(row.yaml) if row is not None else None


def summary(ruleset: Ruleset) -> dict[str, object]:
    """What a reviewer wants before publishing: groups with their rule counts, and the policies in short."""
    groups = {
        g: {
            "rules": [r.id for r in ruleset.all_rules() if r.group == g],
            "cap": spec.cap,
            "half_life_days": spec.half_life_days,
        }
        for g, spec in ruleset.groups.items()
    }
    return {
        "name": ruleset.name,
        "description": ruleset.description,
        "groups": groups,
        "rule_count": len(ruleset.all_rules()),
        "grades": ruleset.grades.model_dump(mode="json"),
        "qualification": ruleset.qualification.model_dump(mode="json"),
        "breadth": ruleset.breadth.model_dump(mode="json") if ruleset.breadth is not None else None,
    }


def unified_diff(old: str, new: str, *, old_label: str, new_label: str, context: int = 3) -> str:
    """A unified diff of two YAML texts as written (comments included): what reviewers read in a change."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label, n=context
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
