-- A digest no longer queues one delivery row per recipient up front. Its recipient list (those
-- confirmed when it starts) is kept in chunks of a few hundred subscriber ids; a worker leases a
-- chunk as a whole, sends to the recipients in it, and writes each recipient's delivery row once,
-- with its outcome. Before, every digest mail cost three row versions (the queued row, the claim,
-- the outcome) and up to six index entries; now one row and two entries. Retries, failures and
-- bounces keep working on those rows as before; a chunk taken over after a crash sends only to the
-- recipients who have no row yet.
CREATE TABLE digest_chunks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    digest_id    uuid NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    recipients   uuid[] NOT NULL,
    -- cardinality(recipients), kept beside it so progress reads no array of a chunk not started.
    size         integer NOT NULL,
    -- Every recipient has a row (or left the table): nothing more to do, and `recipients` is emptied.
    done         boolean NOT NULL DEFAULT false,
    -- Times leased: a chunk never leased has no delivery rows yet.
    attempts     integer NOT NULL DEFAULT 0,
    locked_by    uuid,
    locked_until timestamptz
);
-- Claims take the oldest open chunk; leases and counters change no indexed column (heap-only).
CREATE INDEX digest_chunks_open ON digest_chunks (id) WHERE NOT done;
CREATE INDEX digest_chunks_digest ON digest_chunks (digest_id);

-- One delivery per recipient and digest, enforced: a chunk resumed after a crash looks rows up by
-- this index, and a row written twice (a lease lost mid-send) is not written twice.
DROP INDEX deliveries_digest;
CREATE UNIQUE INDEX deliveries_digest ON deliveries (digest_id, subscriber_id) WHERE digest_id IS NOT NULL;
-- A digest's rows still to send (retries): small, so counting them stays cheap with a large backlog.
CREATE INDEX deliveries_digest_pending ON deliveries (digest_id) WHERE digest_id IS NOT NULL AND status = 'pending';

-- Recipients of open chunks still without a delivery row, per digest: what progress and the queue
-- depth count as pending beside pending rows. A chunk never leased has no rows, so only chunks in
-- progress (a few per worker) are looked up, through deliveries_digest.
CREATE VIEW digest_chunks_waiting AS
SELECT c.digest_id,
       CASE WHEN c.attempts = 0 THEN c.size
            ELSE c.size - (SELECT count(*) FROM deliveries d
                           WHERE d.digest_id = c.digest_id AND d.subscriber_id = ANY (c.recipients))::int
       END AS waiting
FROM digest_chunks c
WHERE NOT c.done;
