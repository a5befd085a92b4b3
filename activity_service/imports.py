"""Workout imports: a GPX, TCX or FIT file becomes a workout in the background.

An import's id follows from its user and the file's SHA-256, and its record in `imports`
is made by an insert: of two uploads of one file (in turn, or at once) one makes the
record and the other answers with it, so a file is imported once. Its workout is logged
with a request id made from the same digest (workouts.py), so even two workers on one
import store one workout.

The record moves queued -> parsing -> done | failed. While work is owed, the file waits in
`import_files` and an entry in `import_queue` says when it is due: at once for the worker
of the replica that took the upload, and again after IMPORT_LEASE_SECONDS, so an import
whose replica died (or restarted) is taken up by any replica's recovery round, up to
IMPORT_MAX_ATTEMPTS tries. A crash between making the record and owing its work is mended
by the client's retry of the upload, which owes it again. The parse runs in worker
processes (ParsePool), never on the event loop. An import that ends is announced as
`import.finished` on the workouts stream, again by recovery until Redis takes it; the event
names the callback (a one-off webhook of the user service) of the upload that began the work,
so the result goes there."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import structlog

from activity_service import parsers, rules, samples, workout_samples
from activity_service.events import EventPublisher
from activity_service.store import Doc, Store
from activity_service.workouts import Workouts, now
from servicekit.background import rounds_forever
from servicekit.errors import FieldViolation, InvalidArgument, NotFound, Unavailable, Violations
from servicekit.events import ImportFinished

log = structlog.get_logger("imports")
QUEUED, PARSING, DONE, FAILED = "queued", "parsing", "done", "failed"
UNDER_WAY = (QUEUED, PARSING)


class UnsupportedFormat(InvalidArgument):
    reason = "UNSUPPORTED_FORMAT"

    def __init__(self) -> None:
        text = "not a GPX, TCX or FIT file (neither its content nor its name's extension says so)"
        super().__init__([FieldViolation("content", text)], text)


@dataclass(frozen=True)
class Upload:
    user_id: str
    filename: str
    content: bytes
    workout_type: str  # empty: the sport the file names
    athlete: rules.Athlete
    callback_id: str = ""  # the user service's one-off webhook for the result; empty: none


def import_id_for(user_id: str, digest: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fitmesh:import:{user_id}:{digest}"))


class ParsePool:
    """Worker processes that parse files. Spawned, not forked: a fork of a process running
    gRPC's and PyMongo's threads is not safe."""

    def __init__(self, workers: int, max_samples: int = samples.MAX_POINTS) -> None:
        self.workers, self.max_samples = workers, max_samples
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._pool

    async def parse(self, content: bytes, fmt: str) -> parsers.ParsedWorkout:
        pool = self._executor()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, parsers.parse, content, fmt, self.max_samples
            )
        except BrokenProcessPool:
            # A worker died (killed, out of memory) and took the pool with it: the next
            # file gets a new pool, this one its next attempt.
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise Unavailable("a file parser stopped; the import is tried again") from None

    async def stop(self) -> None:
        if self._pool is not None:
            await asyncio.to_thread(self._pool.shutdown, True, cancel_futures=True)
            self._pool = None


class Imports:
    def __init__(
        self,
        store: Store,
        workouts: Workouts,
        events: EventPublisher,
        pool: ParsePool,
        lease: dt.timedelta,
        max_attempts: int,
    ) -> None:
        self.store, self.workouts, self.events, self.pool = store, workouts, events, pool
        self.lease, self.max_attempts = lease, max_attempts
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, upload: Upload) -> tuple[Doc, bool]:
        """The import of an upload, and whether it is a duplicate (an existing import that
        no new work began for)."""
        fmt = parsers.sniff(upload.content, upload.filename)
        if fmt is None:
            raise UnsupportedFormat()
        digest = hashlib.sha256(upload.content).hexdigest()
        at = now()
        doc: Doc = {
            "_id": import_id_for(upload.user_id, digest),
            "user_id": upload.user_id,
            "sha256": digest,
            "format": fmt,
            "size_bytes": len(upload.content),
            "created_at": at,
            **_request_fields(upload, at),
        }
        if await self.store.insert_one(self.store.imports, doc):
            await self._owe(doc, upload.content)
            return doc, False
        existing = await self.store.one(self.store.imports, doc["_id"])
        if existing is None:  # records are never deleted: only a lost write gets here
            raise Unavailable("the import could not be recorded; retry")
        if existing["status"] == FAILED:  # sent again, maybe with a workout type: try again
            retry = _request_fields(upload, at)
            await self.store.set_fields(self.store.imports, doc["_id"], retry)
            existing |= retry
            await self._owe(existing, upload.content)
            return existing, False
        if existing["status"] in UNDER_WAY:
            # Work owed already changes nothing; work a crash left unowed is owed again.
            await self._owe(existing, upload.content)
        return existing, True

    async def get(self, user_id: str, import_id: str) -> Doc:
        doc = await self.store.one(self.store.imports, import_id)
        if doc is None or doc["user_id"] != user_id:
            raise NotFound("no such import")
        return doc

    async def _owe(self, doc: Doc, content: bytes) -> None:
        """Keep the file and owe its work; the replica whose entry it is works on it now."""
        file = {"_id": doc["_id"], "content": content}
        await self.store.insert_one(self.store.import_files, file)
        entry = {
            "_id": doc["_id"],
            "user_id": doc["user_id"],
            "ready_at": now() + self.lease,
            "attempts": 1,
        }
        if await self.store.insert_one(self.store.import_queue, entry):
            task = asyncio.create_task(self._work(doc["_id"], content))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _work(self, import_id: str, content: bytes | None = None) -> None:
        try:
            await self.process(import_id, content)
        except Exception:  # left owed: recovery tries again once the lease is over
            log.exception("import_interrupted", import_id=import_id)

    async def process(self, import_id: str, content: bytes | None = None) -> None:
        """Take an owed import as far as it goes: parsed, logged, announced."""
        doc = await self.store.one(self.store.imports, import_id)
        if doc is None:
            await self._drop(import_id)
            return
        if doc["status"] not in UNDER_WAY:  # finished, but perhaps not announced
            await self._announce(doc)
            return
        await self._set(doc, {"status": PARSING})
        if content is None:
            file = await self.store.one(self.store.import_files, import_id)
            if file is None:
                lost = "the upload was cut short; send the file again"
                await self._finish(doc, FAILED, error=lost)
                return
            content = bytes(file["content"])
        try:
            parsed = await self.pool.parse(content, doc["format"])
            workout = await self._log(doc, parsed)
        except parsers.ParseError as exc:
            await self._finish(doc, FAILED, error=str(exc))
            return
        except InvalidArgument as exc:  # the workout breaks a rule (too long, in the future)
            await self._finish(doc, FAILED, error=_described(doc, exc))
            return
        await self._finish(doc, DONE, workout_id=workout["_id"], summary=summary(parsed, workout))

    async def _log(self, doc: Doc, parsed: parsers.ParsedWorkout) -> Doc:
        kind = doc["workout_type"] or parsed.sport
        if not kind:
            label = doc["format"].upper()
            raise parsers.ParseError(f"{label}: the file names no sport; send workout_type with it")
        v = Violations()
        rules.check_period(v, parsed.start_time, parsed.end_time, now())
        rules.check_measurements(v, parsed.avg_heart_rate, parsed.distance_m)
        v.raise_if_any()
        source = {
            "import_id": doc["_id"],
            "format": doc["format"],
            "elevation_gain_m": parsed.elevation_gain_m,
            "max_heart_rate": parsed.max_heart_rate,
            "heart_rate_samples": parsed.heart_rate_samples,
        }
        workout = await self.workouts.log(
            doc["user_id"],
            kind,
            parsed.start_time,
            parsed.end_time,
            parsed.avg_heart_rate,
            parsed.distance_m,
            rules.Athlete(**doc["athlete"]),
            # The same file makes the same workout, whoever logs it and however often.
            request_id=f"import:{doc['sha256']}",
            extra={"source": source},
        )
        # After the workout: a retry of an import that stopped in between logs the same
        # workout again (its request id) and keeps the samples then.
        await workout_samples.save(
            self.store, workout, parsed.samples, parsed.recorded_samples, doc["_id"]
        )
        return workout

    async def _set(self, doc: Doc, values: Doc) -> None:
        values = {**values, "updated_at": now()}
        await self.store.set_fields(self.store.imports, doc["_id"], values)
        doc |= values

    async def _finish(self, doc: Doc, status: str, **values: Any) -> None:
        at = now()
        await self._set(doc, {"status": status, "finished_at": at, **values})
        log.info("import_finished", import_id=doc["_id"], status=status, error=values.get("error"))
        await self._announce(doc)

    async def _announce(self, doc: Doc) -> None:
        """Publish the end of an import, then forget its work; while Redis cannot take the
        event the work stays owed, due at once, so recovery publishes it."""
        await self.store.delete_where(self.store.import_files, {"_id": doc["_id"]})
        event = ImportFinished.of(
            doc["user_id"],
            doc["_id"],
            doc["status"],
            doc.get("workout_id") or "",
            doc.get("error") or "",
            doc["finished_at"],
            doc.get("callback_id") or "",
        )
        if not await self.events.publish_import_finished(event):
            await self.store.set_fields(self.store.import_queue, doc["_id"], {"ready_at": now()})
            return
        await self._drop(doc["_id"])

    async def _drop(self, import_id: str) -> None:
        await self.store.delete_where(self.store.import_queue, {"_id": import_id})

    async def recover(self, batch: int = 20) -> int:
        """One round over the imports owed work and due; returns how many were taken up."""
        due = await self.store.due(self.store.import_queue, now(), batch)
        for entry in due:
            attempts = entry.get("attempts", 0) + 1
            lease = {"ready_at": now() + self.lease, "attempts": attempts}
            await self.store.set_fields(self.store.import_queue, entry["_id"], lease)
            doc = await self.store.one(self.store.imports, entry["_id"])
            if doc is not None and doc["status"] in UNDER_WAY and attempts > self.max_attempts:
                error = f"the file could not be processed in {self.max_attempts} attempts"
                await self._finish(doc, FAILED, error=error)
                continue
            await self._work(entry["_id"])
        return len(due)

    async def recover_forever(self, interval: float) -> None:
        await rounds_forever(
            self.recover, interval, log, "imports_recovered", "import_recovery_failed", "imports"
        )

    async def stop(self) -> None:
        """Stop working; what was under way stays owed, for another replica or a restart."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pool.stop()


