-- The daily cap on confirmation mails per address, counted on the subscriber row itself: the
-- signup statement updates this row under its row lock, so simultaneous signups for one address
-- take turns at the count instead of each counting from its own snapshot of the deliveries.
ALTER TABLE subscribers
    -- When confirmation mails were queued for this address in the last day (at most the cap).
    ADD COLUMN confirmation_mails_at timestamptz[] NOT NULL DEFAULT '{}',
    -- The signup request (its candidate subscriber id) that queued the latest of them, so the
    -- statement can tell whether it was the one.
    ADD COLUMN confirmation_queued_by uuid;

UPDATE subscribers s SET confirmation_mails_at = recent.at
FROM (SELECT subscriber_id, array_agg(created_at ORDER BY created_at) AS at
      FROM deliveries
      WHERE kind = 'confirmation' AND created_at > now() - interval '1 day'
      GROUP BY subscriber_id) recent
WHERE recent.subscriber_id = s.id;
