-- Claims and lease renewals change no indexed column of a delivery (they set `locked_by`,
-- `locked_until`, `attempts`), so Postgres can write them as heap-only updates (no new index
-- entries) when the row's page has room for the new version. Keep that room: 40 % of each page
-- free at insert. Pages written before this keep their fill; new rows get the room.
ALTER TABLE deliveries SET (fillfactor = 60);
