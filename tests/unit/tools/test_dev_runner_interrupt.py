"""``make run`` stops in order even when Ctrl-C arrives twice (the terminal's, and the copy `uv run` forwards)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import pytest

from peerscore.dev.runner import DevStack, run_dev


class SecondInterrupt(Exception):
    pass


def test_a_second_interrupt_does_not_abort_the_orderly_stop(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stopped: list[str] = []

    def first_interrupt(_: DevStack) -> str:
        raise KeyboardInterrupt

    def stop(_: DevStack) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # arrive while the workers drain
        os.kill(os.getpid(), signal.SIGTERM)
        stopped.append("workers and broker stopped")

    def refuse(_signum: int, _frame: FrameType | None) -> None:
        raise SecondInterrupt("the second Ctrl-C interrupted the stop")

    monkeypatch.setattr(DevStack, "bootstrap", first_interrupt)
    monkeypatch.setattr(DevStack, "stop", stop)
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, refuse)
    monkeypatch.setattr("peerscore.dev.runner._interrupt", refuse)  # run_dev's SIGTERM handler
    try:
        run_dev(var=tmp_path)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert stopped == ["workers and broker stopped"]
