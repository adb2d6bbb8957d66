"""The one httpx client of Prometheus, Alertmanager and Argo CD REST: bodies are limited AFTER
decompression (issue 13, point 14: a gzip bomb must not be inflated in full)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from functools import cache

import httpx
import pytest

from backends.httpclient import BodyTooLarge, JsonHttpClient
from backends.signals.prometheus import SignalClient, SourceError, fetch

LIMIT = 1024 * 1024


@cache
def bomb(inflated: int = 256 * LIMIT) -> bytes:
    """``inflated`` zero bytes, gzipped (256 MiB make about 250 KB)."""
    z = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(LIMIT)
    parts = [z.compress(block) for _ in range(inflated // LIMIT)]
    return b"".join(parts) + z.flush()


def serving(body: bytes, encoding: str = "gzip") -> httpx.MockTransport:
    """A server answering ``body`` as sent on the wire, in 64 KiB chunks (a stream: httpx
    would decode a body given whole before the client sees it)."""
    async def chunks() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 65536):
            yield body[at:at + 65536]

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept-encoding"] == "gzip, deflate"
        return httpx.Response(200, content=chunks(), headers={
            "content-encoding": encoding, "content-type": "application/json"})
    return httpx.MockTransport(answer)


async def test_a_gzip_bomb_is_refused_without_being_inflated() -> None:
    client = JsonHttpClient("http://prom", name="Prometheus", timeout=5,
                            transport=serving(bomb()), max_body=LIMIT)
    tracemalloc.start()
    try:
        with pytest.raises(BodyTooLarge) as info:
            await client.get_raw("/api/v1/alerts")
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        await client.close()
    assert "Prometheus http://prom: answer larger than 1,048,576 bytes (after " \
        "decompression); refused" == str(info.value)
    assert peak < 8 * LIMIT, f"peak {peak:,} bytes: the body was inflated"


async def test_the_poller_names_the_problem_in_one_line() -> None:
    client = SignalClient("http://am", name="Alertmanager", transport=serving(bomb()))
    client.max_body = LIMIT
    try:
        with pytest.raises(SourceError) as info:
            await fetch(client, "/api/v2/alerts")
    finally:
        await client.close()
    assert "answer larger than 1,048,576 bytes" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("body", "encoding"), ids=["gzip", "deflate", "identity"], argvalues=[
    (gzip.compress(b'{"ok": true}'), "gzip"),
    (zlib.compress(b'{"ok": true}'), "deflate"),
    (b'{"ok": true}', "identity"),
])
async def test_small_answers_read_as_before(body: bytes, encoding: str) -> None:
    async with JsonHttpClient("http://x", name="X", timeout=5,
                              transport=serving(body, encoding), max_body=LIMIT) as client:
        assert await client.get_raw("/") == b'{"ok": true}'
        assert await client.request("GET", "/") == (200, b'{"ok": true}')


async def test_an_exact_limit_passes_and_one_byte_more_does_not() -> None:
    async with JsonHttpClient("http://x", name="X", timeout=5, transport=serving(
            gzip.compress(b"a" * LIMIT)), max_body=LIMIT) as client:
        assert len(await client.get_raw("/")) == LIMIT
    async with JsonHttpClient("http://x", name="X", timeout=5, transport=serving(
            b"a" * (LIMIT + 1), "identity"), max_body=LIMIT) as client:
        with pytest.raises(BodyTooLarge):
            await client.get_raw("/")


async def test_corrupt_or_unasked_encodings_are_clear_errors() -> None:
    async with JsonHttpClient("http://x", name="X", timeout=5,
                              transport=serving(b"not gzip at all")) as client:
        with pytest.raises(BodyTooLarge, match="compressed answer is corrupt"):
            await client.get_raw("/")
    async with JsonHttpClient("http://x", name="X", timeout=5,
                              transport=serving(b"x", "br")) as client:
        with pytest.raises(BodyTooLarge, match="'br', which was not asked for"):
            await client.get_raw("/")
