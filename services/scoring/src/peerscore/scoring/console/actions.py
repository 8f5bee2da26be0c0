"""Publish and roll back through the ruleset API's own publishing object, so the console and ``/v1/rulesets``
share one lock, one commit-then-announce order and one error story (a failed announcement is a 503 to retry)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Engine

from peerscore.scoring.rulesets.ruleset_routes import RulesetsRouter
from peerscore.scoring.rulesets.views import RulesetVersionView


class RulesetActions:
    """Raises the API's errors exactly as the API would (404, 409, 503 with the retry hint)."""

    def __init__(self, rulesets_router: APIRouter) -> None:
        if not isinstance(rulesets_router, RulesetsRouter):
            raise LookupError("the console publishes through the router rulesets_router() built: got another one")
        self._publishing = rulesets_router.publishing

    def publish(self, engine: Engine, version: str) -> RulesetVersionView:
        return self._publishing.publish(engine, version)

    def rollback(self, engine: Engine) -> RulesetVersionView:
        return self._publishing.rollback(engine)
