-- List hygiene: bounces and complaints, recorded per subscriber.
-- A complaint ("report spam") ends all mail to the address, like a hard bounce.
ALTER TYPE subscriber_status ADD VALUE IF NOT EXISTS 'complained';

CREATE TYPE bounce_kind AS ENUM ('hard', 'soft', 'complaint');

-- Every decision about an address, with what it was based on: the SMTP reply at send time, or
-- an inbound report (delivery status notification, feedback report).
CREATE TABLE bounces (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    -- The message it was about, when known (a VERP tag, or the send itself).
    delivery_id   bigint REFERENCES deliveries (id) ON DELETE SET NULL,
    kind          bounce_kind NOT NULL,
    -- Enhanced status code (5.1.1), or the feedback type of a complaint (abuse).
    status        text,
    -- The receiving server's words.
    diagnostic    text,
    source        text NOT NULL CHECK (source IN ('smtp', 'report')),
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX bounces_subscriber ON bounces (subscriber_id, at);
CREATE INDEX bounces_delivery ON bounces (delivery_id) WHERE delivery_id IS NOT NULL;
