"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol, refusing what it cannot
parse as problem+json like every other error, and capping request headers.

Both refusals happen before any request reaches the app (the bytes are not a request yet),
so they are answered here, on the connection, and the connection is closed."""

from __future__ import annotations

import json
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from gateway.middleware import new_request_id

log = structlog.get_logger("http")
# Request line and headers, as nginx's default large_client_header_buffers (4 x 8 KiB)
# would hold them.
MAX_HEADER_BYTES = 32 * 1024


class HeadersTooLarge(Exception):
    pass


class GatewayHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._too_large = False

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            # Raising stops the parser; uvicorn then answers through send_400_response.
            self._too_large = True
            raise HeadersTooLarge

    def send_400_response(self, msg: str) -> None:
        if self._too_large:
            self._refuse(
                431,
                "Request Header Fields Too Large",
                f"request headers are limited to {MAX_HEADER_BYTES} bytes",
            )
        else:
            self._refuse(400, "Bad Request", "the request is not valid HTTP/1.1")

    def _refuse(self, status: int, title: str, detail: str) -> None:
        request_id = new_request_id()
        log.warning("http_refused", status=status, detail=detail, request_id=request_id)
        body = json.dumps(
            {
                "type": "about:blank",
                "title": title,
                "status": status,
                "detail": detail,
                "request_id": request_id,
            }
        ).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"x-request-id: " + request_id.encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(head))
        self.transport.close()
