-- depends: 0006.webhooks
-- One-off callbacks (an import's callback_url) are webhooks too, so they share deliveries,
-- retries, dead letters and the delivery log; they get only the event that names them.
-- Many may share a URL (one per import), so the one-per-URL rule is for subscriptions.

ALTER TABLE webhooks ADD COLUMN kind text NOT NULL DEFAULT 'subscription'
    CHECK (kind IN ('subscription', 'callback'));
DROP INDEX webhooks_user_url;
CREATE UNIQUE INDEX webhooks_user_url ON webhooks (user_id, url) WHERE kind = 'subscription';
