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

use std::borrow::Cow;
use std::collections::HashMap;

use elements::{CLOSES_P, FOREIGN_BREAKOUT, FORMATTING, SCOPE_BOUNDARY, SPECIAL, TABLE_PARTS, VOID};
use tag::{TagKind, read_tag};

mod elements;
mod tag;
#[cfg(test)]
mod tests;

/// Open elements (plus formatting elements the parser may reopen) an article may have at once.
pub const MAX_NESTING: usize = 100;

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
