-- Scheduled and automatic digests, welcome and reminder mails.

-- A digest is `scheduled` until its `send_at`, then `sending` from the moment a worker starts it
-- (its deliveries are inserted then, for those confirmed at that moment), or `cancelled`.
ALTER TABLE digests
    ADD COLUMN state      text NOT NULL DEFAULT 'sending' CHECK (state IN ('scheduled', 'sending', 'cancelled')),
    ADD COLUMN send_at    timestamptz,
    ADD COLUMN started_at timestamptz;
UPDATE digests SET started_at = created_at;
ALTER TABLE digests ADD CONSTRAINT digests_started CHECK ((state = 'sending') = (started_at IS NOT NULL));
CREATE INDEX digests_scheduled ON digests (send_at) WHERE state = 'scheduled';
-- The archive: started digests, newest first.
CREATE INDEX digests_archive ON digests (started_at DESC, id) WHERE state = 'sending';

-- One row per tick of `digests.schedule` that a worker handled: its primary key makes a tick
-- happen once however many workers see it.
CREATE TABLE digest_ticks (
    tick       timestamptz PRIMARY KEY,
    -- The digest it sent; none when no article was waiting.
    digest_id  uuid REFERENCES digests (id) ON DELETE SET NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);

ALTER TYPE delivery_kind ADD VALUE 'welcome';
ALTER TYPE delivery_kind ADD VALUE 'reminder';

-- When the one reminder to confirm was queued; never a second.
ALTER TABLE subscribers ADD COLUMN reminded_at timestamptz;
CREATE INDEX subscribers_unreminded ON subscribers (created_at) WHERE status = 'pending' AND reminded_at IS NULL;
