-- Operator console sessions: the cookie carries a random token, the table only its SHA-256.
CREATE TABLE admin_sessions (
    hash       bytea PRIMARY KEY CHECK (length(hash) = 32),
    -- Every console form carries this; a cross-site form cannot know it.
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
