"""`make run`'s suite under its supervisor: a replica or the Redis server that dies is
started again and the supervisor logs it; while Redis is away the gateways keep serving."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2

from devstack.services import health_status
from tests.helpers import free_offset, sign_up, wait_for
from tests.integration.test_run_command import processes_marked

ROOT = Path(__file__).resolve().parent.parent.parent
RECOVERY_SECONDS = 30  # the bound on coming back after a kill


@dataclass
class Suite:
    offset: int
    mark: str
    log: Path
    gateways: list[str]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pid(self, program: str) -> int:
        """The process id of one of the supervisor's programs (`suite:user1`)."""
        answer = self.supervisorctl("pid", program).strip()
        assert answer.isdigit(), answer
        assert int(answer) > 0, f"{program} is not running"
        return int(answer)

    def supervisorctl(self, *args: str) -> str:
        conf = re.search(r"devstack: uv run supervisorctl -c (\S+) status", self.output())
        assert conf, self.output()[-3000:]
        ctl = [sys.executable, "-m", "supervisor.supervisorctl", "-c", conf.group(1), *args]
        return subprocess.run(ctl, capture_output=True, text=True, timeout=30, check=False).stdout


async def all_ready(client: httpx.AsyncClient, gateways: list[str]) -> bool:
    try:
        answers = [await client.get(f"{g}/readyz") for g in gateways]
    except httpx.TransportError:
        return False
    return all(a.status_code == 200 for a in answers)


@pytest_asyncio.fixture(scope="module")
async def suite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Suite]:
    tmp = tmp_path_factory.mktemp("supervised")
    offset = free_offset()
    mark = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "MONGODB_URL", "ENVIRONMENT")
    }
    env |= {"FITMESH_RUN_MARK": mark, "FITMESH_DEV_KEYS_DIR": str(tmp)}
    log = tmp / "suite.log"
    with log.open("ab") as out:
        # make run's command, in its own process group like a terminal's foreground job.
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devstack",
            "run",
            "--offset",
            str(offset),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gateways = [f"http://127.0.0.1:{8000 + offset}", f"http://127.0.0.1:{8001 + offset}"]
    suite = Suite(offset, mark, log, gateways)
    supervised: list[int] = []
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            await wait_for(lambda: all_ready(client, gateways), timeout=120, interval=0.5)
        yield suite
        # Redis and PostgreSQL overwrite their environment with their process titles, so
        # the mark does not find them: the supervisor names them.
        supervised = [int(p) for p in suite.supervisorctl("pid", "all").split() if p != "0"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        await asyncio.wait_for(proc.wait(), 60)
    assert len(supervised) == 11  # 3 servers, 6 replicas, 2 gateways
    await wait_for(lambda: _none_left(mark, supervised), timeout=20, interval=0.5)


async def _none_left(mark: str, pids: list[int]) -> bool:
    return not processes_marked(mark) and not _alive(pids)


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists()]


async def test_a_killed_replica_and_a_killed_redis_come_back(suite: Suite) -> None:
    replica = f"127.0.0.1:{50051 + suite.offset}"
    user1, redis = suite.pid("suite:user1"), suite.pid("servers:redis")
    killed_at = time.monotonic()
    os.kill(user1, signal.SIGKILL)
    os.kill(redis, signal.SIGKILL)

    async def replica_serving() -> bool:
        try:
            return bool(await health_status(replica) == health_pb2.HealthCheckResponse.SERVING)
        except Exception:  # refused while it is down
            return False

    await wait_for(replica_serving, timeout=RECOVERY_SECONDS, interval=0.1)
    replica_back = time.monotonic() - killed_at
    async with httpx.AsyncClient(timeout=2) as client:
        await wait_for(
            lambda: all_ready(client, suite.gateways), timeout=RECOVERY_SECONDS, interval=0.1
        )
    ready_again = time.monotonic() - killed_at
    print(f"replica serving again after {replica_back:.2f} s, readyz after {ready_again:.2f} s")

    assert suite.pid("suite:user1") != user1
    assert suite.pid("servers:redis") != redis
    log = suite.output()
    for name in ("user1", "redis"):
        assert re.search(rf"exited: {name} \(terminated by SIGKILL; not expected\)", log), log
        assert re.search(rf"spawned: '{name}' with pid \d+", log.split(f"exited: {name}")[1])


async def test_the_gateways_serve_while_redis_is_away(suite: Suite) -> None:
    async with httpx.AsyncClient(base_url=f"{suite.gateways[0]}/api/v1", timeout=10) as api:
        account = await sign_up(api)
    assert "stopped" in suite.supervisorctl("stop", "servers:redis")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for gateway in suite.gateways:
                profile = await client.get(
                    f"{gateway}/api/v1/users/{account.user_id}", headers=account.headers
                )
                assert profile.status_code == 200, profile.text
                assert profile.json()["user_id"] == account.user_id
                ready = await client.get(f"{gateway}/readyz")
                assert ready.status_code == 503
                assert ready.json()["checks"]["redis"] is False
    finally:
        assert "started" in suite.supervisorctl("start", "servers:redis")
    async with httpx.AsyncClient(timeout=2) as client:
        await wait_for(
            lambda: all_ready(client, suite.gateways), timeout=RECOVERY_SECONDS, interval=0.1
        )
