"""Where the time goes under load: the CPU each program on the machine used (from /proc),
and py-spy samples of a Python process, summed per function (own time and time including
callees)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.tools import tool


async def record(pid: int, seconds: int, out: Path) -> None:
    """Collapsed stacks (one `frame;frame;... count` line per distinct stack) in `out`."""
    proc = await asyncio.create_subprocess_exec(
        tool("py-spy"),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"py-spy failed: {err.decode()[-1000:]}")


IDLE = ("Condition.wait (", "Event.wait (", "select (")


def _short(frame: str) -> str:
    """`handle (gateway/routes/ws.py:80)` → `handle (gateway/routes/ws.py)`, and library
    paths cut to the package."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    elif "/lib/python" in path:
        path = "stdlib/" + path.split("/lib/python", 1)[1].split("/", 1)[-1]
    return f"{name} ({path})"


def _working(collapsed: Path) -> Iterator[tuple[list[str], int]]:
    """Each stack that was working (not a thread waiting for work), its frames shortened,
    and how many samples found it."""
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        frames = [_short(f) for f in stack.split(";")]
        if not frames[-1].startswith(IDLE):
            yield frames, int(count_text)


def share_in(collapsed: Path, files: tuple[str, ...]) -> float:
    """Percent of the working samples spent in (or below) code of these files, as
    `_short` names them ("gateway/audit.py")."""
    total = inside = 0
    for frames, count in _working(collapsed):
        total += count
        if any(_in(frame, files) for frame in frames):
            inside += count
    return round(100 * inside / max(1, total), 2)


def _in(frame: str, files: tuple[str, ...]) -> bool:
    """Whether a shortened frame is code of one of the files (relative or absolute)."""
    path = frame.rpartition("(")[2].rstrip(")")
    return any(path == f or path.endswith("/" + f) for f in files)


def summary(collapsed: Path, top: int = 15) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    total = 0
    for frames, count in _working(collapsed):
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
        leaf_path = frames[-1].rpartition("(")[2].rstrip(")")
        modules[leaf_path.split("/", 1)[0]] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / max(1, total), 1)] for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "own_time_percent": share(own),
        "inclusive_percent": share(inclusive),
        "by_package_percent": share(modules),
    }


LABELS = (  # the first name found in a process's command line labels it
    "gateway",
    "activity_service",
    "user_service",
    "scoring_service",
    "ferretdb",
    "postgres",
    "redis-server",
    "oha",
    "ghz",
    "fitmesh-grpc-gateway",
    "bench",
)
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Every process's label and the CPU ticks it has used so far."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # ended meanwhile
        label = next((name for name in LABELS if name in cmdline), "other")
        found[int(entry.name)] = (label, int(fields[11]) + int(fields[12]))  # utime + stime
    return found


def _stat(pid: str) -> tuple[int, int] | None:
    """A process's parent and the CPU ticks it has used (utime + stime, every thread)."""
    try:
        fields = (Path("/proc") / pid / "stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None  # ended meanwhile
    return int(fields[1]), int(fields[11]) + int(fields[12])


def descendants(parents: dict[int, int], roots: list[int]) -> set[int]:
    """`roots` and every process below them, given each process's parent."""
    found = set(roots)
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found} - found
        found |= below
        grew = bool(below)
    return found


def tree_ticks(roots: list[int]) -> dict[int, int]:
    """CPU ticks used so far by each of `roots` and their child processes."""
    stats = {int(e.name): _stat(e.name) for e in Path("/proc").iterdir() if e.name.isdigit()}
    known = {pid: stat for pid, stat in stats.items() if stat is not None}
    tree = descendants({pid: parent for pid, (parent, _) in known.items()}, roots)
    return {pid: known[pid][1] for pid in tree if pid in known}


def ticks_between(before: dict[int, int], after: dict[int, int]) -> int:
    """Ticks used between two snapshots (a process that started meanwhile counts in full)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items())


def cpu_split(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], seconds: float
) -> dict[str, float]:
    """Cores used by each label between two snapshots, busiest first."""
    used: Counter[str] = Counter()
    for pid, (label, ticks) in after.items():
        used[label] += ticks - before.get(pid, (label, 0))[1]
    return {label: round(n / TICKS / seconds, 2) for label, n in used.most_common() if n > 0}
