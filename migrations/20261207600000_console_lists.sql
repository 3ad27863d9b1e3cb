-- An import row may name its own lists (the file's `lists` column, slugs joined by `|`); empty,
-- the import's lists apply. Text, as the file said it: the slugs are checked against `lists` for
-- the whole file at once, before anything is added.
ALTER TABLE import_rows ADD COLUMN lists text;
