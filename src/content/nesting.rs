//! A linear pass over HTML that keeps element nesting shallow before any HTML parser sees it.
//!
//! Why: html5ever's tree building costs grow with the square of the nesting depth
//! (servo/html5ever#788). One feed entry of 40,000 nested `<div>`s took 13 s to sanitise, 200,000
//! took 240 s, on a thread that also serves HTTP. Real articles nest a dozen levels deep.
//!
//! The pass follows the tag stack the way the HTML parser would, closely enough that its count
//! of open elements is never below the parser's: where the two could disagree it assumes the
//! deeper tree. A start tag that would take the count past [`MAX_NESTING`] is left out, and so is
//! its end tag; the text inside stays. Comments and doctypes are not trusted to hide anything:
//! only up to their first `>` is skipped, so a tag inside one counts as a tag.
//!
//! (Over 400 lines: one tokenizer-like scan that only reads well whole; its tests are 70 lines.)

use std::borrow::Cow;
use std::collections::HashMap;

/// Open elements (plus formatting elements the parser may reopen) an article may have at once.
pub const MAX_NESTING: usize = 100;

/// Elements that never have content.
const VOID: &[&str] = &[
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
];

/// Elements the parser may reopen after they were closed implicitly ("reconstruct the active
/// formatting elements"): counted until their own end tag.
const FORMATTING: &[&str] =
    &["a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"];

/// The parser's "special" elements: an end tag of an ordinary element does not close past one.
const SPECIAL: &[&str] = &[
    "address",
    "applet",
    "area",
    "article",
    "aside",
    "base",
    "basefont",
    "bgsound",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "keygen",
    "li",
    "link",
    "listing",
    "main",
    "marquee",
    "menu",
    "meta",
    "nav",
    "noembed",
    "noframes",
    "noscript",
    "object",
    "ol",
    "p",
    "param",
    "plaintext",
    "pre",
    "script",
    "search",
    "section",
    "select",
    "source",
    "style",
    "summary",
    "table",
    "tbody",
    "td",
    "template",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "track",
    "ul",
    "wbr",
    "xmp",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
    "foreignobject",
    "desc",
    "svg",
    "math",
];

/// Where the parser's "has an element in scope" search stops.
const SCOPE_BOUNDARY: &[&str] = &[
    "applet",
    "caption",
    "html",
    "table",
    "td",
    "th",
    "marquee",
    "object",
    "template",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
    "foreignobject",
    "desc",
    "title",
    "svg",
    "math",
];

/// Table parts: the parser ignores their start tags outside a table.
const TABLE_PARTS: &[&str] = &["caption", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"];

/// Start tags that take the parser out of SVG or MathML back into HTML, where `<x/>` opens `x`.
const FOREIGN_BREAKOUT: &[&str] = &[
    "b",
    "big",
    "blockquote",
    "body",
    "br",
    "center",
    "code",
    "dd",
    "div",
    "dl",
    "dt",
    "em",
    "embed",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "hr",
    "i",
    "img",
    "li",
    "listing",
    "menu",
    "meta",
    "nobr",
    "ol",
    "p",
    "pre",
    "ruby",
    "s",
    "small",
    "span",
    "strong",
    "strike",
    "sub",
    "sup",
    "table",
    "tt",
    "u",
    "ul",
    "var",
    "font",
    "foreignobject",
    "desc",
    "title",
    "mi",
    "mo",
    "mn",
    "ms",
    "mtext",
    "annotation-xml",
];

/// Start tags that close an open `<p>` first.
const CLOSES_P: &[&str] = &[
    "li",
    "dd",
    "dt",
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "search",
    "section",
    "summary",
    "ul",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "listing",
    "form",
    "table",
    "hr",
    "xmp",
];

/// `html` with element nesting limited to [`MAX_NESTING`]; borrowed when nothing was removed.
pub fn limit_nesting(html: &str) -> Cow<'_, str> {
    let mut scan = Scan::default();
    let mut out = String::new();
    let mut copied = 0; // bytes of `html` already accounted for in `out`
    let mut dropped_any = false;
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(offset) = memchr_lt(&bytes[i..]) {
        let start = i + offset;
        let Some(tag) = read_tag(html, start) else {
            i = start + 1;
            continue;
        };
        i = tag.end;
        let keep = match &tag.kind {
            TagKind::Start { name, self_closing } => scan.start(name, *self_closing),
            TagKind::End { name } => scan.end(name),
            TagKind::Other => true,
            // End of input inside a tag: the parser drops the unfinished tag.
            TagKind::Unfinished => false,
        };
        if !keep {
            dropped_any = true;
            out.push_str(&html[copied..start]);
            copied = tag.end;
        }
    }
    if !dropped_any {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[copied..]);
    Cow::Owned(out)
}

