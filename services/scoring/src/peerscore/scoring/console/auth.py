"""Who may use the console, and CSRF protection for its forms.

* Outside dev an admin token (at least 24 characters) is required. Browsers sign in with it once (login form,
  a few attempts per client and minute) and get an HttpOnly, SameSite=Strict cookie ``<issued>.<nonce>.<mac>``,
  MACed (HMAC-SHA256) with a key derived from the token — never the token itself — so changing the token signs
  everyone out. Signing out revokes the session server-side (:mod:`.sessions`): a copied cookie stops working
  too. API clients send ``Authorization: Bearer <token>``.
* In dev without a token the console is open (every page says so) and a session cookie is still issued, signed
  with a key made when the app starts, because forms need it for their CSRF token.
* Every form carries a CSRF token derived from the session (HMAC of its nonce); POSTs must present it and,
  when the browser sends ``Origin``, come from this host. Bearer requests carry no ambient credentials and need
  neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import Request

from peerscore.secrets_compare import ascii_digits, secrets_equal

from .sessions import LoginLimiter, MemoryRevocations, Revocations
from .settings import ConsoleSettings

COOKIE = "peerscore_console"


class NotSignedIn(Exception):
    """The request needs a session (browser) or a bearer token (API)."""


class Forbidden(Exception):
    """A state-changing request without a valid CSRF token or from another origin."""


@dataclass(frozen=True)
class Session:
    nonce: str
    csrf: str
    bearer: bool = False
    fresh_cookie: str | None = None
    """Set when this request minted the session (dev-open mode): the response must store it."""
    issued: int = 0


class ConsoleAuth:
    def __init__(
        self,
        settings: ConsoleSettings,
        *,
        dev: bool,
        revocations: Revocations | None = None,
        login_limiter: LoginLimiter | None = None,
    ) -> None:
        self._token = settings.admin_token.get_secret_value()
        self.dev = dev
        self.open = dev and not self._token
        # A derived key: a leaked MAC (or a weakness in how cookies are checked) never exposes the admin token.
        secret = self._token.encode() if self._token else secrets.token_bytes(32)
        self._key = hmac.new(secret, b"peerscore console session key v1", hashlib.sha256).digest()
        self._max_age = int(settings.session_hours * 3600)
        self.secure_cookie = settings.secure_cookie
        self._revocations = revocations or MemoryRevocations()
        self.login_limiter = login_limiter or LoginLimiter()

    @property
    def max_age(self) -> int:
        return self._max_age

    def _mac(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def mint(self) -> str:
        issued, nonce = str(int(time.time())), secrets.token_urlsafe(16)
        return f"{issued}.{nonce}.{self._mac(f'session:{issued}.{nonce}')}"

    def _session_from_cookie(self, value: str | None) -> Session | None:
        if not value or value.count(".") != 2:
            return None
        issued, nonce, mac = value.split(".")
        if not secrets_equal(mac, self._mac(f"session:{issued}.{nonce}")):
            return None
        if not ascii_digits(issued) or time.time() - int(issued) > self._max_age:
            return None
        if self._revocations.is_revoked(nonce):
            return None
        return Session(nonce=nonce, csrf=self._mac(f"csrf:{nonce}"), issued=int(issued))

    def revoke(self, session: Session) -> None:
        """Sign-out: this session's cookie is refused from now on, on every replica, until it would expire."""
        if session.bearer or not session.issued:
            return
        until = datetime.fromtimestamp(session.issued + self._max_age, UTC)
        self._revocations.revoke(session.nonce, until)

    def token_matches(self, given: str) -> bool:
        return bool(self._token) and secrets_equal(given, self._token)

    def session(self, request: Request) -> Session:
        """The caller's session, or :class:`NotSignedIn`."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given:
            if self.token_matches(given) or self.open:
                return Session(nonce="bearer", csrf="", bearer=True)
            raise NotSignedIn("wrong bearer token")
        found = self._session_from_cookie(request.cookies.get(COOKIE))
        if found is not None:
            return found
        if self.open:
            cookie = self.mint()
            minted = self._session_from_cookie(cookie)
            assert minted is not None
            return Session(nonce=minted.nonce, csrf=minted.csrf, fresh_cookie=cookie)
        raise NotSignedIn("sign in first")

    def check_origin(self, request: Request) -> None:
        """A browser form post must come from this host (``Origin`` is sent by every current browser)."""
        origin = request.headers.get("origin")
        if origin == "null":
            raise Forbidden("form post from an opaque origin refused")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Forbidden("cross-origin form post refused")

    def check_post(self, request: Request, session: Session, csrf: str | None) -> None:
        """Refuse cross-site form posts: the origin must be this host and the CSRF token this session's."""
        if session.bearer:
            return
        self.check_origin(request)
        if not csrf or not secrets_equal(csrf, session.csrf):
            raise Forbidden("the form's CSRF token is missing or stale: reload the page and try again")
