"""Publish and roll back through the ruleset API's own handlers, so the console and ``/v1/rulesets`` share one
lock, one commit-then-announce order and one error story (a failed announcement is a 503 to retry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from peerscore.scoring.rulesets.ruleset_routes import RulesetVersionView


def _endpoint(router: APIRouter, name: str) -> Callable[..., Any]:
    for route in router.routes:
        if isinstance(route, APIRoute) and route.name == name:
            return route.endpoint
    raise LookupError(f"the rulesets router has no {name!r} route: the console cannot publish")


class RulesetActions:
    """Raises ``HTTPException`` exactly as the API would (404, 409, 503 with the retry hint)."""

    def __init__(self, rulesets_router: APIRouter) -> None:
        self._publish = _endpoint(rulesets_router, "publish")
        self._rollback = _endpoint(rulesets_router, "rollback")

    def publish(self, version: str) -> RulesetVersionView:
        return RulesetVersionView.model_validate(self._publish(version))

    def rollback(self) -> RulesetVersionView:
        return RulesetVersionView.model_validate(self._rollback(None))
