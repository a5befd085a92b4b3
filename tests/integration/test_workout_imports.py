"""Workout imports through the gateway, against the real services: a GPX, a TCX and a FIT
file become scored workouts (heart rate deciding intensity where the file has it) that
statistics count; a file sent again, or twice at once, is one import and one workout;
malformed, unknown, empty and oversize files are refused or fail saying why; and an
import a crash left under way is finished by another process. An imported workout shows
the file's elevation gain and highest heart rate and keeps its samples, for its owner only,
through an edit, until it or the account is deleted."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any, cast

import grpc
import httpx
import redis.asyncio as aioredis

from activity_service import workout_samples
from activity_service.imports import Imports, ParsePool, Upload, import_id_for
from activity_service.parsers import parse
from activity_service.rules import Athlete
from activity_service.samples import from_columns
from activity_service.store import Store
from activity_service.workouts import Workouts
from devstack import services
from devstack.servers import Server
from fitmesh.activity.v1 import activity_pb2 as pb
from fitmesh.activity.v1 import activity_pb2_grpc, imports_pb2_grpc
from fitmesh.activity.v1 import imports_pb2 as ipb
from servicekit.events import IMPORT_FINISHED, WORKOUTS_STREAM, ImportFinished
from servicekit.status import field_violations, reason
from tests.helpers import PASSWORD, Account, rpc_error, sign_up, wait_for

DATA = Path(__file__).resolve().parent.parent / "data"
# A resting and maximum heart rate that put the samples' averages (148 and 157 bpm) at
# 46-51 % of heart-rate reserve: moderate, where a run's MET alone (9.8) says vigorous.
PROFILE = {"weight_kg": 70, "resting_heart_rate": 60, "max_heart_rate": 250}


def sample(name: str) -> bytes:
    return (DATA / name).read_bytes()


async def upload(
    api: httpx.AsyncClient, me: Account, name: str, content: bytes, **form: str
) -> httpx.Response:
    return await api.post(
        "/workouts/imports", headers=me.headers, files={"file": (name, content)}, data=form
    )


async def finished(api: httpx.AsyncClient, me: Account, import_id: str) -> dict[str, Any]:
    """The import once it is done or failed."""
    seen: dict[str, Any] = {}

    async def ended() -> bool:
        got = await api.get(f"/workouts/imports/{import_id}", headers=me.headers)
        assert got.status_code == 200, got.text
        seen.update(got.json())
        return seen["status"] in ("done", "failed")

    await wait_for(ended, timeout=60, interval=0.2)
    return seen


async def accepted(api: httpx.AsyncClient, me: Account, name: str, **form: str) -> dict[str, Any]:
    sent = await upload(api, me, name, sample(name), **form)
    assert sent.status_code == 202, sent.text
    assert sent.headers["location"] == f"/api/v1/workouts/imports/{sent.json()['import_id']}"
    assert sent.json()["status"] in ("queued", "parsing", "done")
    return await finished(api, me, sent.json()["import_id"])


async def test_gpx_tcx_and_fit_files_become_scored_workouts_that_statistics_count(
    api: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    me = await sign_up(api, **PROFILE)
    done = {
        name: await accepted(api, me, name, **form)
        for name, form in (
            ("hike.gpx", {"workout_type": "hiking"}),
            ("run.tcx", {}),
            ("run.fit", {}),
        )
    }
    for name, found in done.items():
        assert found["status"] == "done", found
        assert found["format"] == name.rsplit(".", 1)[1]
        assert found["sha256"] == hashlib.sha256(sample(name)).hexdigest()
    workouts = {}
    for name, found in done.items():
        got = await api.get(f"/workouts/{found['session_id']}", headers=me.headers)
        assert got.status_code == 200, got.text
        workouts[name] = got.json()
        summary = found["summary"]
        # The workout is the file's: its span, distance and heart rate.
        assert workouts[name]["start_time"] == summary["start_time"]
        assert workouts[name]["duration"] == summary["duration"] > 0
        assert workouts[name]["distance_m"] == summary["distance_m"] > 1000
        assert workouts[name]["avg_heart_rate"] == summary["avg_heart_rate"]
        assert summary["elevation_gain_m"] > 50
        # The file's climb and highest heart rate are the workout's (the hike has no heart rate).
        assert workouts[name]["elevation_gain_m"] == summary["elevation_gain_m"]
        assert workouts[name]["max_heart_rate"] == summary["max_heart_rate"]
        await samples_match_the_file(api, me, name, workouts[name])
    assert workouts["hike.gpx"]["workout_type"] == "hiking"
    assert workouts["hike.gpx"]["avg_heart_rate"] is None
    for name in ("run.tcx", "run.fit"):
        assert workouts[name]["workout_type"] == "running"  # the sport the file names
        assert done[name]["summary"]["max_heart_rate"] > workouts[name]["avg_heart_rate"] > 100
        # Heart rate decided the intensity: moderate, where running's MET says vigorous.
        assert workouts[name]["intensity"] == "moderate"
        assert abs(workouts[name]["intensity_minutes"] - workouts[name]["duration"] / 60) < 0.1
    assert workouts["hike.gpx"]["intensity"] == "vigorous"
    # A page of the list shows them too (it reads the week buckets, not the workouts).
    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    assert {
        w["session_id"]: (w["elevation_gain_m"], w["max_heart_rate"])
        for w in listed.json()["items"]
    } == {w["session_id"]: (w["elevation_gain_m"], w["max_heart_rate"]) for w in workouts.values()}

    async def counted() -> bool:
        stats = (await api.get(f"/users/{me.user_id}/statistics", headers=me.headers)).json()
        return (
            bool(stats["total_workouts"] == 3)
            and abs(stats["total_duration"] - sum(w["duration"] for w in workouts.values())) < 0.01
        )

    await wait_for(counted)
    # Each end is announced on the workouts stream, for callbacks to come.
    entries: Any = await redis.xrange(WORKOUTS_STREAM, "-", "+")
    events = [
        ImportFinished.from_fields(f)
        for _, f in entries
        if f.get("type") == IMPORT_FINISHED and f["user_id"] == me.user_id
    ]
    assert {(e.import_id, e.status, e.workout_id) for e in events} == {
        (f["import_id"], "done", f["session_id"]) for f in done.values()
    }


async def samples_match_the_file(
    api: httpx.AsyncClient, me: Account, name: str, workout: dict[str, Any]
) -> None:
    """The workout's samples are the points the parser reads from its file, within the
    workout's span, with heart rates no higher than its highest."""
    got = await api.get(f"/workouts/{workout['session_id']}/samples", headers=me.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    parsed = parse(sample(name), name.rsplit(".", 1)[1])
    assert body["session_id"] == workout["session_id"]
    assert body["recorded_points"] == parsed.recorded_samples > 100
    assert body["samples"] == [s._asdict() for s in parsed.samples]
    offsets = [s["offset_seconds"] for s in body["samples"]]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0
    assert offsets[-1] <= workout["duration"]
    rates = [s["heart_rate"] for s in body["samples"] if s["heart_rate"] is not None]
    if workout["max_heart_rate"] is None:
        assert rates == []
    else:
        assert workout["avg_heart_rate"] < max(rates) <= workout["max_heart_rate"]
        assert min(rates) > 30
    assert all(s["elevation_m"] is not None for s in body["samples"])


async def test_samples_are_the_owners_follow_an_edit_and_go_with_the_workout_or_account(
    api: httpx.AsyncClient, activity_service_env: dict[str, str], mongo: Server
) -> None:
    me, stranger = await sign_up(api, **PROFILE), await sign_up(api)
    done = {name: await accepted(api, me, name) for name in ("run.tcx", "run.fit")}
    tcx, fit = (done[name]["session_id"] for name in ("run.tcx", "run.fit"))
    path = f"/workouts/{tcx}/samples"
    kept = (await api.get(path, headers=me.headers)).json()
    theirs = await api.get(path, headers=stranger.headers)
    assert theirs.status_code == 404
    assert theirs.headers["content-type"] == "application/problem+json"
    # A workout logged by hand has neither figure nor samples.
    at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    logged = await api.post(
        "/workouts",
        headers=me.headers,
        json={
            "workout_type": "running",
            "start_time": at.isoformat(),
            "end_time": (at + dt.timedelta(minutes=30)).isoformat(),
            "avg_heart_rate": 150,
        },
    )
    assert logged.status_code == 201, logged.text
    assert (logged.json()["max_heart_rate"], logged.json()["elevation_gain_m"]) == (None, None)
    by_hand = await api.get(f"/workouts/{logged.json()['session_id']}/samples", headers=me.headers)
    assert by_hand.status_code == 404
    # An edit of the times keeps them: they are seconds from the start, wherever it is.
    workout = (await api.get(f"/workouts/{tcx}", headers=me.headers)).json()
    earlier = {
        name: (dt.datetime.fromisoformat(workout[name]) - dt.timedelta(hours=1)).isoformat()
        for name in ("start_time", "end_time")
    }
    edited = await api.patch(
        f"/workouts/{tcx}", headers={**me.headers, "If-Match": '"1"'}, json=earlier
    )
    assert edited.status_code == 200, edited.text
    assert (await api.get(path, headers=me.headers)).json() == kept
    store = Store(mongo.url, activity_service_env["MONGODB_DATABASE"])
    await store.start()
    try:
        samples = workout_samples.collection(store)
        deleted = await api.delete(f"/workouts/{tcx}", headers={**me.headers, "If-Match": "*"})
        assert deleted.status_code == 204, deleted.text
        assert (await api.get(path, headers=me.headers)).status_code == 404
        assert await samples.count_documents({"_id": tcx}) == 0
        # The account's export holds the samples of the workout left; erasure takes them.
        export = await api.get(f"/users/{me.user_id}/export", headers=me.headers)
        lines = [json.loads(line) for line in export.text.splitlines()]
        (exported,) = [line["data"] for line in lines if line["kind"] == "workout_samples"]
        expected = parse(sample("run.fit"), "fit").samples
        assert exported["_id"] == fit
        assert from_columns(exported["points"]) == list(expected)
        assert await samples.count_documents({"user_id": me.user_id}) == 1
        gone = await api.request(
            "DELETE", f"/users/{me.user_id}", headers=me.headers, json={"password": PASSWORD}
        )
        assert gone.status_code == 204, gone.text
        assert await samples.count_documents({"user_id": me.user_id}) == 0
    finally:
        await store.stop()


async def test_a_file_sent_again_or_twice_at_once_is_one_import_and_one_workout(
    api: httpx.AsyncClient,
) -> None:
    me = await sign_up(api)
    content = sample("run.fit")
    first, second = await asyncio.gather(
        upload(api, me, "run.fit", content), upload(api, me, "again.fit", content)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 202]
    assert first.json()["import_id"] == second.json()["import_id"]
    assert sorted([first.json()["duplicate"], second.json()["duplicate"]]) == [False, True]
    import_id = first.json()["import_id"]
    done = await finished(api, me, import_id)
    later = await upload(api, me, "run-copy.fit", content)
    assert (later.status_code, later.json()["import_id"]) == (200, import_id)
    assert later.json()["duplicate"] is True
    assert later.json()["session_id"] == done["session_id"]
    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    assert [w["session_id"] for w in listed.json()["items"]] == [done["session_id"]]
    # Another user's copy of the file is their own import, and theirs only.
    other = await sign_up(api)
    theirs = await upload(api, other, "run.fit", content)
    assert theirs.status_code == 202
    assert theirs.json()["import_id"] != import_id
    peek = await api.get(f"/workouts/imports/{import_id}", headers=other.headers)
    assert peek.status_code == 404
    assert peek.headers["content-type"] == "application/problem+json"


async def test_a_malformed_file_fails_saying_what_was_wrong(api: httpx.AsyncClient) -> None:
    me = await sign_up(api)
    cut = await upload(api, me, "cut.fit", sample("run.fit")[:5000])
    assert cut.status_code == 202, cut.text
    failed = await finished(api, me, cut.json()["import_id"])
    assert failed["status"] == "failed"
    assert failed["error"].startswith("FIT: the file ends early at byte 5000")
    assert failed["session_id"] is None
    empty = b'<?xml version="1.0"?><gpx version="1.1" creator="x"></gpx>'
    nothing = await finished(api, me, (await upload(api, me, "e.gpx", empty)).json()["import_id"])
    assert nothing["error"] == "GPX: no track points (routes and waypoints carry no workout)"
    listed = await api.get(f"/users/{me.user_id}/workouts", headers=me.headers)
    assert listed.json()["items"] == []


async def test_a_file_without_a_sport_fails_and_is_tried_again_with_one(
    api: httpx.AsyncClient,
) -> None:
    me = await sign_up(api)
    sent = await upload(api, me, "hike.gpx", sample("hike.gpx"))
    failed = await finished(api, me, sent.json()["import_id"])
    assert failed["error"] == "GPX: the file names no sport; send workout_type with it"
    again = await upload(api, me, "hike.gpx", sample("hike.gpx"), workout_type="hiking")
    assert (again.status_code, again.json()["import_id"]) == (202, failed["import_id"])
    done = await finished(api, me, failed["import_id"])
    assert (done["status"], done["error"], done["summary"]["workout_type"]) == (
        "done",
        None,
        "hiking",
    )


async def test_unknown_empty_and_oversize_files_are_refused_as_problems(
    api: httpx.AsyncClient,
) -> None:
    me = await sign_up(api)
    unknown = await upload(api, me, "notes.pdf", b"%PDF-1.7 not a workout")
    assert unknown.status_code == 415, unknown.text
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["errors"][0]["field"] == "file"
    assert "not a GPX, TCX or FIT file" in unknown.json()["detail"]
    empty = await upload(api, me, "run.fit", b"")
    assert (empty.status_code, empty.json()["errors"][0]["field"]) == (400, "file")
    limit = 10 * 1024 * 1024
    big = await upload(api, me, "big.gpx", b"<gpx>" + b" " * limit)
    assert big.status_code == 413, big.text
    assert big.headers["content-type"] == "application/problem+json"
    missing = await api.post("/workouts/imports", headers=me.headers, data={"x": "y"})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "file"
    anonymous = await api.post("/workouts/imports", files={"file": ("run.fit", b"x")})
    assert anonymous.status_code == 401


async def test_the_routes_are_documented(gateway: services.HttpProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    upload_route = paths["/api/v1/workouts/imports"]["post"]
    assert "multipart/form-data" in upload_route["requestBody"]["content"]
    assert {"200", "202", "413", "415"} <= set(upload_route["responses"])
    assert "get" in paths["/api/v1/workouts/imports/{import_id}"]
    samples_route = paths["/api/v1/workouts/{session_id}/samples"]["get"]
    assert "IMPORT_MAX_SAMPLES" in samples_route["description"]
    assert "WorkoutSamples" in json.dumps(samples_route["responses"]["200"])


async def test_the_grpc_contract_names_unsupported_files_and_bad_fields(
    activity_service: services.ServiceProcess,
) -> None:
    async with activity_service.channel() as channel:
        stub = imports_pb2_grpc.ImportServiceStub(channel)
        unknown = await rpc_error(
            stub.ImportWorkout(
                ipb.ImportWorkoutRequest(user_id="u", filename="a.txt", content=b"hello"),
                timeout=10,
            )
        )
        assert reason(unknown) == "UNSUPPORTED_FORMAT"
        bad = await rpc_error(stub.ImportWorkout(ipb.ImportWorkoutRequest(), timeout=10))
        assert {v.field for v in field_violations(bad)} == {"user_id", "content"}
        activity = activity_pb2_grpc.ActivityServiceStub(channel)
        empty = await rpc_error(
            activity.GetWorkoutSamples(pb.GetWorkoutSamplesRequest(), timeout=10)
        )
        assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert {v.field for v in field_violations(empty)} == {"user_id", "workout_id"}
        none = pb.GetWorkoutSamplesRequest(user_id="u", workout_id=str(uuid.uuid4()))
        missing = await rpc_error(activity.GetWorkoutSamples(none, timeout=10))
        assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_an_import_left_under_way_by_a_crash_is_finished_by_another_process(
    activity_service_env: dict[str, str], mongo: Server, redis: aioredis.Redis
) -> None:
    env = {
        **activity_service_env,
        "MONGODB_DATABASE": f"t_{uuid.uuid4().hex[:12]}",
        "IMPORT_LEASE_SECONDS": "1",
    }
    store = Store(mongo.url, env["MONGODB_DATABASE"])
    await store.start()
    user = str(uuid.uuid4())
    # A replica that accepted two uploads and died before working on them: one stopped
    # mid-parse, the other on its last attempt.
    for name in ("run.tcx", "run.fit"):
        crashed = Imports(
            store, cast(Workouts, None), cast(Any, None), ParsePool(1), dt.timedelta(seconds=1), 3
        )
        await crashed.submit(Upload(user, name, sample(name), "", Athlete(weight_kg=70)))
        await crashed.stop()  # its worker is cancelled before it ran
    tcx = import_id_for(user, hashlib.sha256(sample("run.tcx")).hexdigest())
    fit = import_id_for(user, hashlib.sha256(sample("run.fit")).hexdigest())
    await store.set_fields(store.imports, tcx, {"status": "parsing"})
    await store.set_fields(store.import_queue, fit, {"attempts": 3})
    service = await services.start("activity_service", env)
    try:
        async with service.channel() as channel:
            stub = imports_pb2_grpc.ImportServiceStub(channel)

            async def ended() -> bool:
                for import_id in (tcx, fit):
                    reply = await stub.GetImport(
                        ipb.GetImportRequest(user_id=user, import_id=import_id), timeout=10
                    )
                    if reply.workout_import.status in UNDER_WAY:
                        return False
                return True

            await wait_for(ended, timeout=60, interval=0.2)
            get = ipb.GetImportRequest(user_id=user, import_id=tcx)
            done = (await stub.GetImport(get, timeout=10)).workout_import
            assert done.status == ipb.IMPORT_STATUS_DONE
            activity = activity_pb2_grpc.ActivityServiceStub(channel)
            workout = await activity.GetWorkout(
                pb.GetWorkoutRequest(user_id=user, workout_id=done.workout_id), timeout=10
            )
            assert workout.workout.avg_heart_rate == done.summary.avg_heart_rate
            get = ipb.GetImportRequest(user_id=user, import_id=fit)
            given_up = (await stub.GetImport(get, timeout=10)).workout_import
            assert given_up.status == ipb.IMPORT_STATUS_FAILED
            assert given_up.error == "the file could not be processed in 3 attempts"
        # Nothing is owed any more, and no file is kept.
        assert await store.import_queue.count_documents({}) == 0
        assert await store.import_files.count_documents({}) == 0
    finally:
        service.stop()
        await store.stop()


UNDER_WAY = (ipb.IMPORT_STATUS_QUEUED, ipb.IMPORT_STATUS_PARSING)