fn memchr_lt(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'<')
}

#[derive(Default)]
struct Scan {
    /// Open elements as the parser would have them (names lower-cased).
    stack: Vec<String>,
    /// Formatting elements not yet ended by their own end tag.
    formatting: Vec<String>,
    /// Start tags left out, counted by name, so as many of their end tags go too.
    dropped: HashMap<String, usize>,
    /// Inside `<svg>` or `<math>` with nothing since that leads back to HTML: `<x/>` is empty.
    foreign: bool,
}

impl Scan {
    fn depth(&self) -> usize {
        self.stack.len() + self.formatting.len()
    }

    fn in_stack(&self, name: &str) -> bool {
        self.stack.iter().any(|n| n == name)
    }

    /// Whether to keep this start tag.
    fn start(&mut self, name: &str, self_closing: bool) -> bool {
        if FOREIGN_BREAKOUT.contains(&name) {
            self.foreign = false;
        }
        if VOID.contains(&name) || (self_closing && self.foreign) {
            return true;
        }
        // The parser merges these into the one it has; they never nest.
        if matches!(name, "html" | "head" | "body") {
            return true;
        }
        if TABLE_PARTS.contains(&name) && !self.in_stack("table") {
            return true; // ignored by the parser outside a table
        }
        if CLOSES_P.contains(&name) {
            self.close_in_scope("p", &["button"]);
        }
        if matches!(name, "li" | "dd" | "dt") {
            self.close_list_item(name);
        }
        if matches!(name, "td" | "th") {
            self.close_in_table_scope(&["td", "th"]);
        }
        if name == "tr" {
            self.close_in_table_scope(&["tr"]);
        }
        if matches!(name, "option") && self.stack.last().is_some_and(|n| n == "option") {
            self.stack.pop();
        }
        let formatting = FORMATTING.contains(&name);
        if self.depth() + 1 + usize::from(formatting) > MAX_NESTING {
            *self.dropped.entry(name.to_owned()).or_default() += 1;
            return false;
        }
        if formatting {
            self.formatting.push(name.to_owned());
        }
        if matches!(name, "svg" | "math") {
            self.foreign = true;
        }
        self.stack.push(name.to_owned());
        true
    }

    /// Whether to keep this end tag.
    fn end(&mut self, name: &str) -> bool {
        if let Some(count) = self.dropped.get_mut(name).filter(|c| **c > 0) {
            *count -= 1;
            return false;
        }
        let formatting = FORMATTING.contains(&name);
        if formatting && !self.in_stack(name) {
            // The parser forgets a formatting element that is no longer open.
            self.forget_formatting(name);
            return true;
        }
        let before = self.stack.len();
        match name {
            // The parser never pops these, whatever is above them.
            "html" | "head" | "body" => {}
            // Removes the form alone: what was opened inside it stays open.
            "form" => {
                if let Some(at) = self.stack.iter().rposition(|n| n == "form") {
                    self.stack.remove(at);
                }
            }
            "p" => self.close_in_scope("p", &["button"]),
            "li" => self.close_in_scope("li", &["ol", "ul"]),
            "table" | "tbody" | "thead" | "tfoot" | "tr" | "td" | "th" | "caption" | "colgroup" => {
                self.close_in_table_scope(&[name]);
            }
            _ if SPECIAL.contains(&name) => self.close_in_scope(name, &[]),
            _ => {
                // An ordinary element closes only if no special element is above it.
                for at in (0..self.stack.len()).rev() {
                    if self.stack[at] == name {
                        self.stack.truncate(at);
                        break;
                    }
                    if SPECIAL.contains(&self.stack[at].as_str()) {
                        break;
                    }
                }
            }
        }
        // A formatting element closed by something else stays counted: the parser may reopen it.
        if formatting && self.stack.len() < before {
            self.forget_formatting(name);
        }
        if !self.stack.iter().any(|n| n == "svg" || n == "math") {
            self.foreign = false;
        }
        true
    }

