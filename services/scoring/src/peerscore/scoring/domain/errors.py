"""Why a ruleset was refused, in terms a marketer editing YAML can act on.

Every problem names the YAML line and the field path (``rules[3].when.url_matches``) so the console and the
API can point at the exact spot instead of dumping a pydantic traceback.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RulesetProblem(BaseModel):
    """One thing wrong with a ruleset. ``line`` is 1-based and ``None`` when the text had no such place."""

    model_config = ConfigDict(frozen=True)

    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "ruleset"
        return f"{where}: {self.path or '(top level)'}: {self.message}"


class RulesetError(ValueError):
    """A ruleset that cannot be used; carries every problem found, not just the first, so one edit fixes all."""

    def __init__(self, errors: list[RulesetProblem]) -> None:
        self.errors = sorted(errors, key=lambda p: (p.line if p.line is not None else 0, p.path))
        super().__init__("invalid ruleset:\n" + "\n".join(f"  {p}" for p in self.errors))
