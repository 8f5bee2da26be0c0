"""The console router: sign-in, static assets, and the rules, preview and explorer pages under ``/console``."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .auth import COOKIE, Forbidden
from .explore_pages import explore_routes
from .html import BASE, hidden, notice, page, url
from .preview_pages import preview_routes
from .rules_pages import rules_routes
from .web import SECURITY_HEADERS, ConsoleDeps, Web

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


def console_router(deps: ConsoleDeps) -> APIRouter:
    web = Web(deps)
    router = APIRouter(prefix=BASE, tags=["console"], include_in_schema=False)
    assets = {name: files("peerscore.scoring.console").joinpath("static", name).read_bytes() for name in STATIC_TYPES}

    @router.get("")
    def root() -> RedirectResponse:
        return RedirectResponse(url("/rules"), status_code=status.HTTP_303_SEE_OTHER)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in assets:
            return Response(status_code=404)
        return Response(assets[name], media_type=STATIC_TYPES[name], headers={"Cache-Control": "max-age=3600"})

    @router.get("/login", response_class=HTMLResponse)
    def login_form(next: str = "") -> Response:  # noqa: A002 - the query parameter's name
        if web.auth.open:
            return RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        return _login_page(web, _safe_next(next), None)

    @router.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
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
    async def logout(request: Request) -> Response:
        session, _, _ = await web.form(request)
        web.auth.revoke(session)  # the cookie is refused from now on, even where a copy of it survives
        response = RedirectResponse(url("/login"), status_code=status.HTTP_303_SEE_OTHER, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path=BASE)
        return response

    router.include_router(rules_routes(deps, web))
    router.include_router(preview_routes(deps, web))
    router.include_router(explore_routes(deps, web))
    return router
