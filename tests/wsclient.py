"""A small WebSocket test client for the gateway's live sessions."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


class Member:
    def __init__(self, ws: ClientConnection, user_id: str) -> None:
        self.ws, self.user_id = ws, user_id
        self.frames: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    @classmethod
    async def connect(cls, base_url: str, token: str, user_id: str, **options: Any) -> Member:
        """A non-browser client: the token goes in the upgrade's Authorization header."""
        url = base_url.replace("http://", "ws://") + "/api/v1/ws"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return cls(await connect(url, additional_headers=headers, **options), user_id)

    @classmethod
    async def with_ticket(cls, base_url: str, ticket: str, user_id: str) -> Member:
        """A browser's way: a single-use ticket in the URL."""
        url = base_url.replace("http://", "ws://") + f"/api/v1/ws?ticket={ticket}"
        return cls(await connect(url), user_id)

    async def _read(self) -> None:
        try:
            async for text in self.ws:
                self.frames.append(json.loads(text))
        except ConnectionClosed:
            pass  # how it closed is in close_code
        finally:
            code = self.ws.close_code if self.ws.close_code is not None else 1006
            if not self.closed.done():
                self.closed.set_result(code)

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def wait(self, predicate: Any, timeout: float = 10) -> dict[str, Any]:
        """The first frame received (now or later) that satisfies predicate."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if loop.time() > deadline:
                last = [str(f)[:200] for f in self.frames[-3:]]
                raise AssertionError(f"no such frame in {timeout}s; last frames: {last}")
            if self.closed.done():
                raise AssertionError(f"closed ({self.closed.result()}) before such a frame")
            await asyncio.sleep(0.01)

    def updates(self, kind: str) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames
            if f.get("event") == "group_update" and f.get("update_type") == kind
        ]

    async def join(self, session_id: str) -> dict[str, Any]:
        await self.send(event="join_group_session", session_id=session_id)
        return await self.wait(
            lambda f: f.get("event") == "joined" and f["session_id"] == session_id
        )

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self._reader, return_exceptions=True)


def stalled_socket(base_url: str, token: str, first_frame: dict[str, Any]) -> socket.socket:
    """A WebSocket client that sends one frame and then never reads: a stalled reader.
    Its receive buffer is tiny, so the server's writes back up quickly."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, or ignored
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /api/v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n", 1)[0], response
    payload = json.dumps(first_frame).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)  # one masked text frame
    return sock
