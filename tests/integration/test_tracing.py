"""One REST request is one connected trace: gateway → user service → PostgreSQL, with the
trace id in the logs. Gateway and user service run in this process so one in-memory
exporter sees every span."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import structlog
import uvicorn
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from devstack import services
from devstack.servers import Server, free_port
from gateway.app import create_app
from gateway.settings import GatewaySettings
from servicekit import tracing
from servicekit.logs import configure_logging
from servicekit.server import RunningServer
from tests.conftest import fresh_database
from tests.helpers import sign_up, wait_for
from user_service.migrate import migrate
from user_service.server import build
from user_service.settings import UserSettings


@pytest_asyncio.fixture
async def traced(
    postgres: Server,
    redis_server: Server,
    scoring_service: services.ServiceProcess,
    activity_service: services.ServiceProcess,
    dev_keys_dir: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[str, InMemorySpanExporter, io.StringIO]]:
    monkeypatch.setenv("ENVIRONMENT", "development")
    monkeypatch.setenv("FITMESH_DEV_KEYS_DIR", dev_keys_dir)
    logs = io.StringIO()
    configure_logging("fitmesh", "INFO", logs)
    exporter = InMemorySpanExporter()
    tracing.configure("fitmesh", "", exporter)
    user_settings = UserSettings(
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=0,
        shutdown_drain_seconds=0,
        database_url=fresh_database(postgres),
        redis_url=redis_server.url,
        scoring_service_addrs=scoring_service.address,
    )
    await asyncio.to_thread(migrate, user_settings.database_url)
    users = RunningServer(build(user_settings), user_settings)
    await users.start()
    port = free_port()
    app = create_app(
        GatewaySettings(
            http_port=port,
            user_service_addrs=f"127.0.0.1:{users.port}",
            activity_service_addrs=activity_service.address,
            scoring_service_addrs=scoring_service.address,
            redis_url=redis_server.url,
        )
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, timeout_graceful_shutdown=5
        )
    )
    serving = asyncio.create_task(server.serve())
    await wait_for(lambda: _started(server))
    try:
        yield f"http://127.0.0.1:{port}", exporter, logs
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
        await asyncio.wait_for(users.stop(), 30)
        tracing.shutdown()
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)


async def test_one_request_is_one_connected_trace(
    traced: tuple[str, InMemorySpanExporter, io.StringIO],
) -> None:
    url, exporter, logs = traced
    async with httpx.AsyncClient(base_url=f"{url}/api/v1", timeout=15) as api:
        me = await sign_up(api)
        exporter.clear()
        response = await api.get(
            f"/users/{me.user_id}/goals", headers=me.headers, params={"limit": 7}
        )
        assert response.status_code == 200, response.text
    await asyncio.sleep(0.2)
    spans = exporter.get_finished_spans()
    [root] = [
        s for s in spans if s.kind == SpanKind.SERVER and s.parent is None and "/goals" in s.name
    ]  # the gateway's HTTP span
    trace_id = root.context.trace_id
    mine = [s for s in spans if s.context.trace_id == trace_id]
    ids = {s.context.span_id for s in mine}
    assert all(s.parent is not None and s.parent.span_id in ids for s in mine if s is not root)
    kinds = {
        (
            s.kind,
            ((s.instrumentation_scope and s.instrumentation_scope.name) or "").rsplit(".", 1)[-1],
        )
        for s in mine
    }
    assert (SpanKind.CLIENT, "grpc") in kinds  # gateway → user service
    assert (SpanKind.SERVER, "grpc") in kinds  # the user service's side, same trace
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in mine)
    rpc_servers = [s for s in spans if s.kind == SpanKind.SERVER and "ListGoals" in s.name]
    assert [s.context.trace_id for s in rpc_servers] == [trace_id]
    hex_id = format(trace_id, "032x")
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    request_lines = [
        line
        for line in lines
        if line.get("event") == "request" and line.get("route") == "/users/{user_id}/goals"
    ]
    assert [line.get("trace_id") for line in request_lines] == [hex_id]
    assert any(line.get("event") == "rpc" and line.get("trace_id") == hex_id for line in lines)
