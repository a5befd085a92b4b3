"""`python -m bench`: start the suite (two gateways, two replicas of every service) and the
bare reference app beside it, load them with oha, ghz, WebSocket clients, redis-benchmark
and pgbench, and write bench/results/<time>.{json,md,png}; the summary table also goes to
the README."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench import (
    bare,
    cpu,
    fanout,
    files,
    growth,
    health,
    ladder,
    opcodes,
    profile,
    report,
    rest,
    seed,
    tables,
    tools,
    webhooks,
)
from bench.suite import Suite, database, running

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
MARKERS = ("<!-- bench:start -->", "<!-- bench:end -->")
# The bare app's ladder runs before the REST ladders, so a missed share is known in time
# to profile the mixed load's failing step; it is climbed again after them and later on,
# because its rate moves between runs on a shared machine (rounds: bench.bare.summary).
SECTIONS = (
    "ceilings",
    "cache",
    "overhead",
    "peer",
    "bare",
    "mixed",
    "cached",
    "bare",
    "cpu",
    "opcodes",
    "websocket",
    "health",
    "growth",
    "bare",
    # Last: its hanging receiver's deliveries are deleted at its end, but not its breaker.
    "webhooks",
)
WARM_UP_RATE = 50
# Where the ladders start: below these every step holds on any machine worth measuring,
# and each step costs its seconds. The cached reads and the bare app share one ladder.
MIXED_FROM = 22
READS_FROM = 100
TOP = 10_000
SECTION_SECONDS = 360  # a measure that takes longer is reported as failed


def _raise_open_files() -> None:
    """2,000 WebSockets need more descriptors than the usual soft limit of 1,024; the suite's
    processes inherit the raised limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


async def _ceilings(suite: Suite, seconds: float) -> dict[str, Any]:
    pg_url = database(suite.postgres.url, "pgbench")
    return {
        "redis_get_rps": await tools.redis_get_rps("127.0.0.1", suite.redis.port),
        "pgbench_select_tps": await tools.pgbench_select_tps(pg_url, int(seconds)),
    }


