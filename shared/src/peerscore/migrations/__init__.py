"""Alembic migrations for every Peerscore table, shipped inside the shared package.

The scripts live next to this module so the Helm migration Job, ``peerscore db upgrade`` and the tests run them
from the installed package, with no ``alembic.ini`` and no checkout. One linear history covers the tables of all
services (they may share one PostgreSQL database; a service simply ignores the tables it does not use).

SQLite is supported through batch mode (``render_as_batch``), so the same scripts run in dev and in production.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).parent
"""Where ``env.py`` and ``versions/`` live; the API is in :mod:`peerscore.migrations.runner`."""
