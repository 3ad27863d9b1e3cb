-- Confirmation and unsubscribe links are now HMAC-signed and need no row (src/domain/link_token.rs).
-- A confirmation link carries the subscriber's `token_version` as it was when the mail was
-- minted; it confirms only while the subscriber is pending with that same version. Leaving
-- pending (confirming, unsubscribing, bouncing, a complaint) moves the version on, so every
-- confirmation link already mailed is spent: single-use and revocable without a row per link.
ALTER TABLE subscribers ADD COLUMN token_version integer NOT NULL DEFAULT 0;

-- Whatever statement moves a subscriber out of pending, the version moves with it. The confirming
-- UPDATE also sets it (checking the old value in its WHERE); this makes it impossible to forget
-- elsewhere. An assignment from OLD, so the two together still add one.
CREATE FUNCTION subscribers_bump_token_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.token_version := OLD.token_version + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER subscribers_leave_pending
    BEFORE UPDATE OF status ON subscribers
    FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status IS DISTINCT FROM OLD.status)
    EXECUTE FUNCTION subscribers_bump_token_version();

-- subscription_tokens is no longer written. Links mailed before this release are still honoured
-- by their hash until they expire, and the housekeeping chore still purges them; the table can
-- be dropped once the longest lifetime (a year, for unsubscribe links) has passed after deploying.
COMMENT ON TABLE subscription_tokens IS
    'Legacy: SHA-256 of tokens mailed before stateless links; read-only, purged as they expire; drop a year after deploying 20261201090000';
