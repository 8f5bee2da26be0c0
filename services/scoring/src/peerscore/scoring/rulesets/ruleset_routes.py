"""``/v1/rulesets``: store drafts, review them (summary, diff), publish and roll back.

Every route is a named function; what it works on comes in through ``Annotated`` aliases: the app's engine
(:data:`~peerscore.scoring.deps.EngineDep`, opened by the lifespan) and ``Publishing``, bound by
:func:`rulesets_router` (the live ruleset of this worker, the publishing steps of :mod:`.publishing`). Reads
need the read credential; storing, publishing and rolling back need the admin one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import Session

from peerscore.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from peerscore.kafka_io import Publisher
from peerscore.scoring.deps import EngineDep
from peerscore.scoring.domain.errors import RulesetError, RulesetProblem
from peerscore.scoring.domain.ruleset import parse_ruleset

from . import ruleset_registry
from .publishing import RulesetPublishing, api_error, current_publishing
from .views import LiveView, RulesetDetail, RulesetDiff, RulesetVersionView, version_view
from .watcher import LiveRuleset

__all__ = ["RulesetsRouter", "rulesets_router"]

MAX_BODY_BYTES = 1024 * 1024
YAML_MEDIA = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", "")

Publishing = Annotated[RulesetPublishing, Depends(current_publishing)]


class RulesetsRouter(APIRouter):
    """The router, carrying the publishing object its routes use, so the console publishes through the same one."""

    def __init__(self, publishing: RulesetPublishing, *, auth: Callable[..., None]) -> None:
        super().__init__(
            prefix="/v1/rulesets", tags=["rulesets"], dependencies=[Depends(auth), Depends(publishing.bind)]
        )
        self.publishing = publishing


def _problems(errors: list[RulesetProblem]) -> JSONResponse:
    return JSONResponse({"errors": [p.model_dump() for p in errors]}, 422)


def _yaml_from_body(content_type: str, body: bytes) -> str:
    """YAML as the raw body (``application/yaml``, ``text/*``) or as ``{"yaml": "..."}`` in JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("the body is not UTF-8") from None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidInput("the body is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
            raise InvalidInput('JSON bodies are {"yaml": "<ruleset text>"}')
        return str(data["yaml"])
    if media in YAML_MEDIA:
        return text
    raise UnsupportedMediaType("send application/yaml or application/json")


async def create_draft(
    request: Request, response: Response, publishing: Publishing, engine: EngineDep
) -> RulesetVersionView | JSONResponse:
    """Validate and store a draft: 201 with its version, 200 if that exact ruleset exists, 422 with problems."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge("a ruleset is at most 1 MiB")
    text = _yaml_from_body(request.headers.get("content-type", ""), body)
    try:
        view, created = await run_in_threadpool(publishing.store, engine, text)
    except RulesetError as exc:
        return _problems(exc.errors)
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


def list_rulesets(engine: EngineDep, name: str | None = None) -> list[RulesetVersionView]:
    with Session(engine) as session:
        return [version_view(r) for r in ruleset_registry.list_versions(session, name=name)]


def get_live(publishing: Publishing, engine: EngineDep) -> LiveView:
    with Session(engine) as session:
        row = ruleset_registry.live_version(session, publishing.name)
        version, published_at = (row.version, row.published_at) if row else (None, None)
    serving = publishing.live.current().version
    return LiveView(name=publishing.name, version=version, published_at=published_at, serving=serving)


def rollback(
    publishing: Publishing,
    engine: EngineDep,
    ruleset_name: Annotated[str | None, Query(alias="name", max_length=128)] = None,
) -> RulesetVersionView:
    """Return to the version that was live before the current one (of this worker's ruleset by default)."""
    return publishing.rollback(engine, ruleset_name)


def get_ruleset(version: str, engine: EngineDep) -> RulesetDetail:
    with Session(engine) as session:
        try:
            row = ruleset_registry.get_version(session, version)
        except ruleset_registry.RulesetRegistryError as exc:
            raise api_error(exc) from None
        try:
            summary = ruleset_registry.summary(parse_ruleset(row.yaml))
        except RulesetError as exc:  # stored under older rules of validation: show why it no longer parses
            summary = {"problems": [p.model_dump() for p in exc.errors]}
        return RulesetDetail(**version_view(row).model_dump(), yaml=row.yaml, summary=summary)


def diff(version: str, other: str, engine: EngineDep) -> RulesetDiff:
    """What changes going from ``version`` to ``other``, as a unified diff of the YAML texts."""
    with Session(engine) as session:
        try:
            old = ruleset_registry.get_version(session, version)
            new = ruleset_registry.get_version(session, other)
        except ruleset_registry.RulesetRegistryError as exc:
            raise api_error(exc) from None
        text = ruleset_registry.unified_diff(old.yaml, new.yaml, old_label=version, new_label=other)
    return RulesetDiff(from_version=version, to_version=other, diff=text)


def publish(version: str, publishing: Publishing, engine: EngineDep) -> RulesetVersionView:
    """Make a stored version live in every worker (re-announces it if it already is)."""
    return publishing.publish(engine, version)


def rulesets_router(
    *,
    publisher: Publisher,
    topic: str,
    live: LiveRuleset,
    name: str,
    auth: Callable[..., None],
    admin: Callable[..., None] | None = None,
) -> RulesetsRouter:
    """``name`` is the ruleset this worker follows: the default for rollback and what ``/live`` reports.
    ``auth`` guards every route (reads); ``admin`` also guards storing, publishing and rolling back. The routes
    read the engine from the app (``app.state.engine``), so the router can be built before the lifespan opens it."""
    publishing = RulesetPublishing(publisher=publisher, topic=topic, live=live, name=name)
    router = RulesetsRouter(publishing, auth=auth)
    administer = [Depends(admin or auth)]
    view = RulesetVersionView
    router.add_api_route(
        "", create_draft, methods=["POST"], status_code=201, response_model=view, dependencies=administer
    )
    router.add_api_route("", list_rulesets, methods=["GET"], response_model=list[RulesetVersionView])
    router.add_api_route("/live", get_live, methods=["GET"], response_model=LiveView)
    router.add_api_route("/rollback", rollback, methods=["POST"], response_model=view, dependencies=administer)
    router.add_api_route("/{version}", get_ruleset, methods=["GET"], response_model=RulesetDetail)
    router.add_api_route("/{version}/diff/{other}", diff, methods=["GET"], response_model=RulesetDiff)
    router.add_api_route("/{version}/publish", publish, methods=["POST"], response_model=view, dependencies=administer)
    return router
