"""HTTP API over the ruleset registry: store drafts, review them (summary, diff), publish and roll back.

Publishing commits to the database first and then announces on the ``rules`` topic (acks=all, waited for). If
the announcement fails the answer is 503 and the same publish can simply be retried: publishing the version
that is already live only re-announces it. One lock per process keeps announcements in registry order.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from kafka.errors import KafkaError
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.events import utcnow
from peerscore.kafka_io import Publisher
from peerscore.scoring.domain.errors import RulesetError, RulesetProblem
from peerscore.scoring.domain.ruleset import parse_ruleset

from . import ruleset_registry
from .messages import RulesetPublished, announcement
from .models import RulesetVersionRow
from .watcher import LiveRuleset

MAX_BODY_BYTES = 1024 * 1024


class RulesetVersionView(BaseModel):
    version: str
    name: str
    status: str
    created_at: datetime
    published_at: datetime | None


class RulesetDetail(RulesetVersionView):
    yaml: str
    summary: dict[str, object]


class RulesetDiff(BaseModel):
    from_version: str
    to_version: str
    diff: str


class LiveView(BaseModel):
    name: str
    version: str | None
    """The version the registry says is live (``None``: never published, the configured default is used)."""
    published_at: datetime | None
    serving: str
    """The version this worker scores with right now."""


def _view(row: RulesetVersionRow) -> RulesetVersionView:
    return RulesetVersionView.model_validate(row, from_attributes=True)


def _http(exc: ruleset_registry.RegistryError) -> HTTPException:
    return HTTPException(exc.status_code, str(exc))


def _problems(errors: list[RulesetProblem]) -> JSONResponse:
    return JSONResponse({"errors": [p.model_dump() for p in errors]}, 422)


def _yaml_from_body(content_type: str, body: bytes) -> str:
    """YAML as the raw body (``application/yaml``, ``text/*``) or as ``{"yaml": "..."}`` in JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not UTF-8") from None
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json":
        try:
            data = json.loads(text)
        except ValueError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body is not valid JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("yaml"), str):
            raise HTTPException(status.HTTP_400_BAD_REQUEST, 'JSON bodies are {"yaml": "<ruleset text>"}')
        return str(data["yaml"])
    if media in ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", ""):
        return text
    raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send application/yaml or application/json")


def rulesets_router(
    *,
    engine: Engine,
    publisher: Publisher,
    topic: str,
    live: LiveRuleset,
    name: str,
    auth: Callable[..., None],
    admin: Callable[..., None] | None = None,
) -> APIRouter:
    """``name`` is the ruleset this worker follows: the default for rollback and what ``/live`` reports.
    ``auth`` guards every route (reads); ``admin`` also guards storing, publishing and rolling back."""
    router = APIRouter(prefix="/v1/rulesets", tags=["rulesets"], dependencies=[Depends(auth)])
    administer = [Depends(admin or auth)]
    lock = threading.Lock()

    def announce(message: RulesetPublished) -> None:
        try:
            publisher.publish([announcement(topic, message)], wait=True)
        except KafkaError as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"{message.version} is live in the registry but workers were not told ({type(exc).__name__}); "
                f"retry POST /v1/rulesets/{message.version}/publish",
            ) from exc
        if message.name == name:
            live.install(parse_ruleset(message.yaml), source="api")

    def make_live(change: Callable[[Session], RulesetVersionRow]) -> RulesetVersionView:
        with lock:
            try:
                with Session(engine) as session, session.begin():
                    row = change(session)
                    view = _view(row)
                    assert row.published_at is not None
                    message = RulesetPublished(
                        name=row.name, version=row.version, yaml=row.yaml, published_at=row.published_at
                    )
            except ruleset_registry.RegistryError as exc:
                raise _http(exc) from None
            announce(message)
        return view

    def store(text: str) -> tuple[RulesetVersionView, bool] | JSONResponse:
        try:
            with Session(engine) as session, session.begin():
                stored = ruleset_registry.store_draft(session, text=text, now=utcnow())
                return _view(stored.row), stored.created
        except RulesetError as exc:
            return _problems(exc.errors)
        except ruleset_registry.RegistryError as exc:
            raise _http(exc) from None

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=RulesetVersionView, dependencies=administer)
    async def create_draft(request: Request, response: Response) -> RulesetVersionView | JSONResponse:
        """Validate and store a draft: 201 with its version, 200 if that exact ruleset exists, 422 with problems."""
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "a ruleset is at most 1 MiB")
        text = _yaml_from_body(request.headers.get("content-type", ""), body)
        result = await run_in_threadpool(store, text)
        if isinstance(result, JSONResponse):
            return result
        view, created = result
        if not created:
            response.status_code = status.HTTP_200_OK
        return view

    @router.get("", response_model=list[RulesetVersionView])
    def list_rulesets(name: str | None = None) -> list[RulesetVersionView]:
        with Session(engine) as session:
            return [_view(r) for r in ruleset_registry.list_versions(session, name=name)]

    @router.get("/live", response_model=LiveView)
    def get_live() -> LiveView:
        with Session(engine) as session:
            row = ruleset_registry.live_version(session, name)
            version, published_at = (row.version, row.published_at) if row else (None, None)
        return LiveView(name=name, version=version, published_at=published_at, serving=live.current().version)

    @router.post("/rollback", response_model=RulesetVersionView, dependencies=administer)
    def rollback(ruleset_name: Annotated[str | None, Query(alias="name", max_length=128)] = None) -> RulesetVersionView:
        """Return to the version that was live before the current one (of this worker's ruleset by default)."""
        return make_live(lambda s: ruleset_registry.rollback(s, name=ruleset_name or name, now=utcnow()))

    @router.get("/{version}", response_model=RulesetDetail)
    def get_ruleset(version: str) -> RulesetDetail:
        with Session(engine) as session:
            try:
                row = ruleset_registry.get_version(session, version)
            except ruleset_registry.RegistryError as exc:
                raise _http(exc) from None
            try:
                summary = ruleset_registry.summary(parse_ruleset(row.yaml))
            except RulesetError as exc:  # stored under older rules of validation: show why it no longer parses
                summary = {"problems": [p.model_dump() for p in exc.errors]}
            return RulesetDetail(**_view(row).model_dump(), yaml=row.yaml, summary=summary)

    @router.get("/{version}/diff/{other}", response_model=RulesetDiff)
    def diff(version: str, other: str) -> RulesetDiff:
        """What changes going from ``version`` to ``other``, as a unified diff of the YAML texts."""
        with Session(engine) as session:
            try:
                old, new = ruleset_registry.get_version(session, version), ruleset_registry.get_version(session, other)
            except ruleset_registry.RegistryError as exc:
                raise _http(exc) from None
            text = ruleset_registry.unified_diff(old.yaml, new.yaml, old_label=version, new_label=other)
        return RulesetDiff(from_version=version, to_version=other, diff=text)

    @router.post("/{version}/publish", response_model=RulesetVersionView, dependencies=administer)
    def publish(version: str) -> RulesetVersionView:
        """Make a stored version live in every worker (re-announces it if it already is)."""
        return make_live(lambda s: ruleset_registry.publish(s, version=version, now=utcnow())[0])

    return router
