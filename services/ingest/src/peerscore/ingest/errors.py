"""Domain errors of the ingest edge, free of any web framework so normalisation stays pure.

Messages name the JSON field path and what was expected, never the offending value: values may be personal
data and these messages are both logged and returned to the caller. The HTTP answers built from them live in
:mod:`peerscore.ingest.rejections`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from peerscore.limits import NO_NUL


def join_path(prefix: str, field: str) -> str:
    """``join_path("batch[3]", "timestamp") -> "batch[3].timestamp"``; top-level calls have no prefix."""
    if not prefix:
        return field
    if not field:
        return prefix
    return f"{prefix}.{field}"


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class InvalidEvent(Exception):
    """One or more calls cannot be normalised; the request is refused as a whole (400)."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = tuple(errors)

    @classmethod
    def at(cls, path: str, message: str) -> InvalidEvent:
        return cls([FieldError(path, message)])


def contract_error(error: Mapping[str, Any]) -> str:
    """``account.domain: must be at most 255 characters``: the event field and what is wrong, never the value."""
    where = ".".join(map(str, error["loc"]))
    limit = (error.get("ctx") or {}).get("max_length")
    if limit is not None:
        return f"{where}: must be at most {limit} characters"
    if error["type"] == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == NO_NUL:
        return f"{where}: must not contain NUL characters"
    return f"{where}: {error['type']}"


def breaks_contract(exc: ValidationError, path: str) -> InvalidEvent:
    """An event that does not fit :mod:`peerscore.events` (lengths and shapes of :mod:`peerscore.limits`)."""
    return InvalidEvent([FieldError(path or "$", contract_error(e)) for e in exc.errors()])
