-- An import's columns other than email, name, created_at, status and lists become the new
-- subscribers' attributes (checked by the application, domain::Attributes): the staging table
-- carries them as one JSON object per row.
ALTER TABLE import_rows ADD COLUMN attributes jsonb;
