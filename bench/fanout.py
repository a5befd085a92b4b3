"""WebSocket fan-out: members spread over live group sessions on both gateways; chat
messages at a steady rate; the time from send to each member's receipt."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.seed import Account
from bench.tools import percentile

CONNECT_AT_ONCE = 50


@dataclass
class Session:
    session_id: str
    members: list[ClientConnection] = field(default_factory=list)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    expected: int = 0
    dropped_sockets: int = 0


async def _join(url: str, account: Account, session: Session, gate: asyncio.Semaphore) -> None:
    async with gate:
        ws_url = url.replace("http://", "ws://", 1) + "/api/v1/ws"
        ws = await connect(ws_url, max_queue=None, additional_headers=account.headers)
        await ws.send(json.dumps({"event": "join_group_session", "session_id": session.session_id}))
        while json.loads(await ws.recv()).get("event") != "joined":
            pass
    session.members.append(ws)


async def _read(ws: ClientConnection, tally: Tally) -> None:
    try:
        async for text in ws:
            received = time.perf_counter()
            frame = json.loads(text)
            if frame.get("event") == "group_update" and frame.get("update_type") == "chat_message":
                sent = float(frame["data"]["message"].split()[0])
                tally.latencies_ms.append((received - sent) * 1000)
    except ConnectionClosed:
        tally.dropped_sockets += 1


async def _create(url: str, hosts: Sequence[Account]) -> list[Session]:
    sessions = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for n, host in enumerate(hosts):
            reply = await client.post(
                "/api/v1/group-sessions",
                headers=host.headers,
                json={"name": f"bench {n}", "workout_type": "running"},
            )
            reply.raise_for_status()
            sessions.append(Session(reply.json()["session_id"]))
    return sessions


async def _end(url: str, hosts: Sequence[Account], sessions: list[Session]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for host, session in zip(hosts, sessions, strict=True):
            reply = await client.post(
                f"/api/v1/group-sessions/{session.session_id}/end", headers=host.headers
            )
            reply.raise_for_status()


async def _chat(sessions: list[Session], rate: float, seconds: float, tally: Tally) -> int:
    """`rate` messages a second in all, the sessions taking turns, each message from a
    random member; the message carries its send time."""
    total = int(rate * seconds)
    begin = time.perf_counter()
    for n in range(total):
        await asyncio.sleep(max(0.0, begin + n / rate - time.perf_counter()))
        session = sessions[n % len(sessions)]
        sender = random.choice(session.members)  # noqa: S311 - a load pattern
        frame = {
            "event": "send_message",
            "session_id": session.session_id,
            "message": f"{time.perf_counter():.6f} hello from the bench",
        }
        await sender.send(json.dumps(frame))
        tally.expected += len(session.members)
    return total


async def fanout(
    urls: Sequence[str],
    accounts: Sequence[Account],
    sessions_count: int,
    rate: float,
    seconds: float,
) -> dict[str, Any]:
    """`accounts` members, one socket each, in `sessions_count` sessions; each session's
    members alternate between the gateways, so every message crosses replicas."""
    sessions = await _create(urls[0], accounts[:sessions_count])
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    began = time.perf_counter()
    await asyncio.gather(
        *(
            _join(urls[n % len(urls)], account, sessions[n % sessions_count], gate)
            for n, account in enumerate(accounts)
        )
    )
    connect_seconds = time.perf_counter() - began
    tally = Tally()
    sockets = [ws for s in sessions for ws in s.members]
    readers = [asyncio.create_task(_read(ws, tally)) for ws in sockets]
    try:
        sent = await _chat(sessions, rate, seconds, tally)
        await asyncio.sleep(2)  # the last messages' deliveries
    finally:
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
        # Ended now, as their hosts would, so their archiving is not left to the idle
        # sweeper during a later measure.
        await _end(urls[0], accounts[:sessions_count], sessions)
    received = len(tally.latencies_ms)
    return {
        "fanout_p50_ms": round(percentile(tally.latencies_ms, 50), 2),
        "fanout_p95_ms": round(percentile(tally.latencies_ms, 95), 2),
        "fanout_p99_ms": round(percentile(tally.latencies_ms, 99), 2),
        "fanout_max_ms": round(max(tally.latencies_ms, default=0.0), 2),
        "members": len(sockets),
        "sessions": sessions_count,
        "gateways": len(urls),
        "messages_per_second": rate,
        "messages": sent,
        "deliveries_expected": tally.expected,
        "deliveries_received": received,
        "missing": tally.expected - received,
        "sockets_dropped": tally.dropped_sockets,
        "connect_seconds": round(connect_seconds, 1),
    }
