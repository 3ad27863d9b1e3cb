-- Mailgun webhook tokens seen lately: a signed request may be replayed by whoever saw it, so each
-- token is taken once. Shared by every service process; rows older than the freshness window are
-- deleted as new ones come (an older signature is refused by its timestamp anyway).
CREATE TABLE webhook_tokens (
    token text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_tokens_seen_at ON webhook_tokens (seen_at);
