"""What is refused before it is a request: oversized headers and bytes that are not
HTTP/1.1 get problem+json like every other error, on a connection then closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from devstack import services


async def exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Send raw bytes; the status, headers and JSON body of the answer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(raw)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


def problem(status: int, headers: dict[str, str], body: dict[str, Any], expected: int) -> None:
    assert status == expected, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert body["status"] == expected
    assert body["request_id"] == headers["x-request-id"]


async def test_headers_past_the_cap_are_431(gateway: services.HttpProcess) -> None:
    huge = b"x" * 40_000
    raw = b"GET /healthz HTTP/1.1\r\nHost: fitmesh\r\nX-Padding: " + huge + b"\r\n\r\n"
    status, headers, body = await exchange(gateway.url, raw)
    problem(status, headers, body, 431)
    assert "32768" in body["detail"]
    # Many small headers add up the same way; a request under the cap is served.
    many = b"".join(b"X-H%d: %s\r\n" % (n, b"y" * 100) for n in range(400))
    status, headers, body = await exchange(
        gateway.url, b"GET /healthz HTTP/1.1\r\nHost: fitmesh\r\n" + many + b"\r\n"
    )
    problem(status, headers, body, 431)
    ok = await exchange(
        gateway.url, b"GET /healthz HTTP/1.1\r\nHost: fitmesh\r\nConnection: close\r\n\r\n"
    )
    assert ok[0] == 200


async def test_bytes_that_are_not_http_are_a_400_problem(gateway: services.HttpProcess) -> None:
    malformed = (
        b"POST /api/v1/client-logs HTTP/1.1\r\nHost: fitmesh\r\n"
        b"Content-Type: application/json\r\nContent-Length: twelve\r\n\r\n{}"
    )
    status, headers, body = await exchange(gateway.url, malformed)
    problem(status, headers, body, 400)
    status, headers, body = await exchange(gateway.url, b"\x16\x03\x01 not http\r\n\r\n")
    problem(status, headers, body, 400)
