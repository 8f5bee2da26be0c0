"""``/v1/models``: the model registry over HTTP: list, card, drift (read token); promote, rollback, clear the
challenger (admin token)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlmodel import Session

from peerscore.errors import Conflict, NotFound
from peerscore.events import utcnow
from peerscore.limits import INTEGER_MAX
from peerscore.scoring.deps import AdminAccess, Context, EngineDep, ReadAccess, RulesetDep, SessionDep

from . import model_registry
from .drift import default_since, drift_report

VersionPath = Annotated[int, Path(ge=1, le=INTEGER_MAX)]
"""A model version in a URL, bounded like its column (a larger one is a 422, not a database error)."""


class ModelSummary(BaseModel):
    version: int
    sha256: str
    created_at: datetime
    training_since: datetime | None
    training_until: datetime | None
    role: Literal["champion", "challenger"] | None
    metrics: dict[str, Any]


class RolesOut(BaseModel):
    champion: int | None
    challenger: int | None


class PromoteIn(BaseModel):
    role: Literal["champion", "challenger"] = "champion"
    force: bool = False
    """Make it champion even though it does not beat the rules on its held-out period (recorded in the note)."""


def _summary(row: model_registry.ModelVersionRow, roles: model_registry.Roles) -> ModelSummary:
    assert row.version is not None
    role: Literal["champion", "challenger"] | None = None
    if row.version == roles.champion:
        role = "champion"
    elif row.version == roles.challenger:
        role = "challenger"
    return ModelSummary(
        version=row.version,
        sha256=row.sha256,
        created_at=row.created_at,
        training_since=row.training_since,
        training_until=row.training_until,
        role=role,
        metrics=row.metrics,
    )


def _roles_out(roles: model_registry.Roles) -> RolesOut:
    return RolesOut(champion=roles.champion, challenger=roles.challenger)


router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[ReadAccess])


@router.get("", response_model=list[ModelSummary])
def list_models(session: SessionDep) -> list[ModelSummary]:
    roles = model_registry.current_roles(session)
    return [_summary(r, roles) for r in model_registry.versions(session)]


@router.get("/roles", response_model=RolesOut)
def roles(session: SessionDep) -> RolesOut:
    return _roles_out(model_registry.current_roles(session))


@router.get("/drift")
def drift(
    engine: EngineDep, context: Context, ruleset: RulesetDep, days: float = Query(14, gt=0, le=365)
) -> dict[str, Any]:
    """The champion's drift report: recent leads and probabilities vs its training window."""
    with Session(engine) as session:
        champion = model_registry.current_roles(session).champion
        row = model_registry.get_version(session, champion) if champion is not None else None
    if row is None:
        raise NotFound("no champion model: scoring is rules-only")
    since = default_since(utcnow(), days)
    try:
        return drift_report(engine, row, ruleset, since=since, warn=context.drift_warn, alert=context.drift_alert)
    except ValueError as exc:
        raise Conflict(str(exc)) from None


@router.get("/{version}")
def card(version: VersionPath, session: SessionDep) -> dict[str, Any]:
    """The model card (metrics, calibration, lift, importance, training window) and the artifact's hash."""
    row = model_registry.get_version(session, version)
    if row is None:
        raise NotFound(f"model version {version} does not exist")
    roles = model_registry.current_roles(session)
    card = {k: v for k, v in row.card.items() if k != "drift_baseline"}
    return {**_summary(row, roles).model_dump(mode="json"), "features": row.features, "card": card}


@router.post("/{version}/promote", response_model=RolesOut, dependencies=[AdminAccess])
def promote(
    version: VersionPath,
    engine: EngineDep,
    body: PromoteIn | None = None,
    force: Annotated[bool, Query(description="Same as the body's force")] = False,
) -> RolesOut:
    """Make ``version`` champion (acts) or challenger (scored in shadow); workers pick it up within seconds.

    A champion must beat the rules on held-out ROC-AUC: otherwise 409 with both numbers and the margin, unless
    ``force`` (query or body), which is recorded in the promotion's note."""
    wanted = body or PromoteIn()
    forced = force or wanted.force
    with Session(engine) as session, session.begin():
        try:
            roles = model_registry.promote(session, version, wanted.role, note="api", force=forced)
        except model_registry.UnknownModelVersion as exc:
            raise NotFound(str(exc)) from None
        except model_registry.RulesNotBeaten as exc:
            raise Conflict({"message": str(exc), "version": version, **exc.verdict.as_dict()}) from None
        return _roles_out(roles)


@router.post("/rollback", response_model=RolesOut, dependencies=[AdminAccess])
def rollback(engine: EngineDep) -> RolesOut:
    with Session(engine) as session, session.begin():
        try:
            return _roles_out(model_registry.rollback(session))
        except model_registry.NothingToRollBack as exc:
            raise Conflict(str(exc)) from None


@router.delete("/challenger", response_model=RolesOut, dependencies=[AdminAccess])
def clear_challenger(engine: EngineDep) -> RolesOut:
    with Session(engine) as session, session.begin():
        return _roles_out(model_registry.clear_challenger(session))
