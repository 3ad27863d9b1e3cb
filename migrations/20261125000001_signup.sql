-- Subscribers, their consent trail, their tokens, and the queue every outgoing mail goes through.

CREATE TYPE subscriber_status AS ENUM ('pending', 'confirmed', 'unsubscribed', 'bounced');

CREATE TABLE subscribers (
    id              uuid PRIMARY KEY,
    -- As typed, trimmed, with the domain lower-cased; uniqueness ignores case (index below).
    email           text NOT NULL,
    name            text,
    status          subscriber_status NOT NULL DEFAULT 'pending',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    unsubscribed_at timestamptz
);
CREATE UNIQUE INDEX subscribers_email_key ON subscribers (lower(email));
CREATE INDEX subscribers_confirmed ON subscribers (id) WHERE status = 'confirmed';

-- The consent record: every signup request, confirmation and unsubscribe, with where it came from.
CREATE TYPE consent_action AS ENUM ('signup', 'confirm', 'unsubscribe');

CREATE TABLE consent_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    action        consent_action NOT NULL,
    at            timestamptz NOT NULL DEFAULT now(),
    ip            inet,
    user_agent    text
);
CREATE INDEX consent_events_subscriber ON consent_events (subscriber_id, at);

-- Only the SHA-256 of a token is stored. The plaintext exists in the outgoing mail and nowhere else:
-- the worker mints tokens at the moment it renders a message.
CREATE TYPE token_purpose AS ENUM ('confirm', 'unsubscribe');

CREATE TABLE subscription_tokens (
    hash          bytea PRIMARY KEY CHECK (length(hash) = 32),
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    purpose       token_purpose NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz
);
CREATE INDEX subscription_tokens_subscriber ON subscription_tokens (subscriber_id);
CREATE INDEX subscription_tokens_expiry ON subscription_tokens (expires_at);

-- One row per outgoing message, written in the transaction that causes it.
CREATE TYPE delivery_kind AS ENUM ('confirmation', 'digest');
CREATE TYPE delivery_status AS ENUM ('pending', 'sent', 'failed', 'skipped');

CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            delivery_kind NOT NULL,
    subscriber_id   uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status          delivery_status NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    -- When a pending row may next be tried (now, or after a retry delay).
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- The lease: a claimed row belongs to `locked_by` until `locked_until`. A crashed worker never
    -- releases it, so once the lease runs out any worker may claim the row again.
    locked_by       uuid,
    locked_until    timestamptz,
    last_error      text,
    message_id      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
-- Claims walk this partial index: it holds only what is still to send.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
-- For the per-address cap on confirmation mails.
CREATE INDEX deliveries_confirmations ON deliveries (subscriber_id, created_at) WHERE kind = 'confirmation';
