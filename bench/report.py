"""How every bench script reports: a JSON file under var/bench/ (the README's table is built from them) and an
aligned table on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def publish_result(name: str, result: dict[str, Any], title: str | None = None) -> None:
    out = Path("var/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    if title:
        print(f"\n{title}")
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}")
