-- Several lists per Broadsheet, each subscriber a member of some with a standing per list; a
-- small JSON object of attributes per subscriber; digests addressed to one list (and optionally a
-- segment of it).
--
-- The address keeps its own status (`subscribers.status`): `pending` until its first
-- confirmation, then `confirmed`; `unsubscribed` (from everything), `bounced` and `complained`
-- hold for every list. A digest to a list goes to members confirmed on it whose address is
-- confirmed.

CREATE TABLE lists (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    -- Shown on the signup page and the preference page; a private list is joined only by the
    -- operator (API, CLI, import).
    public        boolean NOT NULL DEFAULT true,
    -- Joining needs the confirmation mail's link; a single-opt-in list takes the member at once.
    double_opt_in boolean NOT NULL DEFAULT true,
    -- Cron, in digests.timezone; the default list's schedule is `digests.schedule`.
    schedule      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The list every Broadsheet has: everything written before lists existed is about it.
INSERT INTO lists (slug, name, description) VALUES ('default', 'Newsletter', '');

CREATE TYPE membership_status AS ENUM ('pending', 'confirmed', 'unsubscribed');

CREATE TABLE memberships (
    list_id       integer NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    subscriber_id uuid NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status        membership_status NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- A digest reads one list's members in subscriber order: this index, from its list's edge.
    PRIMARY KEY (list_id, subscriber_id)
);
-- A person's memberships (their data, the preference page, erasure's cascade).
CREATE INDEX memberships_subscriber ON memberships (subscriber_id);

-- Everyone is a member of `default` with the standing they have: pending or confirmed as they
-- are; an address that left or bounced after confirming stays a confirmed member (its address
-- status keeps it from every list), one that never confirmed a pending one; unsubscribed is
-- unsubscribed.
INSERT INTO memberships (list_id, subscriber_id, status, created_at, updated_at)
SELECT (SELECT id FROM lists WHERE slug = 'default'), s.id,
       CASE WHEN s.status = 'unsubscribed' THEN 'unsubscribed'
            WHEN s.status = 'confirmed' OR s.confirmed_at IS NOT NULL THEN 'confirmed'
            ELSE 'pending' END::membership_status,
       s.created_at, s.updated_at
FROM subscribers s;

-- Up to 8 KiB of the operator's own fields per subscriber (`plan`, `country`, …): string,
-- number and boolean values, checked by the application (domain::Attributes).
ALTER TABLE subscribers ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'
    CHECK (jsonb_typeof(attributes) = 'object');

-- The list a digest goes to (every digest before this went to everyone: `default`), and the
-- segment expression that narrowed it, as the operator wrote it.
ALTER TABLE digests ADD COLUMN list_id integer REFERENCES lists (id);
UPDATE digests SET list_id = (SELECT id FROM lists WHERE slug = 'default');
ALTER TABLE digests ALTER COLUMN list_id SET NOT NULL;
ALTER TABLE digests ADD COLUMN segment text CHECK (length(segment) <= 4096);
CREATE INDEX digests_list ON digests (list_id, created_at);

-- Schedule ticks are per list: one digest per list and tick, however many workers run.
ALTER TABLE digest_ticks ADD COLUMN list_id integer REFERENCES lists (id) ON DELETE CASCADE;
UPDATE digest_ticks SET list_id = (SELECT id FROM lists WHERE slug = 'default');
ALTER TABLE digest_ticks ALTER COLUMN list_id SET NOT NULL;
ALTER TABLE digest_ticks DROP CONSTRAINT digest_ticks_pkey;
ALTER TABLE digest_ticks ADD PRIMARY KEY (list_id, tick);
