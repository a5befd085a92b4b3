-- depends: 0005.workout_edits
-- Webhooks: a user's subscriptions, one delivery per event and subscription, and every
-- attempt of each. Deliveries are scheduled in Redis (a sorted set of due ids); the rows
-- here are the record, so a lost schedule is rebuilt from the pending ones.

CREATE TABLE webhooks (
    webhook_id          uuid PRIMARY KEY,
    user_id             uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    url                 text NOT NULL,
    events              text[] NOT NULL,
    -- Fernet token of the signing secret: it must be read back to sign, so it is
    -- encrypted, not hashed.
    secret_enc          bytea NOT NULL,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The client's Idempotency-Key (a digest) and the fingerprint of its request.
    idempotency_key     text,
    request_fingerprint text
);
-- One subscription per URL and user: a second one would deliver every event twice.
CREATE UNIQUE INDEX webhooks_user_url ON webhooks (user_id, url);
CREATE UNIQUE INDEX webhooks_idempotency_key ON webhooks (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

CREATE TABLE deliveries (
    -- Derived from (event id, webhook id): an event read by the dispatcher twice makes one
    -- delivery.
    delivery_id      uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (webhook_id) ON DELETE CASCADE,
    event_id         text NOT NULL,
    event_type       text NOT NULL,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed', 'dead')),
    -- Every attempt ever (the log's numbering); the round counts toward the limits, and a
    -- replay starts a new round.
    attempts         integer NOT NULL DEFAULT 0,
    round_attempts   integer NOT NULL DEFAULT 0,
    round_started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    next_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_status      integer,
    last_error       text,
    last_latency_ms  integer,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at      timestamptz
);
-- The delivery log of a subscription, newest first, cursor paged.
CREATE INDEX deliveries_log ON deliveries (webhook_id, created_at DESC, delivery_id DESC);
-- The same, of one status (the failed or dead ones among many delivered).
CREATE INDEX deliveries_log_status
    ON deliveries (webhook_id, status, created_at DESC, delivery_id DESC);
-- Dead letters by when they died (replay since a time, and the operator's view).
CREATE INDEX deliveries_dead ON deliveries (webhook_id, finished_at) WHERE status = 'dead';
-- Pending deliveries by due time: what rebuilds a lost schedule.
CREATE INDEX deliveries_pending ON deliveries (next_at, delivery_id) WHERE status = 'pending';

CREATE TABLE delivery_attempts (
    delivery_id uuid NOT NULL REFERENCES deliveries (delivery_id) ON DELETE CASCADE,
    n           integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer,
    latency_ms  integer NOT NULL,
    error       text,
    PRIMARY KEY (delivery_id, n)
);
