"""``/console/preview``: start a backtest of a stored version over a period, follow it, cancel it, read it."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlmodel import Session

from peerscore.events import utcnow
from peerscore.scoring.backtest.period import Period, parse_moment
from peerscore.scoring.domain.errors import RulesetError
from peerscore.scoring.domain.ruleset import parse_ruleset
from peerscore.scoring.rulesets import ruleset_registry

from . import preview_html as pages
from .html import notice, url
from .web import SECURITY_HEADERS, ConsoleDeps, Web

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


def preview_routes(deps: ConsoleDeps, web: Web) -> APIRouter:
    router = APIRouter()

    def versions() -> list[ruleset_registry.RulesetVersionRow]:
        with Session(deps.engine) as session:
            return ruleset_registry.list_versions(session, name=deps.ruleset_name)

    @router.get("/preview", response_class=HTMLResponse)
    def start_page(request: Request, version: str = "") -> Response:
        sess = web.session(request)
        stored = versions()
        live = deps.live.current().version
        chosen = version or next((v.version for v in stored if v.status == "draft"), live)
        body = pages.start_form(stored, chosen, live, sess.csrf) + "<h2>Recent previews</h2>"
        body += pages.jobs_list([(j, v, p, deps.backtests.get(j)) for j, v, p in deps.previews.recent()])
        return web.page(sess, "Preview a ruleset on history", body, active="preview")

    @router.post("/preview", response_class=HTMLResponse)
    async def start(request: Request) -> Response:
        sess, fields, _ = await web.form(request)
        version = fields.get("version", "")

        def load() -> str:
            with Session(deps.engine) as session:
                return ruleset_registry.get_version(session, version).yaml

        try:
            candidate = parse_ruleset(await run_in_threadpool(load))
            period, label = period_from(fields, utcnow())
        except ruleset_registry.RulesetNotFound:
            raise HTTPException(404, f"no ruleset version {version}") from None
        except (RulesetError, ValueError) as exc:
            body = notice(f"Cannot preview: {exc}", "error") + pages.start_form(versions(), version, None, sess.csrf)
            return web.page(sess, "Preview a ruleset on history", body, active="preview", status_code=422)
        job = deps.backtests.start(candidate, period)
        deps.previews.add(job.id, version, label)
        return web.redirect(sess, url(f"/preview/{job.id}"))

    @router.get("/preview/{job_id}", response_class=HTMLResponse)
    def job_page(request: Request, job_id: str) -> Response:
        sess = web.session(request)
        view, meta = deps.backtests.get(job_id), deps.previews.get(job_id)
        if view is None or meta is None:
            raise HTTPException(404, "no such preview (previews are kept in memory and forgotten on restart)")
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
    def progress(request: Request, job_id: str) -> Response:
        web.session(request)
        view = deps.backtests.get(job_id)
        if view is None:
            raise HTTPException(404, "no such preview")
        body = {"status": view.status, "done": view.events_done, "total": view.events_total}
        return JSONResponse(body, headers=SECURITY_HEADERS)

    @router.post("/preview/{job_id}/cancel")
    async def cancel(request: Request, job_id: str) -> Response:
        sess, _, _ = await web.form(request)
        if deps.backtests.cancel(job_id) is None:
            raise HTTPException(404, "no such preview")
        return web.redirect(sess, url(f"/preview/{job_id}"))

    return router
