"""``/console``, ``/console/login`` and ``/console/logout``: signing in and out, and the static assets the pages
load (a stylesheet and one script, served from the package so the console works offline)."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .auth import COOKIE, Forbidden
from .html import BASE, hidden, notice, page, url
from .web import SECURITY_HEADERS, Posted, Web, WebDep

router = APIRouter()
STATIC_TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


def _safe_next(target: str) -> str:
    """Only paths inside the console: a login link must not redirect anywhere else."""
    return target if target.startswith(f"{BASE}/") and not target.startswith("//") else url("/rules")


def _login_page(web: Web, next_path: str, error: str | None, status_code: int = 200) -> HTMLResponse:
    body = (notice(error, "error") if error else "") + (
        f'<form method="post" action="{url("/login")}" class="stack">{hidden("next", next_path)}'
        '<div class="field"><label for="token">Admin token</label>'
        '<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></div>'
        '<p class="actions"><button type="submit" class="primary">Sign in</button></p></form>'
    )
    html = page("Sign in", body, active="", dev_open=False, dev=web.auth.dev, csrf=None, signed_in=False)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


@cache
def _asset(name: str) -> bytes:
    return files("peerscore.scoring.console").joinpath("static", name).read_bytes()


@router.get("")
def root() -> RedirectResponse:
    return RedirectResponse(url("/rules"), status_code=status.HTTP_303_SEE_OTHER)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_TYPES:
        return Response(status_code=404)
    return Response(_asset(name), media_type=STATIC_TYPES[name], headers={"Cache-Control": "max-age=3600"})


@router.get("/login", response_class=HTMLResponse)
def login_form(web: WebDep, next: str = "") -> Response:  # noqa: A002 - the query parameter's name
    if web.auth.open:
        return RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
    return _login_page(web, _safe_next(next), None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, web: WebDep) -> Response:
    """Checked in this order: the origin, the per-client attempt limit, then the token."""
    data = await request.form()
    token, next_path = str(data.get("token", "")), _safe_next(str(data.get("next", "")))
    try:
        web.auth.check_origin(request)
    except Forbidden as exc:
        return _login_page(web, next_path, str(exc), status.HTTP_403_FORBIDDEN)
    wait_s = web.auth.login_limiter.acquire(request.client.host if request.client else "unknown")
    if wait_s:
        page = _login_page(web, next_path, "Too many sign-in attempts; wait a minute.", 429)
        page.headers["Retry-After"] = str(max(1, round(wait_s)))
        return page
    if not web.auth.token_matches(token):
        return _login_page(web, next_path, "That is not the admin token.", status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    web.set_cookie(response, web.auth.mint())
    return response


@router.post("/logout")
async def logout(web: WebDep, posted: Posted) -> Response:
    web.auth.revoke(posted.session)  # the cookie is refused from now on, even where a copy of it survives
    response = RedirectResponse(url("/login"), status_code=status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
    response.delete_cookie(COOKIE, path=BASE)
    return response
