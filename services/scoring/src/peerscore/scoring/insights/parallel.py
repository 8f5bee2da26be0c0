"""The influence job's fold over several processes, for big backlogs (a first build, a ``--rebuild``).

Worker processes (spawned, each with its own engine) read and classify id ranges of ``event_history``; this
process takes their results **in id order**, maps each worker's item codes onto the job's vocabulary, and appends
and commits them chunk by chunk with the watermark, exactly as the one-process fold does. At most two ranges per
worker are in flight, so memory stays bounded whatever the backlog.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
from sqlalchemy import Engine, select

from peerscore.db import make_engine
from peerscore.scoring.history import EventHistoryRow
from peerscore.scoring.insights.job import WIDTH, Folder, commit_chunk, history_columns, raw_rows

_engine: Engine | None = None
Coded = tuple[int, list[str], list[str], list[int], bytes]
"""Rows read, the worker's vocabulary, person keys, touches per key, and the touches (int64s, local codes)."""


def _start(url: str) -> None:
    global _engine  # noqa: PLW0603 - one engine per worker process
    _engine = make_engine(url)


def _read(after: int, upto: int) -> Coded:
    assert _engine is not None
    table = EventHistoryRow.__table__  # type: ignore[attr-defined]
    query = select(*history_columns(_engine)).where(table.c.id > after, table.c.id <= upto).order_by(table.c.id)
    with _engine.connect() as conn:
        rows = raw_rows(conn, query)
    folder = Folder([])
    new = folder.fold(rows)
    keys = list(new)
    return len(rows), folder.vocabulary, keys, [len(new[k]) for k in keys], b"".join(new[k] for k in keys)


def _recode(folder: Folder, coded: Coded) -> dict[str, bytes]:
    """A worker's touches with the job's codes, per person key."""
    _, vocabulary, keys, sizes, blob = coded
    mapping = np.array([folder.code(word) for word in vocabulary] + [-1], dtype=np.int64)  # -1 stays -1
    data = np.frombuffer(blob, dtype="<i8").reshape(-1, WIDTH).astype(np.int64)
    data[:, 2:8] = mapping[data[:, 2:8]]
    raw = data.astype("<i8").tobytes()
    out: dict[str, bytes] = {}
    offset = 0
    for key, size in zip(keys, sizes, strict=True):
        out[key] = raw[offset : offset + size]
        offset += size
    return out


def fold_in_processes(
    engine: Engine, folder: Folder, watermark: int, upto: int, *, chunk: int, workers: int
) -> tuple[int, int]:
    """Fold ids ``(watermark, upto]``; returns (events read, new watermark)."""
    ranges = deque((lo, min(lo + chunk, upto)) for lo in range(watermark, upto, chunk))
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    read = 0
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start, initargs=(url,)) as pool:
        pending: deque[tuple[int, Future[Coded]]] = deque()
        while ranges or pending:
            while ranges and len(pending) < 2 * workers:
                after, until = ranges.popleft()
                pending.append((until, pool.submit(_read, after, until)))
            until, future = pending.popleft()
            coded = future.result()
            commit_chunk(engine, folder, _recode(folder, coded), until)
            read += coded[0]
            watermark = until
    return read, watermark