class Bench:
    def __init__(self, suite: Suite, args: argparse.Namespace) -> None:
        self.suite, self.args = suite, args
        self.seconds: float = args.seconds
        self.bare_rounds: list[dict[str, Any]] = []

    async def seed(self) -> None:
        url = self.suite.gateways[0].url
        made = await seed.accounts(
            self.suite.database_url, 2 + self.args.writers + self.args.members, "bench"
        )
        self.reader, self.grower = made[0], made[1]
        self.writers = made[2 : 2 + self.args.writers]
        self.members = made[2 + self.args.writers :]
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await seed.history(client, self.reader, workouts=30, goals=3)
            await seed.history(client, self.grower, workouts=1, goals=0)
            await seed.wait_settled(self.suite.mongo.url)
            # Every route on both gateways once under light load: channels, pools and caches
            # connect here rather than in the first measured step.
            await rest.mixed_step(self.suite, self.reader, self.writers, WARM_UP_RATE, 3)
            # The bare app answers with the body of the reader's cached profile.
            reply = await client.get(
                rest.read_path("profile", self.reader.user_id), headers=self.reader.headers
            )
            reply.raise_for_status()
        await bare.store(self.suite.redis.url, reply.content)

    async def section(self, name: str, results: dict[str, Any]) -> Any:
        s, a = self.suite, self.args
        reads = ladder.rates(a.reads_from, a.top)
        if name == "ceilings":
            return await _ceilings(s, self.seconds)
        if name == "cache":
            return await rest.cache(s, self.reader)
        if name == "overhead":
            return await rest.overhead(s, self.reader, self.seconds)
        if name == "peer":
            return await rest.peer(s, self.reader, self.seconds)
        if name == "bare":
            return await self.bare_round()
        if name == "mixed":
            rates = ladder.rates(a.mixed_from, a.top)
            return await rest.mixed(s, self.reader, self.writers, rates, self.seconds)
        if name == "cached":
            return await rest.reads([g.url for g in s.gateways], self.reader, reads, self.seconds)
        if name == "cpu":
            # A rate both sides hold: the cached reads' sustained rate when that is lower.
            held = results.get("cached_reads", {}).get("sustained_rps") or a.cpu_rate
            return await cpu.gateway_cpu(s, self.reader, min(a.cpu_rate, held), a.cpu_seconds)
        if name == "opcodes":
            return await opcodes.opcodes(s, self.reader)
        if name == "websocket":
            urls = [g.url for g in s.gateways]
            return await fanout.fanout(urls, self.members, a.sessions, a.messages, a.ws_seconds)
        if name == "health":
            rate, size = a.health_rate, a.health_batch
            return await health.health(s, rate, size, a.health_seconds, a.health_reads)
        if name == "growth":
            return await growth.growth(s, self.grower, min(self.seconds, 5))
        if name == "webhooks":
            return await webhooks.webhooks(s, a.hook_users, a.hook_rate, a.hook_seconds)
        raise ValueError(name)

    async def bare_round(self) -> dict[str, Any]:
        """One more climb of the bare app's ladder, and the summary of every climb so far."""
        s, a = self.suite, self.args
        urls = [b.url for b in s.bare]
        start = bare.later_start(self.bare_rounds, a.reads_from)
        found = await rest.reads(urls, self.reader, ladder.rates(start, a.top), self.seconds)
        if not found["sustained_rps"] and start > a.reads_from:
            # Not even half the first round's rate held: the whole ladder, then.
            found = await rest.reads(
                urls, self.reader, ladder.rates(a.reads_from, a.top), self.seconds
            )
        self.bare_rounds.append(found)
        return bare.summary(self.bare_rounds, len(s.bare))

    async def profile(self, rate: float, stem: Path) -> dict[str, Any]:
        """One mixed step at `rate` with the CPU of every program measured, and py-spy
        profiles of a gateway and an activity service replica."""
        seconds = int(self.seconds)
        targets = {"gateway": self.suite.gateways[0].proc, "activity": self.suite.activity[0].proc}
        files = {name: stem.with_name(f"{stem.name}-{name}-profile.txt") for name in targets}
        before, clock = profile.cpu_ticks(), time.monotonic()
        await asyncio.gather(
            *(profile.record(proc.pid, seconds, files[name]) for name, proc in targets.items()),
            rest.mixed_step(self.suite, self.reader, self.writers, rate, seconds),
        )
        split = profile.cpu_split(before, profile.cpu_ticks(), time.monotonic() - clock)
        return {
            "rate": rate,
            "cores_used": split,
            **{
                name: {"file": str(path.relative_to(ROOT)), **profile.summary(path)}
                for name, path in files.items()
            },
        }


async def _profile_if_missed(bench: Bench, results: dict[str, Any]) -> None:
    """When the mixed load's share of the bare app misses its target (or the bare app was
    not measured), profile the first rate that failed (before the growth measure fills the
    database), which shows what gives way first."""
    report.derive(results)
    mixed, (_, bound) = results["rest_mixed"], report.TARGETS["rest_mixed.share_of_bare"]
    last = mixed["steps"][-1]
    share = mixed.get("share_of_bare")
    if last["ok"] or (share is not None and share >= bound):
        return
    failed = last["rate"]
    print(f"bench: profiling at {failed:g}/s", flush=True)
    stem = RESULTS / results["started_at"].replace(":", "")
    results["profile"] = await bench.profile(failed, stem)


