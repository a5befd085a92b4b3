-- depends: 0001.initial
-- The Idempotency-Key a registration came with (hashed with its scope by the gateway) and
-- the fingerprint of what it asked for, kept with the account: a repeat of the key is
-- answered with this account, or refused when it asks for something else, however long
-- after the gateway's Redis record of the key has gone. Most accounts have none, so the
-- index holds only those that do.

ALTER TABLE users
    ADD COLUMN idempotency_key     text,
    ADD COLUMN request_fingerprint text;
CREATE UNIQUE INDEX users_idempotency_key ON users (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
