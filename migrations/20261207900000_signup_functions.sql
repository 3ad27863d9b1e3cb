-- The signup statement's rare branches, as functions it calls only when a row needs them.
--
-- Postgres initialises every part of a statement's plan each time the statement runs, even
-- parts no row reaches: a subquery in an upsert's DO UPDATE, or one behind a CASE, is set up
-- (its scans opened, its indexes' keys built) for a batch of new addresses that never conflict.
-- For the signup statement those parts were some forty plan nodes, a good share of its fixed
-- cost. A function call is planned and set up only when it is called.

-- Whether a signup for a known address queues a confirmation mail, decided under the
-- subscriber row's lock on its newest version (see `store::signups`): the address is or
-- becomes pending (or is confirmed and asks for a double-opt-in list it is not confirmed on),
-- had fewer than `p_cap` mails in the last day, this request did not queue one already (a run
-- again after a lost answer), and no confirmation is waiting. Returns the row's new
-- `confirmation_mails_at` and `confirmation_queued_by`.
CREATE FUNCTION signup_mail_decision(
    p_subscriber uuid, p_status subscriber_status, p_mails_at timestamptz[], p_queued_by uuid,
    p_request uuid, p_cap bigint, p_pick_requests uuid[], p_pick_lists int4[], p_pick_double bool[],
    OUT mails_at timestamptz[], OUT queued_by uuid)
LANGUAGE plpgsql AS $$
DECLARE
    recent timestamptz[] := ARRAY(SELECT t FROM unnest(p_mails_at) t WHERE t > now() - interval '1 day');
    queue bool;
BEGIN
    queue := (p_status IN ('pending', 'unsubscribed', 'bounced', 'complained')
              OR (p_status = 'confirmed' AND EXISTS (
                  SELECT 1 FROM unnest(p_pick_requests, p_pick_lists, p_pick_double) AS p(request, list_id, double_opt_in)
                  WHERE p.request = p_request AND p.double_opt_in
                    AND NOT EXISTS (SELECT 1 FROM memberships m
                                    WHERE m.list_id = p.list_id AND m.subscriber_id = p_subscriber
                                      AND m.status = 'confirmed'))))
             AND cardinality(recent) < p_cap
             AND p_queued_by IS DISTINCT FROM p_request
             AND NOT EXISTS (SELECT 1 FROM deliveries d
                             WHERE d.subscriber_id = p_subscriber AND d.kind = 'confirmation'
                               AND d.status = 'pending');
    mails_at := CASE WHEN queue THEN recent || now() ELSE p_mails_at END;
    queued_by := CASE WHEN queue OR p_queued_by = p_request THEN p_request END;
END
$$;

-- A signup run again after its answer was lost: the confirmation its first run queued, if that
-- is still leased to `p_worker` for long enough to hand over.
CREATE FUNCTION signup_leased_confirmation(p_subscriber uuid, p_worker uuid, p_lease_secs float8)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT d.id FROM deliveries d
    WHERE d.subscriber_id = p_subscriber AND d.kind = 'confirmation' AND d.status = 'pending'
      AND d.locked_by = p_worker AND d.locked_until > now() + make_interval(secs => p_lease_secs / 2)
    ORDER BY d.id DESC LIMIT 1
$$;
