"""The collector settings worker entry points apply (checked in a child process: they are process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys

from peerscore.runtime import WORKER_GC_THRESHOLDS

CHILD = """
import gc, json
from peerscore.runtime import tune_gc_for_throughput
kept = [object() for _ in range(10)]
before = {"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}
tune_gc_for_throughput()
after = {"thresholds": gc.get_threshold(), "frozen": gc.get_freeze_count()}
# Cycles made after tuning are still collected.
class Node:
    pass
a, b = Node(), Node()
a.other, b.other = b, a
del a, b
print(json.dumps({"before": before, "after": after, "collected": gc.collect()}))
"""


def test_tuning_freezes_start_up_objects_raises_thresholds_and_still_collects_cycles() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["before"]["frozen"] == 0
    assert result["after"]["frozen"] > 1_000  # the modules and objects start-up built
    assert tuple(result["after"]["thresholds"]) == WORKER_GC_THRESHOLDS
    assert tuple(result["before"]["thresholds"]) != WORKER_GC_THRESHOLDS
    assert result["collected"] >= 2
