"""`python -m gateway` serves the REST API with uvicorn (uvloop, httptools)."""

from __future__ import annotations

import uvicorn

from gateway.settings import GatewaySettings
from servicekit.logs import configure_logging


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # the request middleware logs every request, with its id
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=10,
        # Pings keep dead sockets from lingering; the frame cap is the WebSocket's own.
        ws_ping_interval=settings.ws_ping_seconds,
        ws_ping_timeout=settings.ws_ping_seconds,
        ws_max_size=settings.ws_max_frame_bytes * 4,
    )


if __name__ == "__main__":
    main()
