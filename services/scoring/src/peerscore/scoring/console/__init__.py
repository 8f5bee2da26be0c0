"""The marketer console: edit rules, preview them on history, publish and roll back, explore leads.

Server-rendered HTML built by small functions (every value escaped with :func:`html.escape`), charts as inline
SVG drawn on the server, one small script for backtest progress: it works offline, under a strict CSP and with
the keyboard alone. Mounted by the scoring app under ``/console``.
"""

from __future__ import annotations

from .settings import ConsoleSettings
from .web import ConsoleDeps
from .wiring import console_router

__all__ = ["ConsoleDeps", "ConsoleSettings", "console_router"]
