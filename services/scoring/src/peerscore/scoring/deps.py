"""What the scoring API's routes are given, as ``Annotated`` aliases, so each route is a plain module-level function.

``create_app`` puts everything a route reads on ``app.state.api`` (:class:`ApiContext`): the live ruleset, the
bearer checks, the publisher for erasures, the backtest jobs. The engine is not there yet: the lifespan opens it
and puts it on ``app.state.engine`` (the name crm-sync uses), so routes and console pages take it through
:data:`EngineDep`/:data:`SessionDep` per request. Nothing here is module-level state, so tests build as many apps
as they like; a test app built by hand sets the same two attributes with :func:`bind`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.api import ApiAccess
from peerscore.kafka_io import Publisher
from peerscore.scoring.backtest.jobs import BacktestJobs
from peerscore.scoring.domain.ruleset import Ruleset


@dataclass(frozen=True)
class ApiContext:
    """Everything but the engine that the JSON routes read, built once per app.

    ``ruleset`` is a provider (the hot-reloaded live ruleset), asked per request. ``publisher``/``events_topic``
    carry erasure orders; ``person_key_secret`` keys emails exactly as ingest does.
    """

    ruleset: Callable[[], Ruleset]
    access: ApiAccess
    publisher: Publisher | None = None
    events_topic: str = ""
    person_key_secret: bytes = b""
    backtests: BacktestJobs | None = None
    drift_warn: float = 0.1
    drift_alert: float = 0.25


def bind(app: FastAPI, engine: Engine, context: ApiContext) -> None:
    """Give ``app`` what its routes read (``create_app`` does this; tests mounting one router do it by hand)."""
    app.state.engine = engine
    app.state.api = context


def api_context(request: Request) -> ApiContext:
    context = request.app.state.api
    assert isinstance(context, ApiContext), "the app was not bound (deps.bind)"
    return context


Context = Annotated[ApiContext, Depends(api_context)]


def app_engine(request: Request) -> Engine:
    engine = getattr(request.app.state, "engine", None)
    assert isinstance(engine, Engine), "the app has no engine: its lifespan opens it (deps.bind in a test app)"
    return engine


EngineDep = Annotated[Engine, Depends(app_engine)]


def db_session(engine: EngineDep) -> Iterator[Session]:
    """A session per request on the app's engine (never a module-level engine)."""
    with Session(engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(db_session)]


def live_ruleset(context: Context) -> Ruleset:
    """The ruleset serving right now (asked once per request, so one request sees one ruleset)."""
    return context.ruleset()


RulesetDep = Annotated[Ruleset, Depends(live_ruleset)]


def publisher(context: Context) -> Publisher:
    assert context.publisher is not None and context.events_topic, "this app publishes no erasure orders"
    return context.publisher


PublisherDep = Annotated[Publisher, Depends(publisher)]


def backtest_jobs(context: Context) -> BacktestJobs:
    assert context.backtests is not None, "this app runs no backtests"
    return context.backtests


BacktestsDep = Annotated[BacktestJobs, Depends(backtest_jobs)]


def require_read(context: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    """The read or the admin token (401 otherwise); open in dev without tokens (see :func:`api_access`)."""
    context.access.read(authorization)


def require_admin(context: Context, authorization: Annotated[str | None, Header()] = None) -> None:
    """Only the admin token: 403 for the read token, 401 without a known one."""
    context.access.admin(authorization)


ReadAccess = Depends(require_read)
"""For ``APIRouter(dependencies=[ReadAccess])``: every route of the router needs a token."""
AdminAccess = Depends(require_admin)
"""For ``@router.post(..., dependencies=[AdminAccess])``: routes that change something."""
