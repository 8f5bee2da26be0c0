"""Storing drafts and making versions live, shared by ``/v1/rulesets`` and the console.

Publishing commits to the database first and then announces on the ``rules`` topic (acks=all, waited for). If
the announcement fails the answer is 503 and the same publish can simply be retried: publishing the version
that is already live only re-announces it. One lock per process keeps announcements in registry order, which is
why the console publishes through this object rather than through its own copy of the steps. It holds no
engine: each call is given the app's (what the route or page read from ``app.state``), because the app opens
its engine in the lifespan, after this object is built.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from kafka.errors import KafkaError
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.errors import ApiError, Conflict, InvalidInput, NotFound, Unavailable
from peerscore.events import utcnow
from peerscore.kafka_io import Publisher
from peerscore.scoring.domain.ruleset import parse_ruleset

from . import ruleset_registry
from .messages import RulesetPublished, announcement
from .models import RulesetVersionRow
from .views import RulesetVersionView, version_view
from .watcher import LiveRuleset


def api_error(exc: ruleset_registry.RulesetRegistryError) -> ApiError:
    """The registry stays free of HTTP; this is where its errors get their status."""
    if isinstance(exc, ruleset_registry.RulesetNotFound):
        return NotFound(str(exc))
    if isinstance(exc, ruleset_registry.RulesetConflict):
        return Conflict(str(exc))
    return InvalidInput(str(exc))


@dataclass
class RulesetPublishing:
    """``name`` is the ruleset this worker follows: the default for rollback and what ``/live`` reports."""

    publisher: Publisher
    topic: str
    live: LiveRuleset
    name: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bind(self, request: Request) -> None:
        """A router dependency: hands this object to the routes through :func:`current_publishing`."""
        request.state.ruleset_publishing = self

    def store(self, engine: Engine, text: str) -> tuple[RulesetVersionView, bool]:
        """Validate and store a draft (raises ``RulesetError`` with every problem); ``True`` if it is new."""
        try:
            with Session(engine) as session, session.begin():
                stored = ruleset_registry.store_draft(session, text=text, now=utcnow())
                return version_view(stored.row), stored.created
        except ruleset_registry.RulesetRegistryError as exc:
            raise api_error(exc) from None

    def publish(self, engine: Engine, version: str) -> RulesetVersionView:
        """Make a stored version live in every worker (re-announces it if it already is)."""
        return self._make_live(engine, lambda s: ruleset_registry.publish(s, version=version, now=utcnow())[0])

    def rollback(self, engine: Engine, name: str | None = None) -> RulesetVersionView:
        """Return to the version that was live before the current one (of this worker's ruleset by default)."""
        return self._make_live(engine, lambda s: ruleset_registry.rollback(s, name=name or self.name, now=utcnow()))

    def _make_live(self, engine: Engine, change: Callable[[Session], RulesetVersionRow]) -> RulesetVersionView:
        with self.lock:
            try:
                with Session(engine) as session, session.begin():
                    row = change(session)
                    view = version_view(row)
                    assert row.published_at is not None
                    message = RulesetPublished(
                        name=row.name, version=row.version, yaml=row.yaml, published_at=row.published_at
                    )
            except ruleset_registry.RulesetRegistryError as exc:
                raise api_error(exc) from None
            self._announce(message)
        return view

    def _announce(self, message: RulesetPublished) -> None:
        try:
            self.publisher.publish([announcement(self.topic, message)], wait=True)
        except KafkaError as exc:
            raise Unavailable(
                f"{message.version} is live in the registry but workers were not told ({type(exc).__name__}); "
                f"retry POST /v1/rulesets/{message.version}/publish",
            ) from exc
        if message.name == self.name:
            self.live.install(parse_ruleset(message.yaml), source="api")


def current_publishing(request: Request) -> RulesetPublishing:
    """The publishing object the router was built with (see :meth:`RulesetPublishing.bind`)."""
    publishing = getattr(request.state, "ruleset_publishing", None)
    if not isinstance(publishing, RulesetPublishing):
        raise LookupError("the rulesets routes were included without rulesets_router(): nothing to publish with")
    return publishing
