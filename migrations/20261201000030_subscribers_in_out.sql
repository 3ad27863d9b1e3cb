-- Subscribers in and out (issue 13): consent records for imports and operator additions, with
-- the operator's note and the interface they used; a suppression list of erased addresses.

-- `import`: came in with a list; `added`: an operator added the address by hand.
ALTER TYPE consent_action ADD VALUE IF NOT EXISTS 'import';
ALTER TYPE consent_action ADD VALUE IF NOT EXISTS 'added';

-- Where an operator's action came from; NULL for the subscriber's own (the public pages).
CREATE TYPE consent_interface AS ENUM ('cli', 'api', 'console');

ALTER TABLE consent_events
    -- What the operator wrote about where the consent was given ("signed up at our stand").
    ADD COLUMN note text CHECK (length(note) <= 1000),
    ADD COLUMN interface consent_interface;

-- An erased address that had unsubscribed, bounced or complained: only the SHA-256 of its
-- lower-cased form, so an import or an operator cannot add it back, and nothing readable stays.
CREATE TABLE suppressions (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    reason     subscriber_status NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The shape of an import's staging table. Each import creates a temporary `import_rows` like it,
-- which hides this one for the length of its transaction; this one stays empty (it exists so
-- that the import's statements are checked at compile time).
CREATE TABLE import_rows (
    line       bigint NOT NULL,
    email      text NOT NULL,
    name       text,
    created_at timestamptz,
    status     subscriber_status,
    CONSTRAINT import_rows_always_empty CHECK (false) NO INHERIT
);
