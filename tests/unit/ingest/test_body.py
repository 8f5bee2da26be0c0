"""Body decoding limits in isolation: bounded reads, gzip bombs, multi-member gzip, JSON depth."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator

import pytest

from peerscore.ingest.body import check_depth, decode, gunzip_limited, parse_json, read_limited
from peerscore.ingest.rejections import RequestRejected


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def test_read_limited_stops_once_over_the_limit() -> None:
    assert asyncio.run(read_limited(chunks(b"ab", b"cd"), 4)) == b"abcd"
    with pytest.raises(RequestRejected) as exc:
        asyncio.run(read_limited(chunks(b"ab", b"cd", b"e"), 4))
    assert exc.value.status == 413


def test_gunzip_exactly_at_the_limit_passes_one_over_fails() -> None:
    assert gunzip_limited(gzip.compress(b"x" * 100), 100) == b"x" * 100
    with pytest.raises(RequestRejected) as exc:
        gunzip_limited(gzip.compress(b"x" * 101), 100)
    assert (exc.value.status, exc.value.reason) == (413, "too_large")


def test_multi_member_gzip_is_joined_and_limited_in_total() -> None:
    assert gunzip_limited(gzip.compress(b"ab") + gzip.compress(b"cd"), 4) == b"abcd"
    with pytest.raises(RequestRejected):
        gunzip_limited(gzip.compress(b"abc") + gzip.compress(b"de"), 4)


def test_not_gzip_is_400() -> None:
    with pytest.raises(RequestRejected) as exc:
        decode(b"plain", "gzip", 100)
    assert exc.value.status == 400
    assert decode(b"plain", None, 100) == b"plain"
    assert decode(b"plain", "Identity", 100) == b"plain"


def test_depth_counts_containers_not_scalars() -> None:
    check_depth({"a": [1, {"b": "c"}]}, max_depth=3)
    with pytest.raises(RequestRejected):
        check_depth({"a": [1, {"b": []}]}, max_depth=3)


def test_parse_json_wants_an_object_and_refuses_extreme_depth() -> None:
    assert parse_json(b'{"a": 1}') == {"a": 1}
    for bad in (b"[]", b"1", b"[" * 5000 + b"]" * 5000):
        with pytest.raises(RequestRejected) as exc:
            parse_json(bad)
        assert exc.value.status == 400
