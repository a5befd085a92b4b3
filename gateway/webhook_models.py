"""Request and response bodies of the webhook routes, and the receiver example /docs and
the README show (tests check the two are the same, and that it verifies a real delivery)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from fitmesh.user.v1 import webhooks_pb2 as wpb
from gateway.bodies import Body, Instant
from gateway.responses import when
from servicekit.protoenum import enum_name
from servicekit.protofields import to_datetime

# The user service checks the same list; here it documents the API.
EventType = Literal[
    "workout.completed",
    "workout.updated",
    "workout.deleted",
    "import.finished",
    "metric.recorded",
    "goal.achieved",
]
DeliveryStatus = Literal["pending", "delivered", "failed", "dead"]

RECEIVER_EXAMPLE = '''\
"""A webhook receiver, with nothing but the standard library: it answers the subscription
challenge, and accepts a delivery only when its signature and timestamp check out."""

import base64, hashlib, hmac, json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

SECRET_FILE = os.environ.get("SECRET_FILE", "webhook-secret.txt")  # the "secret" of the webhook


def verified(secret: str, headers, body: bytes) -> bool:
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > 300:  # an old message replayed by someone else
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in headers["webhook-signature"].split()]
    return any(hmac.compare_digest(expected, s) for s in given)


class Receiver(BaseHTTPRequestHandler):
    def do_GET(self):  # the challenge sent when the webhook is created
        query = parse_qs(urlsplit(self.path).query)
        answer = json.dumps({"hub.challenge": query["hub.challenge"][0]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self):  # a delivery
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(SECRET_FILE) as f:
            ok = verified(f.read().strip(), self.headers, body)
        self.send_response(204 if ok else 401)
        self.end_headers()
        if ok:  # webhook-id is the event's: the same on every retry, so keep it to skip repeats
            print(self.headers["webhook-id"], json.loads(body)["type"], flush=True)


HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver).serve_forever()
'''


class WebhookCreate(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"url": "https://hooks.example.com/fitmesh", "events": ["workout.completed"]},
            ]
        },
    )
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Where events are POSTed: https (http only where the server allows it), "
        "on the public internet."
    )
    events: Annotated[list[EventType], Field(min_length=1, max_length=10)]
    verify_token: Annotated[str, StringConstraints(max_length=128)] = Field(
        "", description="Sent back to the URL as hub.verify_token with the challenge."
    )


class ReplaySince(Body):
    since: Instant = Field(description="Every dead letter that died at or after this time.")


class Webhook(BaseModel):
    id: str
    url: str
    events: list[EventType]
    status: Literal["active", "paused"]
    created_at: dt.datetime
    kind: Literal["subscription", "callback"] = Field(
        description="A subscription, or the one-off callback of an import's callback_url "
        "(not listed; reached by its id)."
    )

    @classmethod
    def from_proto(cls, w: wpb.Webhook) -> Webhook:
        return cls(
            id=w.webhook_id,
            url=w.url,
            events=list(w.events),
            status=enum_name(wpb.WebhookStatus, w.status),
            created_at=to_datetime(w.created_at),
            kind=enum_name(wpb.WebhookKind, w.kind),
        )


class WebhookCreated(Webhook):
    secret: str = Field(
        description="The signing secret (whsec_ and base64): shown in this answer only."
    )


class WebhookList(BaseModel):
    items: list[Webhook]


class DeliveryAttempt(BaseModel):
    number: int
    at: dt.datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null for none.")
    latency_ms: int
    error: str | None


class Delivery(BaseModel):
    id: str
    event_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    finished_at: dt.datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    payload: dict[str, Any] = Field(description="The body POSTed: {type, timestamp, data}.")
    attempt_log: list[DeliveryAttempt]

    @classmethod
    def from_proto(cls, d: wpb.Delivery) -> Delivery:
        return cls(
            id=d.delivery_id,
            event_id=d.event_id,
            event_type=d.event_type,
            status=enum_name(wpb.DeliveryStatus, d.status),
            attempts=d.attempts,
            created_at=to_datetime(d.created_at),
            next_attempt_at=when(d, "next_attempt_at"),
            finished_at=when(d, "finished_at"),
            last_status_code=d.last_status_code or None,
            last_latency_ms=d.last_latency_ms if d.attempts else None,
            last_error=d.last_error or None,
            payload=json.loads(d.payload_json),
            attempt_log=[
                DeliveryAttempt(
                    number=a.number,
                    at=to_datetime(a.at),
                    status_code=a.status_code or None,
                    latency_ms=a.latency_ms,
                    error=a.error or None,
                )
                for a in d.attempt_log
            ],
        )


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: str | None


class Replayed(BaseModel):
    replayed: int = Field(description="Deliveries put back on the queue, to be sent again.")
