"""What the ingest routes depend on, read from ``app.state`` (set by :func:`peerscore.ingest.app.create_app`).

Routes name these as ``Annotated`` aliases (``state: IngestDep``), so a route is a plain module-level function
that tests can read and call by name, and the app decides once what it is wired to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from peerscore.ingest.auth import WriteKeys
from peerscore.ingest.linkedin.client import LinkedInLeadClient
from peerscore.ingest.metrics import IngestMetrics, LinkedInMetrics
from peerscore.ingest.settings import IngestSettings
from peerscore.ingest.sink import EventSink


@dataclass(frozen=True)
class IngestState:
    """The tracking API's limits, accepted keys, person-key secret, metrics and event sink."""

    settings: IngestSettings
    keys: WriteKeys
    secret: bytes
    metrics: IngestMetrics
    sink: EventSink


@dataclass(frozen=True)
class LinkedInState:
    """The webhooks' signing secret, the optional lead-data client and their metrics."""

    client_secret: bytes
    leads_client: LinkedInLeadClient | None
    metrics: LinkedInMetrics


def ingest_state(request: Request) -> IngestState:
    state: IngestState = request.app.state.ingest
    return state


def linkedin_state(request: Request) -> LinkedInState:
    state: LinkedInState = request.app.state.linkedin
    return state


IngestDep = Annotated[IngestState, Depends(ingest_state)]
LinkedInDep = Annotated[LinkedInState, Depends(linkedin_state)]