KEYS = {
    "overhead": "gateway_overhead",
    "mixed": "rest_mixed",
    "cached": "cached_reads",
    "cpu": "gateway_cpu",
}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    _raise_open_files()
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    results: dict[str, Any] = {"started_at": started.isoformat().replace("+00:00", "Z")}
    results["machine"] = report.machine()
    clock = time.monotonic()
    async with running(args.log_level) as suite:
        bench = Bench(suite, args)
        print("bench: seeding", flush=True)
        await bench.seed()
        for name in args.only or SECTIONS:
            print(f"bench: {name}", flush=True)
            try:
                async with asyncio.timeout(SECTION_SECONDS):
                    results[KEYS.get(name, name)] = await bench.section(name, results)
            except Exception as exc:  # one broken or hung measure must not lose the others
                print(f"bench: {name} failed: {exc!r}", flush=True)
                results.setdefault("failed", {})[name] = repr(exc)
            if name == "mixed" and "rest_mixed" in results:
                await _profile_if_missed(bench, results)
        report.derive(results)
        results["verdicts"] = report.verdicts(results)
    results["settings"] = {
        "seconds_per_step": args.seconds,
        "ladders": f"E12 rates (steps 18-25 % apart): mixed from {args.mixed_from:g}/s,"
        f" cached reads and bare app from {args.reads_from:g}/s; each stops at the first"
        f" step with p99 >= {ladder.P99_LIMIT_MS:g} ms, an error, or under"
        f" {ladder.ACHIEVED_SHARE:.0%} of its rate served",
        "log_level": args.log_level,
        "rate_limits": "raised (all load from one address); each request still checks them",
    }
    results["duration_seconds"] = round(time.monotonic() - clock)
    return results


def _to_readme(markdown: str, png: Path) -> None:
    text = README.read_text()
    start, end = MARKERS
    if start not in text:
        return
    head, _, rest_ = text.partition(start)
    _, _, tail = rest_.partition(end)
    image = f"![Latency against offered load]({png.relative_to(ROOT)})"
    README.write_text(f"{head}{start}\n{markdown}\n\n{image}\n{end}{tail}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--only", nargs="+", choices=list(dict.fromkeys(SECTIONS)), help="run only these measures"
    )
    parser.add_argument("--seconds", type=float, default=8, help="length of each load step")
    parser.add_argument(
        "--mixed-from", type=float, default=MIXED_FROM, help="first rate of the mixed ladder"
    )
    parser.add_argument(
        "--reads-from",
        type=float,
        default=READS_FROM,
        help="first rate of the cached-reads and bare-app ladders",
    )
    parser.add_argument("--top", type=float, default=TOP, help="highest rate of any ladder")
    parser.add_argument("--cpu-rate", type=float, default=cpu.RATE, help="rate of the CPU measure")
    parser.add_argument("--cpu-seconds", type=float, default=cpu.SECONDS)
    parser.add_argument("--writers", type=int, default=40)
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--messages", type=float, default=100, help="chat messages a second")
    parser.add_argument("--ws-seconds", type=float, default=30)
    parser.add_argument(
        "--health-rate", type=float, default=health.RATE, help="metric batches a second"
    )
    parser.add_argument("--health-batch", type=int, default=health.BATCH, help="samples a batch")
    parser.add_argument("--health-seconds", type=float, default=health.SECONDS)
    parser.add_argument(
        "--health-reads", type=int, default=health.READS, help="summary reads, each state"
    )
    parser.add_argument(
        "--hook-users", type=int, default=webhooks.USERS, help="users the receivers subscribe"
    )
    parser.add_argument(
        "--hook-rate", type=float, default=webhooks.RATE, help="workouts a second, webhooks"
    )
    parser.add_argument(
        "--hook-seconds", type=float, default=webhooks.SECONDS, help="length of each webhook run"
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--no-readme", action="store_true", help="leave README.md as it is")
    return parser.parse_args(argv)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(argv: list[str]) -> int:
    args = parse(argv)
    # SIGTERM stops the bench the way Ctrl-C does: the suite it started is stopped too.
    signal.signal(signal.SIGTERM, _interrupted)
    results = asyncio.run(main(args))
    json_path, md_path, png_path = files.write(results, RESULTS)
    print("\n" + md_path.read_text())
    written = [path for path in (json_path, md_path, png_path) if path.exists()]
    print("bench: wrote " + ", ".join(str(path.relative_to(ROOT)) for path in written))
    if not args.no_readme and not args.only:
        _to_readme(tables.table(results), png_path)
    return 1 if results.get("failed") else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
