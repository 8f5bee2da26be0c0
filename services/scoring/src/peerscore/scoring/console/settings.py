"""Console settings (env prefix ``CONSOLE_``): who may sign in and where crm-sync answers."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from peerscore.settings import RuntimeSettings, refuse_placeholder

MIN_ADMIN_TOKEN_CHARS = 24
"""The console's sign-in form can be tried from anywhere the port is reachable: a short token is guessable."""


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    admin_token: SecretStr = SecretStr("")
    """Signs people in (login form → cookie) and authorises API calls (``Authorization: Bearer``). Outside dev
    the console is only served with one; in dev without one it is open to anyone who can reach the port, and
    every page says so."""
    crm_sync_url: str = "http://127.0.0.1:8002"
    """Where crm-sync answers, for a lead's sync status (``peerscore dev`` sets it)."""
    crm_timeout_s: float = Field(default=1.5, gt=0)
    """A slow or absent crm-sync makes the status "unknown" after this long; the page never waits longer."""
    session_hours: float = Field(default=12, gt=0)
    """How long a sign-in lasts. Sessions are signed with the admin token: changing it signs everyone out."""
    secure_cookie: bool = False
    """Mark the session cookie ``Secure``. Off here because ``make run`` serves plain http://127.0.0.1; the Helm
    chart turns it on (the console is served over HTTPS there)."""

    def enabled(self, runtime: RuntimeSettings) -> bool:
        """Whether to mount the console: always in dev; outside dev only with a real admin token (without one
        it stays off rather than open). A placeholder token outside dev stops start-up."""
        if not self.admin_token.get_secret_value():
            return runtime.is_dev
        refuse_placeholder(runtime, "CONSOLE_ADMIN_TOKEN", self.admin_token)
        if not runtime.is_dev and len(self.admin_token.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"CONSOLE_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters outside dev")
        return True