    fn forget_formatting(&mut self, name: &str) {
        if let Some(at) = self.formatting.iter().rposition(|n| n == name) {
            self.formatting.remove(at);
        }
    }

    /// Pops to `name` when it is in scope (the search stops at a boundary or at `extra`).
    fn close_in_scope(&mut self, name: &str, extra: &[&str]) {
        for at in (0..self.stack.len()).rev() {
            let node = self.stack[at].as_str();
            if node == name {
                self.stack.truncate(at);
                return;
            }
            if SCOPE_BOUNDARY.contains(&node) || extra.contains(&node) {
                return;
            }
        }
    }

    /// Table scope: only `html`, `table` and `template` stop the search.
    fn close_in_table_scope(&mut self, names: &[&str]) {
        for at in (0..self.stack.len()).rev() {
            let node = self.stack[at].as_str();
            if names.contains(&node) {
                self.stack.truncate(at);
                return;
            }
            if matches!(node, "html" | "table" | "template") {
                return;
            }
        }
    }

    /// A new `<li>` (or `<dd>`, `<dt>`) closes the open one unless a special element other than
    /// address, div or p is in between.
    fn close_list_item(&mut self, name: &str) {
        let siblings: &[&str] = if name == "li" { &["li"] } else { &["dd", "dt"] };
        for at in (0..self.stack.len()).rev() {
            let node = self.stack[at].as_str();
            if siblings.contains(&node) {
                self.stack.truncate(at);
                return;
            }
            if SPECIAL.contains(&node) && !matches!(node, "address" | "div" | "p") {
                return;
            }
        }
    }
}

struct Tag {
    kind: TagKind,
    /// Byte offset just past the tag.
    end: usize,
}

enum TagKind {
    Start {
        name: String,
        self_closing: bool,
    },
    End {
        name: String,
    },
    /// A comment, doctype, processing instruction or bogus comment: up to the first `>`.
    Other,
    /// The input ends inside the tag.
    Unfinished,
}

/// Reads the tag at `html[start] == '<'` the way the HTML tokenizer does; `None` when the `<` is
/// text.
fn read_tag(html: &str, start: usize) -> Option<Tag> {
    let bytes = html.as_bytes();
    let to_first_gt = |from: usize| match bytes[from..].iter().position(|&b| b == b'>') {
        Some(p) => Tag { kind: TagKind::Other, end: from + p + 1 },
        None => Tag { kind: TagKind::Unfinished, end: bytes.len() },
    };
    let named = |from: usize, end_tag: bool| {
        let (name, after) = tag_name(bytes, from);
        match tag_end(bytes, after) {
            (Some(end), _) if end_tag => Tag { kind: TagKind::End { name }, end },
            (Some(end), self_closing) => Tag { kind: TagKind::Start { name, self_closing }, end },
            (None, _) => Tag { kind: TagKind::Unfinished, end: bytes.len() },
        }
    };
    match *bytes.get(start + 1)? {
        b'!' | b'?' => Some(to_first_gt(start + 1)),
        b'/' => match *bytes.get(start + 2)? {
            c if c.is_ascii_alphabetic() => Some(named(start + 2, true)),
            b'>' => Some(Tag { kind: TagKind::Other, end: start + 3 }),
            _ => Some(to_first_gt(start + 2)),
        },
        c if c.is_ascii_alphabetic() => Some(named(start + 1, false)),
        _ => None,
    }
}

