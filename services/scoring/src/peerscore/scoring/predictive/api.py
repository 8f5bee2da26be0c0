"""``/v1/models``: the registry over HTTP (bearer auth): list, card, promote, rollback, challenger, drift."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.events import utcnow
from peerscore.limits import INTEGER_MAX
from peerscore.scoring.domain.ruleset import Ruleset

from . import registry
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


def _summary(row: registry.ModelVersionRow, roles: registry.Roles) -> ModelSummary:
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


def models_router(
    engine: Engine,
    ruleset: Callable[[], Ruleset],
    auth: Callable[..., None],
    *,
    admin: Callable[..., None] | None = None,
    drift_warn: float = 0.1,
    drift_alert: float = 0.25,
) -> APIRouter:
    """``auth`` guards every route (reads); ``admin`` also guards promotion, rollback and shadow removal."""
    router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(auth)])
    administer = [Depends(admin or auth)]

    @router.get("", response_model=list[ModelSummary])
    def list_models() -> list[ModelSummary]:
        with Session(engine) as session:
            roles = registry.current_roles(session)
            return [_summary(r, roles) for r in registry.versions(session)]

    @router.get("/roles", response_model=RolesOut)
    def roles() -> RolesOut:
        with Session(engine) as session:
            r = registry.current_roles(session)
        return RolesOut(champion=r.champion, challenger=r.challenger)

    @router.get("/drift")
    def drift(days: float = Query(14, gt=0, le=365)) -> dict[str, Any]:
        """The champion's drift report: recent leads and probabilities vs its training window."""
        with Session(engine) as session:
            champion = registry.current_roles(session).champion
            row = registry.get_version(session, champion) if champion is not None else None
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no champion model: scoring is rules-only")
        try:
            return drift_report(
                engine, row, ruleset(), since=default_since(utcnow(), days), warn=drift_warn, alert=drift_alert
            )
        except ValueError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None

    @router.get("/{version}")
    def card(version: VersionPath) -> dict[str, Any]:
        """The model card (metrics, calibration, lift, importance, training window) and the artifact's hash."""
        with Session(engine) as session:
            row = registry.get_version(session, version)
            if row is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"model version {version} does not exist")
            roles = registry.current_roles(session)
            card = {k: v for k, v in row.card.items() if k != "drift_baseline"}
            return {**_summary(row, roles).model_dump(mode="json"), "features": row.features, "card": card}

    @router.post("/{version}/promote", response_model=RolesOut, dependencies=administer)
    def promote(version: VersionPath, body: PromoteIn | None = None) -> RolesOut:
        """Make ``version`` champion (acts) or challenger (scored in shadow); workers pick it up within seconds."""
        with Session(engine) as session, session.begin():
            try:
                r = registry.promote(session, version, (body or PromoteIn()).role, note="api")
            except registry.RegistryError as exc:
                raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        return RolesOut(champion=r.champion, challenger=r.challenger)

    @router.post("/rollback", response_model=RolesOut, dependencies=administer)
    def rollback() -> RolesOut:
        with Session(engine) as session, session.begin():
            try:
                r = registry.rollback(session)
            except registry.RegistryError as exc:
                raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return RolesOut(champion=r.champion, challenger=r.challenger)

    @router.delete("/challenger", response_model=RolesOut, dependencies=administer)
    def clear_challenger() -> RolesOut:
        with Session(engine) as session, session.begin():
            r = registry.clear_challenger(session)
        return RolesOut(champion=r.champion, challenger=r.challenger)

    return router
