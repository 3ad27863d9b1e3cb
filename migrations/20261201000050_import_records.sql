-- Faster imports (issue 13): one consent record per import instead of one row per imported
-- person.

-- An import's consent record: the operator's note, when, and from which interface. Each
-- subscriber it added points at it. Written once per import: a row (and a foreign-key check) per
-- imported person made a 1M-row import spend about a third of its time on consent rows saying
-- the same thing a million times.
CREATE TABLE imports (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    note      text CHECK (length(note) <= 1000),
    interface consent_interface NOT NULL,
    confirmed boolean NOT NULL
);

-- No foreign key on purpose: `imports` rows are never deleted (they hold nothing personal), and
-- the per-row check would cost a large import seconds. Erasing a subscriber removes the link.
ALTER TABLE subscribers ADD COLUMN import_id bigint;