def _request_fields(upload: Upload, at: dt.datetime) -> Doc:
    """What each upload of a file sets: a failed import sent again is tried with these (its
    callback too: the earlier upload's callback had that failure)."""
    return {
        "filename": upload.filename,
        "callback_id": upload.callback_id,
        "workout_type": upload.workout_type,
        "athlete": dataclasses.asdict(upload.athlete),
        "status": QUEUED,
        "updated_at": at,
        "error": None,
    }


def _described(doc: Doc, exc: InvalidArgument) -> str:
    problems = "; ".join(f"{v.field} {v.description}" for v in exc.violations)
    return f"{doc['format'].upper()}: the workout is not valid: {problems or exc.message}"


def summary(parsed: parsers.ParsedWorkout, workout: Doc) -> Doc:
    """What the file said, as kept with a done import."""
    return {
        "workout_type": workout["workout_type"],
        "start_time": workout["start_time"],
        "end_time": workout["end_time"],
        "duration_seconds": workout["duration_seconds"],
        "distance_m": parsed.distance_m,
        "elevation_gain_m": parsed.elevation_gain_m,
        "avg_heart_rate": parsed.avg_heart_rate,
        "max_heart_rate": parsed.max_heart_rate,
        "heart_rate_samples": parsed.heart_rate_samples,
        "points": parsed.points,
    }
