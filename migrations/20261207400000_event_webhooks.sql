-- Event webhooks out: the endpoints operators add, the messages queued for them (written in the
-- transaction of the change that causes them), and each endpoint's last attempts for the console.

CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY,
    url             text NOT NULL,
    events          text[] NOT NULL CHECK (cardinality(events) > 0),
    -- `whsec_` + base64: an HMAC key the worker signs with, so it is kept as it is (unlike API
    -- keys, which only need to be checked and are kept hashed).
    secret          text NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    -- Why it was disabled (a 410 Gone), for the console and the API.
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- One row per event and endpoint that asked for it. `msg_id` is the `webhook-id` header: the same
-- on every retry, so receivers can drop duplicates.
CREATE TABLE webhook_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    msg_id          uuid NOT NULL DEFAULT gen_random_uuid(),
    type            text NOT NULL,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A claim leases the row; a worker that dies lets it come back when the lease runs out.
    locked_until    timestamptz,
    last_error      text
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id);
CREATE INDEX webhook_messages_settled ON webhook_messages (created_at) WHERE status <> 'pending';

-- The last attempts per endpoint (the worker trims them to the newest 20), for the console.
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id  bigint NOT NULL,
    type        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    -- The HTTP status, or NULL when none came (refused address, timeout, connection error).
    status_code integer,
    error       text,
    millis      integer NOT NULL
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id DESC);

-- `digest.finished`: set, with the event, once a started digest has no open chunk and no pending
-- delivery (the worker's webhook chore looks).
ALTER TABLE digests ADD COLUMN finished_at timestamptz;
CREATE INDEX digests_unfinished ON digests (started_at) WHERE state = 'sending' AND finished_at IS NULL;
