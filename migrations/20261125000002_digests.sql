-- Articles and the digests that mail them to every confirmed subscriber.

CREATE TABLE articles (
    id         uuid PRIMARY KEY,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
    -- Markdown, rendered (and sanitised) when a digest is sent.
    body       text NOT NULL,
    url        text,
    summary    text,
    -- A feed entry's id, so importing a feed twice adds nothing.
    source_id  text UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX articles_created ON articles (created_at);

CREATE TABLE digests (
    id              uuid PRIMARY KEY,
    subject         text NOT NULL,
    -- Retrying `POST /admin/digests` with the same key finds this digest instead of making another.
    idempotency_key text UNIQUE,
    recipients      integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE digest_articles (
    digest_id  uuid NOT NULL REFERENCES digests (id) ON DELETE CASCADE,
    article_id uuid NOT NULL REFERENCES articles (id),
    position   integer NOT NULL,
    PRIMARY KEY (digest_id, article_id)
);
CREATE INDEX digest_articles_article ON digest_articles (article_id);

ALTER TABLE deliveries ADD COLUMN digest_id uuid REFERENCES digests (id) ON DELETE CASCADE;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_digest_kind CHECK ((kind = 'digest') = (digest_id IS NOT NULL));
-- Progress counts per digest.
CREATE INDEX deliveries_digest ON deliveries (digest_id, status) WHERE digest_id IS NOT NULL;
