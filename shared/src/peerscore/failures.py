"""One rule for telling a failure that will pass (retry the batch) from one that never will (isolate the record).

Every handler used to decide on its own which database errors to retry, and most retried all of them: a value
PostgreSQL refuses (a 300-character account key in a ``VARCHAR(255)``, a NUL byte in text) then stalled its
partitions for good, since retrying the same statement can only fail the same way. The split follows the
DB-API classes, which PostgreSQL's SQLSTATE classes map onto:

* transient — the database or the way to it is (momentarily) unavailable: ``OperationalError`` (connection
  lost, lock or statement timeout, deadlock, serialization failure, too many connections), ``InterfaceError``,
  an invalidated connection, a pool timeout, a disconnection; also broker errors and OS-level I/O errors.
* deterministic — the statement can never succeed with these values: ``IntegrityError`` (constraint),
  ``DataError`` (too long, out of range, bad encoding, NUL), ``ProgrammingError``, ``NotSupportedError``;
  a value SQLAlchemy could not even bind; a contract (pydantic) or encoding error raised while applying.

Anything else is an unknown failure: retried (loudly) like a transient one, because skipping records on a bug
that has nothing to do with the data (a missing file, a wrong setting) would dead-letter the whole stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError


class RetryableError(Exception):
    """A dependency failed; the same batch can succeed later. ``retry_after`` hints the wait in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeterministicError(Exception):
    """Applying these records failed in a way that repeats: the loop isolates the record(s) responsible and
    dead-letters them with ``reason``, and applies every other record of the batch."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_DETERMINISTIC_DB = (IntegrityError, DataError, ProgrammingError, NotSupportedError)
_TRANSIENT_DB = (OperationalError, InterfaceError)


def is_transient(exc: BaseException) -> bool | None:
    """True for failures that can pass, False for those that repeat, None when the rule does not know."""
    if isinstance(exc, RetryableError):
        return True
    if isinstance(exc, DeterministicError):
        return False
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, _TRANSIENT_DB):
            return True
        if isinstance(exc, _DETERMINISTIC_DB):
            return False
        return None  # InternalError, DatabaseError: SQLSTATEs of both kinds; retried, as before
    if isinstance(exc, PoolTimeoutError | DisconnectionError | KafkaError | OSError):
        return True
    if isinstance(exc, StatementError | ValidationError | UnicodeError):
        return False  # a value that could not be bound or does not fit the contract: it will not get better
    return None


def describe(exc: BaseException) -> str:
    """The failure's kind, never its message: database messages quote the offending value (personal data)."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, DeterministicError | RetryableError):
        return str(exc)
    if orig is not None:
        return f"{type(exc).__name__} ({type(orig).__module__.split('.')[0]}.{type(orig).__name__})"
    return type(exc).__name__


def database_failure(exc: BaseException, what: str = "database") -> RetryableError | DeterministicError:
    """What a handler raises for a failed database step: the error classified by :func:`is_transient`."""
    if not retryable(exc):
        return DeterministicError(f"{what} refused the values: {describe(exc)}")
    return RetryableError(f"{what} unavailable: {describe(exc)}")


def retryable(exc: BaseException) -> bool:
    """The one rule every handler applies: retry the batch unless the failure is known to repeat.

    Unknown failures count as retryable (see the module docstring): a bug unrelated to the data must stall
    loudly, not dead-letter the stream.
    """
    return is_transient(exc) is not False


@contextmanager
def database_step(what: str = "database") -> Iterator[None]:
    """Run one database step of a handler: a SQLAlchemy failure inside leaves as :class:`RetryableError` or
    :class:`DeterministicError` (per :func:`retryable`), so the shared loop retries or isolates it.

    ``with database_step("crm ledger"): session.commit()`` replaces the try/except each handler wrote its own way.
    """
    try:
        yield
    except SQLAlchemyError as exc:
        raise database_failure(exc, what) from exc
