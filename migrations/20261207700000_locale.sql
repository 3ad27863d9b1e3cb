-- The language a subscriber reads pages and mail in. NULL means "the configured default"
-- (`subscriptions.default_locale`): subscribers added by the operator or imported never chose
-- one, and follow the default if the operator changes it. A signup always stores the locale it
-- was made in. Shipped locales are checked by the application (a new catalogue needs no
-- migration); the check here only keeps the column a language tag.
ALTER TABLE subscribers ADD COLUMN locale text CHECK (locale ~ '^[a-z]{2,3}$');
