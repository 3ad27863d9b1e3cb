//! The nesting pass against what the HTML parser and the sanitiser make of the same input.

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
