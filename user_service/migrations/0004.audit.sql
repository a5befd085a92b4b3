-- depends: 0002.idempotency
-- The audit log of personal data (user_service.audit_store): one hash chain per account,
-- and one chain of erasures under the nil UUID, which no account has.
--
-- No foreign key to users: the chain of erasures belongs to no account, and records of an
-- account that is gone are dropped by the consumer, which locks the account's row first.

CREATE TABLE audit_chains (
    -- The chain's head: its last position and that record's hash. Appending locks this row,
    -- so one account's records are chained one writer at a time.
    user_id uuid PRIMARY KEY,
    seq     bigint NOT NULL DEFAULT 0,
    hash    bytea NOT NULL DEFAULT decode(repeat('00', 32), 'hex')
);

CREATE TABLE audit_log (
    user_id    uuid NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    -- The gateway's id (batch and index): a redelivered stream entry is stored once.
    record_id  text NOT NULL UNIQUE,
    at         timestamptz NOT NULL,
    actor_id   uuid,
    action     text NOT NULL
               CHECK (action IN ('read', 'create', 'update', 'delete', 'export', 'erase')),
    resource   text NOT NULL,
    result     smallint NOT NULL,
    request_id text NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (user_id, seq)
);

-- Append-only: no UPDATE, no TRUNCATE, and DELETE only on the erase path, which says so in
-- its own transaction (SET LOCAL fitmesh.audit_erase = 'on'). This stops mistakes, not a
-- superuser: the hash chain is what shows a change.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('fitmesh.audit_erase', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only (%)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
