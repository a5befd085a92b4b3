"""`python -m gateway` serves the REST API with uvicorn (uvloop, httptools; gateway.http)."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from gateway.http import GatewayHttpProtocol
from gateway.settings import GatewaySettings
from servicekit.logs import configure_logging


class WithoutQuery(logging.Filter):
    """uvicorn logs each WebSocket's path with its query string, where a ticket rides: the
    lines keep the path only, so no credential is ever logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                a.split("?", 1)[0] if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


def main() -> None:
    try:
        settings = GatewaySettings()
    except ValidationError as exc:  # a missing key or a bad value: say which, and stop
        reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        sys.exit(f"gateway cannot start: {reasons}")
    configure_logging("gateway", settings.log_level)
    logging.getLogger("uvicorn.error").addFilter(WithoutQuery())
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http=GatewayHttpProtocol,
        access_log=False,  # the request middleware logs every request, with its id
        log_config=None,
        # X-Forwarded-For moves a client's address only when it comes from a proxy named
        # in the settings; with none named it is never read.
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_graceful_shutdown=10,
        # Pings keep dead sockets from lingering; the frame cap is the WebSocket's own.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        ws_max_size=settings.ws_max_frame_bytes * 4,
    )


if __name__ == "__main__":
    main()
