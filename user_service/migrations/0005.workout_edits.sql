-- depends: 0002.idempotency
-- Workouts can be edited and deleted, and goals follow exactly: each goal keeps what each
-- workout added to it, in the order the workouts came, so a change takes back exactly
-- that; each workout's newest version applied, so an older or repeated event of it
-- changes nothing, whatever order events arrive in.

CREATE TABLE goal_contributions (
    goal_id    uuid NOT NULL REFERENCES goals (goal_id) ON DELETE CASCADE,
    workout_id text NOT NULL,
    amount     double precision NOT NULL,
    -- An achieved goal keeps the progress it was achieved with, so which workouts count
    -- depends on their order.
    seq        bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (goal_id, workout_id)
);
CREATE INDEX goal_contributions_workout ON goal_contributions (workout_id);

-- No reference to users: events name users of any database sharing the stream (erasure
-- deletes a user's rows itself).
CREATE TABLE workout_versions (
    workout_id text PRIMARY KEY,
    user_id    uuid NOT NULL,
    version    bigint NOT NULL,
    deleted    boolean NOT NULL DEFAULT false
);
CREATE INDEX workout_versions_user ON workout_versions (user_id);

-- Progress from workouts counted before contributions were kept: no change can take it
-- back, as nobody knows which workouts it came from.
ALTER TABLE goals ADD COLUMN untracked_progress double precision NOT NULL DEFAULT 0;
UPDATE goals SET untracked_progress = current_progress;
-- How often the goal fell below its target again after being achieved; its alerts are
-- unique per round, so it can be achieved, lost and achieved again, each said once.
ALTER TABLE goals ADD COLUMN round integer NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN round integer NOT NULL DEFAULT 0;
DROP INDEX notifications_once;
CREATE UNIQUE INDEX notifications_once ON notifications (goal_id, kind, round);
