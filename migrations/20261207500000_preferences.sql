-- A reader's own choices of lists (issue 30): joining a list from the preference page and
-- leaving one list (a digest's unsubscribe link, the preference page) are consent records too,
-- naming the list. Leaving everything stays `unsubscribe`, with no list.

ALTER TYPE consent_action ADD VALUE IF NOT EXISTS 'join';
ALTER TYPE consent_action ADD VALUE IF NOT EXISTS 'leave';

-- The list a `join` or `leave` was about. A list is removed only while no digest names it; its
-- records then keep the slug they named (so a person's data still says which list it was).
ALTER TABLE consent_events
    ADD COLUMN list_id integer REFERENCES lists (id) ON DELETE SET NULL,
    ADD COLUMN list_slug text CHECK (length(list_slug) <= 40);
