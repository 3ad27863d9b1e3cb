-- Scoped API keys: credentials for scripts that hold only the scopes they need, instead of the
-- all-powerful admin.token. Only the SHA-256 of a key is stored; a request finds its key by that
-- hash. A revoked key keeps its row (revoked_at set) so the list shows what existed and when it
-- was cut off; its name is free again for a new key.
CREATE TABLE api_keys (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    hash         bytea NOT NULL CHECK (octet_length(hash) = 32),
    -- Scope names (`subscribers:read`, …), checked by the application when written.
    scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Written at most once a minute per key, and no index covers it, so the write is heap-only.
    last_used_at timestamptz,
    revoked_at   timestamptz
);
-- Every request with a key looks it up here.
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
-- One live key per name: revoke and create again to rotate.
CREATE UNIQUE INDEX api_keys_live_name ON api_keys (name) WHERE revoked_at IS NULL;
