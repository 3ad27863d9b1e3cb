-- A signup's consent record carries the id the service gave the request (time-ordered, UUIDv7),
-- so that the signup statement can be run again when its connection died before the answer
-- arrived: if the first run committed, the record is there already, and the run again writes no
-- second record and queues no second confirmation mail. Other records (confirm, unsubscribe,
-- imports) have none.
ALTER TABLE consent_events ADD COLUMN request_id uuid;
CREATE UNIQUE INDEX consent_events_request ON consent_events (request_id) WHERE request_id IS NOT NULL;
