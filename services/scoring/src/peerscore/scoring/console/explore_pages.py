"""``/console/leads``, ``/console/accounts`` and ``/console/model``: the explorer and the model page."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from peerscore.api import deprecate_email_in_url

from . import lead_html as pages
from .auth import Session
from .leads import SearchBy, account_detail, account_keys, lead_detail, search
from .model_html import model_body
from .web import ConsoleDeps, Web


def explore_routes(deps: ConsoleDeps, web: Web) -> APIRouter:
    router = APIRouter()

    def leads_page(sess: Session, q: str, by: str) -> Response:
        by = by if by in ("email", "domain", "account") else "email"
        body = pages.search_form(q, by, sess.csrf)
        if by == "account" and q.strip():
            body += pages.accounts_list(account_keys(deps.engine, q), q)
        else:
            body += pages.results(search(deps.engine, q[:320], cast(SearchBy, by)), q)
        return web.page(sess, "Leads", body, active="leads")

    @router.get("/leads", response_class=HTMLResponse)
    def leads(request: Request, q: str = "", by: str = "email") -> Response:
        page = leads_page(web.session(request), q, by)
        if q:  # one release: links and bookmarks with ?q= keep working, marked deprecated
            deprecate_email_in_url(page, endpoint="GET /console/leads?q=", successor="/console/leads")
        return page

    @router.post("/leads", response_class=HTMLResponse)
    async def leads_search(request: Request) -> Response:
        """The search form posts here, so the query (often an email) stays out of URLs and logs."""
        sess, fields, _ = await web.form(request)
        return leads_page(sess, fields.get("q", ""), fields.get("by", "email"))

    @router.get("/leads/{person_key}", response_class=HTMLResponse)
    async def lead(request: Request, person_key: str) -> Response:
        sess = web.session(request)
        detail = await run_in_threadpool(lead_detail, deps.engine, person_key, deps.live.current())
        if detail is None:
            raise HTTPException(404, "no such lead")
        crm = await deps.crm.status(person_key)
        title = f"Lead {detail.email or person_key[:12]}"
        return web.page(sess, title, pages.lead_page(detail, crm), active="leads")

    @router.get("/accounts", response_class=HTMLResponse)
    def accounts(request: Request, q: str = "") -> Response:
        sess = web.session(request)
        return web.page(sess, "Accounts", pages.accounts_list(account_keys(deps.engine, q[:255]), q), active="accounts")

    @router.get("/accounts/{account_key}", response_class=HTMLResponse)
    def account(request: Request, account_key: str) -> Response:
        sess = web.session(request)
        detail = account_detail(deps.engine, account_key, deps.live.current())
        if detail is None:
            raise HTTPException(404, "no such account")
        return web.page(sess, f"Account {detail.score.account_key}", pages.account_page(detail), active="accounts")

    @router.get("/model", response_class=HTMLResponse)
    def model(request: Request) -> Response:
        sess = web.session(request)
        return web.page(sess, "Predictive model", model_body(deps.engine), active="model")

    return router
