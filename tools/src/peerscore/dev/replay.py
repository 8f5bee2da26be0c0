"""Send Segment calls to an ingest endpoint in batches, exactly as a Segment SDK would (Basic auth, sentAt)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from peerscore.events import utcnow


def replay(
    calls: Sequence[dict[str, Any]],
    *,
    ingest_url: str,
    write_key: str,
    batch_size: int = 100,
    on_batch: Callable[[int], None] | None = None,
    client: httpx.Client | None = None,
) -> int:
    """POST ``calls`` to ``/v1/batch``; returns how many were accepted. Raises on any non-2xx answer."""
    own = client is None
    http = client or httpx.Client(base_url=ingest_url, auth=(write_key, ""), timeout=30.0)
    sent = 0
    try:
        for start in range(0, len(calls), batch_size):
            chunk = list(calls[start : start + batch_size])
            response = http.post("/v1/batch", json={"batch": chunk, "sentAt": utcnow().isoformat()})
            response.raise_for_status()
            sent += len(chunk)
            if on_batch is not None:
                on_batch(len(chunk))
    finally:
        if own:
            http.close()
    return sent
