-- Articles written here are Markdown; articles imported from feeds arrive as HTML, which is
-- sanitised on import and again when rendered.
ALTER TABLE articles ADD COLUMN body_format text NOT NULL DEFAULT 'markdown'
    CHECK (body_format IN ('markdown', 'html'));