/// The lower-cased name from `from`, up to whitespace, `/` or `>`; and where it stops.
fn tag_name(bytes: &[u8], from: usize) -> (String, usize) {
    let len = bytes[from..]
        .iter()
        .position(|&b| b.is_ascii_whitespace() || b == b'/' || b == b'>')
        .unwrap_or(bytes.len() - from);
    (String::from_utf8_lossy(&bytes[from..from + len]).to_ascii_lowercase(), from + len)
}

/// Past the attributes: the offset after the closing `>` (`None` at end of input) and whether the
/// tag ended with `/>`. Quotes delimit a value only right after `=`, as in the tokenizer.
fn tag_end(bytes: &[u8], from: usize) -> (Option<usize>, bool) {
    let mut i = from;
    let mut slash = false;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => return (Some(i + 1), slash),
            b'/' => slash = true,
            b'=' => {
                slash = false;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(&q @ (b'"' | b'\'')) => match bytes[i + 1..].iter().position(|&b| b == q) {
                        Some(p) => i += p + 1,
                        None => return (None, false),
                    },
                    // An unquoted value: up to whitespace or `>`.
                    Some(_) => {
                        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
                            i += 1;
                        }
                        continue;
                    }
                    None => return (None, false),
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => slash = false,
        }
        i += 1;
    }
    (None, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn depth_of(html: &str) -> usize {
        // Well-formed output of the sanitiser: a plain count of open tags is its depth.
        let (mut depth, mut max) = (0usize, 0usize);
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            if rest.starts_with('/') {
                depth = depth.saturating_sub(1);
            } else if !rest.starts_with("br") && !rest.starts_with("hr") {
                depth += 1;
                max = max.max(depth);
            }
        }
        max
    }

    #[test]
    fn ordinary_html_passes_unchanged() {
        let html = "<p>Hi <b>there</b><br> <a href=\"x>y\">link</a></p><!-- c --><ul><li>a<li>b</ul><p>one<p>two";
        assert!(matches!(limit_nesting(html), Cow::Borrowed(_)));
        let sloppy: String = (0..500).map(|i| format!("<p>para {i}<li>item")).collect();
        assert!(matches!(limit_nesting(&sloppy), Cow::Borrowed(_)), "implied end tags are understood");
        let tables: String = (0..500).map(|i| format!("<table><tr><td>{i}<td>x</table>")).collect();
        assert!(matches!(limit_nesting(&tables), Cow::Borrowed(_)));
    }

    #[test]
    fn deep_nesting_is_flattened_and_the_text_kept() {
        let html = format!("{}deep{}", "<div>".repeat(1000), "</div>".repeat(1000));
        let flat = limit_nesting(&html);
        assert_eq!(flat.matches("<div>").count(), MAX_NESTING);
        assert_eq!(flat.matches("</div>").count(), MAX_NESTING);
        assert!(flat.contains("deep"));
    }

    /// Each shape nests deeply in the parser while a naive count of tags stays flat; all must
    /// sanitise in a moment.
    #[test]
    fn tricks_that_hide_depth_from_a_naive_count_are_bounded() {
        let n = 20_000;
        let tricks = [
            "<div><table></div></table>",
            "<form><div></form>",
            "<td><div></td>",
            "<body><div></body>",
            "<a \"<div>\">",
            "<script><!--</script><div>-->",
            "<svg><p><path/>",
            "<div/>",
            "<b x=1><i x=2><p></p>",
            "<span><div></span>",
            "<li><div></li>",
            "<div><b x=1><table></b></table></div>x",
        ];
        for trick in tricks {
            let html = trick.repeat(n);
            let started = Instant::now();
            let clean = crate::content::html::sanitize(&html);
            let took = started.elapsed();
            assert!(took < Duration::from_secs(3), "{trick}: {took:?}");
            assert!(depth_of(&clean) <= 2 * MAX_NESTING, "{trick}: depth {}", depth_of(&clean));
        }
    }
}
