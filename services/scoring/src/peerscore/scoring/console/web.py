"""What every console route shares: its dependencies, the signed-in check, CSRF-checked forms, and responses
with the security headers a page holding personal data needs.

Routes are named module-level functions; they receive these through the ``Annotated`` aliases at the bottom
(``Console``, ``WebDep``, ``SignedIn``, ``Posted``). :func:`console_router` binds one :class:`ConsoleDeps` to
the requests it serves, so an app (or a test) decides what the console works on without any global. The
database is not among them: pages take the app's engine (``app.state.engine``, opened by the lifespan) through
:data:`peerscore.scoring.deps.EngineDep`, listed after ``SignedIn``/``Posted`` so that a refused request is
answered (401, 403, the sign-in redirect) before anything asks for the database."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse

from peerscore import errors
from peerscore.scoring.backtest.jobs import BacktestJobs, BacktestView
from peerscore.scoring.rulesets.watcher import LiveRuleset

from .actions import RulesetActions
from .auth import COOKIE, ConsoleAuth, Forbidden, NotSignedIn, Session
from .crm import CrmSyncClient
from .html import page, url

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
KEEP_PREVIEWS = 50
MESSAGES = {
    "published": "Published {v}: it is live in every scoring worker.",
    "rolledback": "Rolled back: {v} is live again.",
    "signedout": "Signed out.",
}


@dataclass
class PreviewIndex:
    """Which version and period each preview job ran (the job API only knows rulesets), newest last."""

    jobs: OrderedDict[str, tuple[str, str]] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, job_id: str, version: str, period: str) -> None:
        with self.lock:
            self.jobs[job_id] = (version, period)
            while len(self.jobs) > KEEP_PREVIEWS:
                self.jobs.popitem(last=False)

    def get(self, job_id: str) -> tuple[str, str] | None:
        with self.lock:
            return self.jobs.get(job_id)

    def recent(self) -> list[tuple[str, str, str]]:
        with self.lock:
            return [(job_id, v, p) for job_id, (v, p) in reversed(self.jobs.items())]


@dataclass(frozen=True)
class ConsoleDeps:
    """What the console is built with, once per app (before the lifespan opens the engine)."""

    live: LiveRuleset
    ruleset_name: str
    default_text: Callable[[], str]
    """The YAML of the configured default ruleset (what is live before anything is published)."""
    backtests: BacktestJobs
    actions: RulesetActions
    crm: CrmSyncClient
    auth: ConsoleAuth
    previews: PreviewIndex = field(default_factory=PreviewIndex)

    def latest_done_preview(self, version: str) -> tuple[str, str, BacktestView] | None:
        for job_id, v, period in self.previews.recent():
            if v != version:
                continue
            view = self.backtests.get(job_id)
            if view is not None and view.status == "done" and view.report is not None:
                return job_id, period, view
        return None

    def bind(self, request: Request) -> None:
        """A router dependency: hands these dependencies to the routes through :func:`console_deps`."""
        request.state.console = self


class Web:
    """Binds the auth and the page frame to requests; routes call :meth:`session`, :meth:`form`, :meth:`page`."""

    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps
        self.auth = deps.auth

    def session(self, request: Request) -> Session:
        try:
            return self.auth.session(request)
        except NotSignedIn as exc:
            if "authorization" in request.headers or "application/json" in request.headers.get("accept", ""):
                raise errors.Unauthorized(str(exc)) from None
            raise HTTPException(  # not an error: a browser is sent to the sign-in page and back
                status.HTTP_303_SEE_OTHER, "sign in first", {"Location": url("/login", next=request.url.path)}
            ) from None

    async def form(self, request: Request) -> PostedForm:
        """The signed-in session and the posted fields, after the CSRF and origin checks."""
        sess = self.session(request)
        data = await request.form()
        fields = {k: v for k, v in data.multi_items() if isinstance(v, str)}
        try:
            self.auth.check_post(request, sess, fields.get("csrf"))
        except Forbidden as exc:
            raise errors.Forbidden(str(exc)) from None
        checked = {k for k, v in fields.items() if v == "on"}
        return PostedForm(sess, fields, checked)

    def page(
        self,
        sess: Session,
        title: str,
        body: str,
        *,
        active: str,
        status_code: int = 200,
        flash: str | None = None,
    ) -> HTMLResponse:
        html = page(
            title,
            body,
            active=active,
            dev_open=self.auth.open,
            dev=self.auth.dev,
            csrf=sess.csrf,
            signed_in=not sess.bearer,
            flash=flash,
        )
        response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
        self.keep_session(response, sess)
        return response

    def keep_session(self, response: HTMLResponse | RedirectResponse, sess: Session) -> None:
        if sess.fresh_cookie is not None:
            self.set_cookie(response, sess.fresh_cookie)

    def set_cookie(self, response: HTMLResponse | RedirectResponse, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.auth.max_age,
            path="/console",
            httponly=True,
            samesite="strict",
            secure=self.auth.secure_cookie,
        )

    def redirect(self, sess: Session, location: str) -> RedirectResponse:
        response = RedirectResponse(location, status_code=status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
        self.keep_session(response, sess)
        return response


def flash_from(request: Request) -> str | None:
    template = MESSAGES.get(request.query_params.get("msg", ""))
    return template.format(v=request.query_params.get("v", "")[:64]) if template else None


@dataclass(frozen=True)
class PostedForm:
    """A posted console form, after the sign-in, origin and CSRF checks."""

    session: Session
    fields: dict[str, str]
    checked: set[str]
    """The names of the ticked checkboxes."""


def console_deps(request: Request) -> ConsoleDeps:
    deps = getattr(request.state, "console", None)
    if not isinstance(deps, ConsoleDeps):
        raise LookupError("console routes were included without console_router(): no dependencies bound")
    return deps


Console = Annotated[ConsoleDeps, Depends(console_deps)]


def console_web(deps: Console) -> Web:
    return Web(deps)


WebDep = Annotated[Web, Depends(console_web)]


def signed_in(request: Request, web: WebDep) -> Session:
    return web.session(request)


SignedIn = Annotated[Session, Depends(signed_in)]


async def posted_form(request: Request, web: WebDep) -> PostedForm:
    return await web.form(request)


Posted = Annotated[PostedForm, Depends(posted_form)]
