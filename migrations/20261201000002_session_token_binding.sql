-- A console session belongs to the admin token it was signed in with: each row keeps a SHA-256
-- fingerprint of that token, and a session whose token has since been rotated is refused.
-- Sessions from before this change have no fingerprint; they end, and operators sign in again.
DELETE FROM admin_sessions;
ALTER TABLE admin_sessions ADD COLUMN admin_token_hash bytea NOT NULL CHECK (length(admin_token_hash) = 32);
