"""Write-key authentication the way Segment and RudderStack SDKs send it.

SDKs put the write key in HTTP Basic as the user name with an empty password; some HTTP sources use an
``X-Write-Key`` header or ``writeKey`` in the JSON body. The first credential presented decides: a wrong Basic
key is not rescued by a right body key, so a misconfigured client fails loudly instead of half-working.
The Segment routes also read ``writeKey`` from the body, the CSV import only headers; both go through
:func:`header_key` and :func:`require_key`, and answer a failure with the same 401.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from peerscore.ingest.rejections import Unauthenticated
from peerscore.ingest.settings import WriteKeyBinding
from peerscore.secrets_compare import secrets_equal


def basic_user(authorization: str | None) -> str | None:
    """The user name of an ``Authorization: Basic`` header, or None when there is no readable one."""
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and non-ASCII input (Latin-1 decoded headers)
        return None
    user, _, _password = decoded.partition(":")
    return user or None


def header_write_key(authorization: str | None, x_write_key: str | None) -> str | None:
    """The key presented in headers (Basic first, then ``X-Write-Key``), readable before the body is read."""
    return basic_user(authorization) or (x_write_key.strip() if x_write_key and x_write_key.strip() else None)


@dataclass(frozen=True)
class KeyMatch:
    """A presented key that is accepted, and the source name bound to it (None: named after the SDK)."""

    source: str | None


class WriteKeys:
    """The configured keys; ``match`` compares against every one in constant time (no early exit)."""

    def __init__(self, bindings: Sequence[WriteKeyBinding]) -> None:
        self._keys = [(b.key.get_secret_value().encode(), b.source) for b in bindings if b.key.get_secret_value()]

    def match(self, given: object) -> KeyMatch | None:
        if not isinstance(given, str) or not given:
            return None
        candidate = given.encode()
        found: KeyMatch | None = None
        for key, source in self._keys:
            if secrets_equal(candidate, key):
                found = KeyMatch(source)
        return found

    def accepts(self, given: object) -> bool:
        return self.match(given) is not None


def header_key(keys: WriteKeys, headers: Mapping[str, str]) -> KeyMatch | None:
    """The key presented in headers, checked: None when there is none, 401 when it is wrong.

    Checked before the body is read, so a wrong key costs no decompression or parsing.
    """
    presented = header_write_key(headers.get("authorization"), headers.get("x-write-key"))
    if presented is None:
        return None
    return require_key(keys, presented)


def require_key(keys: WriteKeys, given: object) -> KeyMatch:
    """The binding of an accepted key, or 401 (one answer for missing and wrong keys)."""
    matched = keys.match(given)
    if matched is None:
        raise Unauthenticated()
    return matched
