-- Accounts, goals, goal alerts and the record of processed events.

CREATE TABLE users (
    user_id            uuid PRIMARY KEY,
    username           text NOT NULL,
    email              text NOT NULL,
    password_hash      text NOT NULL,
    display_name       text,
    weight_kg          double precision,
    height_cm          double precision,
    birth_date_enc     bytea,            -- Fernet token: encrypted at rest
    sex                text,
    resting_heart_rate integer,
    max_heart_rate     integer,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
-- Unique without regard to case; these also serve login by email.
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));
CREATE UNIQUE INDEX users_username_ci ON users (lower(username));

CREATE TABLE goals (
    goal_id          uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    goal_type        text NOT NULL,
    target_value     double precision NOT NULL CHECK (target_value > 0),
    target_date      date NOT NULL,
    current_progress double precision NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'active'
                     CHECK (status IN ('active', 'achieved', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    achieved_at      timestamptz
);
CREATE INDEX goals_user_page ON goals (user_id, created_at DESC, goal_id DESC);

CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    kind            text NOT NULL,
    goal_id         uuid,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- Set once the alert went out on Redis; NULL rows are the outbox still to send.
    published_at    timestamptz
);
-- One alert per achieved goal, however often the event behind it is delivered.
CREATE UNIQUE INDEX notifications_once ON notifications (goal_id, kind);
CREATE INDEX notifications_user_page ON notifications (user_id, created_at DESC, notification_id DESC);
CREATE INDEX notifications_outbox ON notifications (created_at) WHERE published_at IS NULL;

CREATE TABLE processed_events (
    event_id     text PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);
