"""How every bench script reports: a JSON file under var/bench/ (the README's table is built from them) and an
aligned table on stdout."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def measured_where(note: str | None = None) -> dict[str, str]:
    """The machine and time every result starts with, so a number is never read without where it came from."""
    cores = f"{os.cpu_count()} cores" + (f" ({note})" if note else "")
    machine = f"{platform.node()} {cores}, {platform.python_implementation()} {platform.python_version()}"
    return {"machine": machine, "measured_at": datetime.now(UTC).isoformat(timespec="seconds")}


def publish_result(name: str, result: dict[str, Any], title: str | None = None) -> None:
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    if title:
        print(f"\n{title}")
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}")
