-- Feed entries, and HTML articles edited in the console, are now sanitised once before they are
-- stored (with element nesting limited first: the HTML parser's cost grows with the square of
-- the depth) and kept as 'sanitised-html', which rendering uses as it is. Rows stored earlier as
-- 'html' are not re-sanitised here (that needs the application's sanitiser): they keep their
-- format and are still sanitised, nesting limited, at every render.
ALTER TABLE articles DROP CONSTRAINT articles_body_format_check;
ALTER TABLE articles ADD CONSTRAINT articles_body_format_check
    CHECK (body_format IN ('markdown', 'html', 'sanitised-html'));
