"""The README's run command brings the whole suite up, the README's tour succeeds against
it, and stopping it leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.helpers import free_offset, wait_for

ROOT = Path(__file__).resolve().parent.parent.parent


def tour() -> str:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- tour:start -->\s*```sh\n(.*?)```\s*<!-- tour:end -->", readme, re.S)
    assert block, "the README has no tour"
    return block.group(1)


def processes_marked(mark: str) -> list[int]:
    """Processes whose environment carries the mark: everything the suite started."""
    marker = f"FITMESH_RUN_MARK={mark}"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_make_run_brings_the_suite_up_for_the_tour_and_stops_clean(tmp_path: Path) -> None:
    offset = free_offset()  # beside anything on the default ports
    mark = uuid.uuid4().hex  # every process the suite starts inherits it
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MONGODB_URL")
    }
    env |= {"FITMESH_RUN_MARK": mark, "FITMESH_DEV_KEYS_DIR": str(tmp_path)}
    log = (tmp_path / "suite.log").open("wb")
    # The README's own command, in its own process group like a terminal's foreground job.
    suite = await asyncio.create_subprocess_exec(
        "make",
        "run",
        f"RUN_ARGS=--offset {offset}",
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateways = [f"http://127.0.0.1:{8000 + offset}", f"http://127.0.0.1:{8001 + offset}"]
    try:
        async with httpx.AsyncClient(timeout=2) as client:

            async def ready() -> bool:
                try:
                    answers = [await client.get(f"{g}/readyz") for g in gateways]
                except httpx.TransportError:
                    return False
                return all(a.status_code == 200 for a in answers)

            await wait_for(ready, timeout=120, interval=0.5)
            for gateway in gateways:
                assert (await client.get(f"{gateway}/")).status_code == 200  # the web page
                assert (await client.get(f"{gateway}/docs")).status_code == 200
        ran = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-euo", "pipefail", "-c", tour()],
            cwd=ROOT,
            env={**env, "BASE": gateways[1]},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert "Hello, runners!" in ran.stdout
        assert '"title": "Bad Request"' in ran.stdout
        assert '"total_workouts": 2' in ran.stdout
        assert '"achieved"' in ran.stdout
        assert '"status": "done"' in ran.stdout  # the imported workout file
    finally:
        os.killpg(suite.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
        code = await asyncio.wait_for(suite.wait(), 60)
        log.close()
    # make reports the interrupt as a failure of its recipe; what matters is what is left.
    assert code in (0, 2, 130, -2), (tmp_path / "suite.log").read_text()[-3000:]
    await wait_for(lambda: _none_left(mark), timeout=20, interval=0.5)


async def _none_left(mark: str) -> bool:
    return not processes_marked(mark)
