"""``/console/preview``: start a backtest of a stored version over a period, follow it, cancel it, read it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session

from peerscore.errors import NotFound
from peerscore.events import utcnow
from peerscore.scoring.backtest.period import Period, parse_moment
from peerscore.scoring.deps import EngineDep
from peerscore.scoring.domain.errors import RulesetError
from peerscore.scoring.domain.ruleset import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry

from . import preview_html as pages
from .html import notice, url
from .web import SECURITY_HEADERS, Console, ConsoleDeps, Posted, SignedIn, WebDep

router = APIRouter()
PRESETS = dict(pages.PERIODS)


def period_from(fields: dict[str, str], now: datetime) -> tuple[Period, str]:
    """The period chosen on the form: custom dates when given (UTC midnights), else a preset like ``90d``."""
    since_text, until_text = fields.get("since", "").strip(), fields.get("until", "").strip()
    if since_text or until_text:
        since = datetime.combine(date.fromisoformat(since_text), datetime.min.time(), UTC) if since_text else None
        until = datetime.combine(date.fromisoformat(until_text), datetime.min.time(), UTC) if until_text else None
        label = f"{since_text or 'the beginning'} to {until_text or 'now'}"
        return Period(since=since, until=until), label
    preset = fields.get("period", "90d")
    if preset not in PRESETS:
        raise ValueError(f"unknown period {preset!r}")
    return Period(since=parse_moment(preset, now)), PRESETS[preset].lower()


def _versions(deps: ConsoleDeps, engine: Engine) -> list[ruleset_registry.RulesetVersionRow]:
    with Session(engine) as session:
        return ruleset_registry.list_versions(session, name=deps.ruleset_name)


def _stored_yaml(engine: Engine, version: str) -> str:
    with Session(engine) as session:
        return ruleset_registry.get_version(session, version).yaml


@router.get("/preview", response_class=HTMLResponse)
def start_page(deps: Console, web: WebDep, sess: SignedIn, engine: EngineDep, version: str = "") -> Response:
    stored = _versions(deps, engine)
    live = deps.live.current().version
    chosen = version or next((v.version for v in stored if v.status == "draft"), live)
    body = pages.start_form(stored, chosen, live, sess.csrf) + "<h2>Recent previews</h2>"
    body += pages.jobs_list([(j, v, p, deps.backtests.get(j)) for j, v, p in deps.previews.recent()])
    return web.page(sess, "Preview a ruleset on history", body, active="preview")


@router.post("/preview", response_class=HTMLResponse)
async def start(deps: Console, web: WebDep, posted: Posted, engine: EngineDep) -> Response:
    sess, version = posted.session, posted.fields.get("version", "")
    try:
        candidate = parse_ruleset(await run_in_threadpool(_stored_yaml, engine, version))
        period, label = period_from(posted.fields, utcnow())
    except ruleset_registry.RulesetNotFound:
        raise NotFound(f"no ruleset version {version}") from None
    except (RulesetError, ValueError) as exc:
        body = notice(f"Cannot preview: {exc}", "error") + pages.start_form(
            _versions(deps, engine), version, None, sess.csrf
        )
        return web.page(sess, "Preview a ruleset on history", body, active="preview", status_code=422)
    job = deps.backtests.start(candidate, period)
    deps.previews.add(job.id, version, label)
    return web.redirect(sess, url(f"/preview/{job.id}"))


@router.get("/preview/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, deps: Console, web: WebDep, sess: SignedIn) -> Response:
    view, meta = deps.backtests.get(job_id), deps.previews.get(job_id)
    if view is None or meta is None:
        raise NotFound("no such preview (previews are kept in memory and forgotten on restart)")
    version, period = meta
    if view.status == "running":
        return web.page(
            sess, f"Previewing {version}…", pages.running(view, version, period, sess.csrf), active="preview"
        )
    if view.status == "done" and view.report is not None:
        body = pages.report_page(view, view.report, period, deps.live.current().version, sess.csrf)
        return web.page(sess, f"Preview of {version}", body, active="preview")
    return web.page(sess, f"Preview of {version}", pages.finished(view, version), active="preview")


@router.get("/preview/{job_id}/progress")
def progress(job_id: str, deps: Console, _: SignedIn) -> Response:
    """What the page's script polls: JSON, still behind the sign-in."""
    view = deps.backtests.get(job_id)
    if view is None:
        raise NotFound("no such preview")
    body = {"status": view.status, "done": view.events_done, "total": view.events_total}
    return JSONResponse(body, headers=SECURITY_HEADERS)


@router.post("/preview/{job_id}/cancel")
async def cancel(job_id: str, deps: Console, web: WebDep, posted: Posted) -> Response:
    if deps.backtests.cancel(job_id) is None:
        raise NotFound("no such preview")
    return web.redirect(posted.session, url(f"/preview/{job_id}"))
