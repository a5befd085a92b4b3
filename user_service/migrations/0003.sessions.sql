-- depends: 0002.idempotency
-- Sign-in sessions. A login starts a session; its refresh tokens rotate on every use, and a
-- rotated token presented again means two holders share the session (one of them stolen
-- it), so the whole session is revoked. Access tokens carry the session id (`sid`), so a
-- revoked session's tokens are refused by every gateway until they expire.

CREATE TABLE sessions (
    session_id    uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    -- What the client said it is, cut short: it names the device in the session list.
    user_agent    text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    -- A session nobody refreshes ends by itself.
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoked_why   text CHECK (revoked_why IN ('logout', 'reuse', 'password', 'signed_out', 'erased')),
    -- Set once the gateways were told of the revocation (the outbox of revocations).
    announced_at  timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id, created_at DESC) WHERE revoked_at IS NULL;
CREATE INDEX sessions_unannounced ON sessions (revoked_at)
    WHERE revoked_at IS NOT NULL AND announced_at IS NULL;

-- Every refresh token a session was given, by its SHA-256 (the token itself is never
-- stored). `used_at` is set when it is exchanged; presenting it again is reuse.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
