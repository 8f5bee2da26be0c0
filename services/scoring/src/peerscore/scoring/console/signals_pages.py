"""``/console/signals``: the unscored-signal report, and one click from a signal to a draft rule for it.

The draft opens in the YAML editor of :mod:`.rules_pages` (the live ruleset with the rule added first), so
saving, previewing and publishing it are the usual steps; nothing is stored until the marketer saves.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session as DbSession

from peerscore.events import utcnow
from peerscore.scoring.deps import EngineDep
from peerscore.scoring.signals import UnscoredReport, unscored_report

from . import editor_html
from .rules_state import base_text
from .signal_drafts import with_draft_rule
from .signals_html import draft_intro, signals_body
from .web import Console, SignedIn, WebDep

router = APIRouter()


def _report(engine: Engine, days: int) -> UnscoredReport:
    with DbSession(engine) as session:
        return unscored_report(session, today=utcnow().date(), days=days)


@router.get("/signals", response_class=HTMLResponse, name="console_signals")
async def signals(
    web: WebDep, sess: SignedIn, engine: EngineDep, days: int = Query(default=30, ge=1, le=366)
) -> Response:
    report = await run_in_threadpool(_report, engine, days)
    return web.page(sess, "Unscored signals", signals_body(report, days), active="signals")


@router.get("/signals/draft", response_class=HTMLResponse, name="console_signal_draft")
async def signal_draft(
    deps: Console,
    web: WebDep,
    sess: SignedIn,
    engine: EngineDep,
    type: str = Query(min_length=1, max_length=128),  # noqa: A002 - the query parameter's name
    name: str = Query(default="", max_length=256),
    page: str = Query(default="", max_length=32),
) -> Response:
    text, _ = await run_in_threadpool(base_text, deps, engine, "")
    draft = with_draft_rule(text, deps.live.current(), type_=type, name=name, page=page)
    body = draft_intro(type, page) + editor_html.yaml_editor(draft, "", [], sess.csrf)
    return web.page(sess, "Draft a rule", body, active="rules")
