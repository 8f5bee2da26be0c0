"""The model registry: versioned artifacts in scoring's database, so every worker sees the same models.

A version holds the LightGBM model text, the calibrator (JSON), the feature names, the training window, the
metrics/card and a sha256 over model text + calibrator. Roles change only by appending to ``model_promotion``
(who is champion or challenger, since when), so the history of promotions is the audit trail and rollback is
"make the previous champion champion again". Workers poll the newest promotion id — one tiny query per check —
to hot-load a change without a restart.

Becoming champion is gated (``selection``): a model whose card does not show it beating the rules on the
held-out period is refused unless forced. A refusal is logged (nothing changes, so nothing is appended); a
forced promotion is appended with the numbers in its note and logged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog
from sqlalchemy import JSON, Column, Text, func
from sqlmodel import Field, Session, SQLModel, col, select

from peerscore.db import UtcDateTime
from peerscore.events import utcnow

from .selection import Verdict, verdict

log = structlog.get_logger(__name__)

Role = Literal["champion", "challenger"]


class ModelVersionRow(SQLModel, table=True):
    __tablename__ = "model_version"

    version: int | None = Field(default=None, primary_key=True)
    name: str = Field(default="conversion", max_length=64)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    training_since: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    training_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    features: list[str] = Field(sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    card: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    calibrator: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    model_text: str = Field(sa_column=Column(Text, nullable=False))


class ModelPromotionRow(SQLModel, table=True):
    """One role change: ``version`` becomes ``role`` (``None`` version: the challenger slot is cleared)."""

    __tablename__ = "model_promotion"

    id: int | None = Field(default=None, primary_key=True)
    role: str = Field(max_length=16)
    version: int | None = Field(default=None)
    promoted_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    note: str | None = Field(default=None, max_length=256)


class ModelPredictionRow(SQLModel, table=True):
    """Champion and challenger probabilities for one scored lead version (the shadow record)."""

    __tablename__ = "model_prediction"

    id: int | None = Field(default=None, primary_key=True)
    person_key: str = Field(index=True, max_length=64)
    lead_version: int
    scored_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False, index=True))
    champion_version: int | None = None
    champion_probability: float | None = None
    challenger_version: int | None = None
    challenger_probability: float | None = None


MODEL_TABLES: tuple[type[SQLModel], ...] = (ModelVersionRow, ModelPromotionRow, ModelPredictionRow)


class UnknownModelVersion(LookupError):
    """A promotion names a version that was never registered."""


class RulesNotBeaten(ValueError):
    """A champion promotion refused: the model does not beat the rules on its held-out period (not forced)."""

    def __init__(self, version: int, check: Verdict) -> None:
        super().__init__(f"model version {version} was not promoted to champion: {check.reason()}; force to override")
        self.version = version
        self.verdict = check


class NothingToRollBack(ValueError):
    """A rollback with no earlier champion to return to."""


def artifact_hash(model_text: str, calibrator: dict[str, Any]) -> str:
    digest = hashlib.sha256(model_text.encode())
    digest.update(json.dumps(calibrator, sort_keys=True).encode())
    return digest.hexdigest()


def register(
    session: Session,
    *,
    model_text: str,
    calibrator: dict[str, Any],
    features: list[str],
    card: dict[str, Any],
    training_since: datetime | None,
    training_until: datetime | None,
) -> ModelVersionRow:
    """Store a new version (no role yet) and return it with its number."""
    test = card.get("test", {})
    metrics = {
        side: {k: v for k, v in test.get(side, {}).items() if k != "lift_by_decile"}
        for side in ("model", "rules", "baseline", "model_rule_features")
        if side in test or side in ("model", "rules")
    }
    row = ModelVersionRow(
        sha256=artifact_hash(model_text, calibrator),
        created_at=utcnow(),
        training_since=training_since,
        training_until=training_until,
        features=features,
        metrics=metrics,
        card=card,
        calibrator=calibrator,
        model_text=model_text,
    )
    session.add(row)
    session.flush()
    return row


def versions(session: Session) -> list[ModelVersionRow]:
    return list(session.exec(select(ModelVersionRow).order_by(col(ModelVersionRow.version).desc())).all())


def get_version(session: Session, version: int) -> ModelVersionRow | None:
    return session.get(ModelVersionRow, version)


def latest_promotion_id(session: Session) -> int:
    """The change marker workers poll: grows with every promotion, rollback or cleared challenger."""
    value = session.exec(select(func.max(ModelPromotionRow.id))).one()
    return int(value or 0)


@dataclass(frozen=True)
class Roles:
    champion: int | None
    challenger: int | None
    marker: int


def current_roles(session: Session) -> Roles:
    rows = session.exec(select(ModelPromotionRow).order_by(col(ModelPromotionRow.id))).all()
    champion = challenger = None
    marker = 0
    for r in rows:
        marker = r.id or marker
        if r.role == "champion":
            champion = r.version
            if challenger == r.version:
                challenger = None
        elif r.role == "challenger":
            challenger = r.version
    return Roles(champion=champion, challenger=challenger, marker=marker)


def promote(
    session: Session, version: int, role: Role = "champion", note: str | None = None, *, force: bool = False
) -> Roles:
    """Give ``version`` a role. Champion needs a card showing the model beats the rules on held-out ROC-AUC
    (:class:`RulesNotBeaten` otherwise) unless ``force``; a challenger only scores in shadow, so it is not gated
    — shadowing is how a doubtful model gathers live evidence."""
    row = get_version(session, version)
    if row is None:
        raise UnknownModelVersion(f"model version {version} does not exist")
    if role == "champion":
        note = _gate(version, verdict(row.card), note, force)
    session.add(ModelPromotionRow(role=role, version=version, promoted_at=utcnow(), note=note))
    session.flush()
    return current_roles(session)


def _gate(version: int, check: Verdict, note: str | None, force: bool) -> str | None:
    """Raise on a refused champion promotion; return the note to store (the numbers, when forced)."""
    if check.beats_rules:
        return note
    if not force:
        log.warning("model_promotion_refused", version=version, **check.as_dict())
        raise RulesNotBeaten(version, check)
    log.warning("model_promotion_forced", version=version, **check.as_dict())
    return f"{note or 'promoted'}; forced: {check.reason()}"[:256]


def clear_challenger(session: Session) -> Roles:
    session.add(ModelPromotionRow(role="challenger", version=None, promoted_at=utcnow(), note="cleared"))
    session.flush()
    return current_roles(session)


def rollback(session: Session) -> Roles:
    """Make the champion before the current one champion again (appended as a new promotion, so a second
    rollback returns to the version just rolled back from)."""
    champions = [
        r.version
        for r in session.exec(
            select(ModelPromotionRow)
            .where(col(ModelPromotionRow.role) == "champion")
            .order_by(col(ModelPromotionRow.id))
        ).all()
    ]
    current = champions[-1] if champions else None
    # Walk back past rollbacks: the previous champion is the last one different from the current one.
    previous = next((v for v in reversed(champions[:-1]) if v != current), None)
    if current is None or previous is None:
        raise NothingToRollBack("there is no previous champion to roll back to")
    session.add(
        ModelPromotionRow(role="champion", version=previous, promoted_at=utcnow(), note=f"rollback from {current}")
    )
    session.flush()
    return current_roles(session)
