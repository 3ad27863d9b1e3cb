-- Nonces of signup form tokens and proof-of-work challenges already used: each is good once.
-- Written by the signup statement itself (`store::signups`), so the check costs no round trip;
-- housekeeping deletes rows older than any token or challenge that could still be presented.
CREATE TABLE form_nonces (
    nonce uuid PRIMARY KEY,
    used_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX form_nonces_used_at ON form_nonces (used_at);
