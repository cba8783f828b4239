//! The nesting bound, checked before roxmltree sees the text: its parser
//! recurses per open element, so 30 000 nested `<a>` in a quarter of a
//! megabyte overflow a thread's stack. The subset is 4 levels deep; a
//! document deeper than [`MAX_DEPTH`] is refused at the element that goes
//! past it.

/// The deepest nesting read (the subset needs 4).
pub const MAX_DEPTH: usize = 16;

/// The byte offset of the first start tag nested deeper than
/// [`MAX_DEPTH`], if any. An upper bound of the real depth for
/// well-formed XML: comments, CDATA, processing instructions and
/// declarations are skipped, quoted attribute values may hold `>`.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &b[i..];
        let skip_to = |end: &[u8]| find(b, i + 2, end).unwrap_or(b.len());
        if rest.starts_with(b"<!--") {
            i = skip_to(b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(b"?>");
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") {
            if rest.starts_with(b"</") {
                depth = depth.saturating_sub(1);
            }
            i = skip_to(b">");
        } else {
            let start = i;
            let mut quote = None;
            let mut j = i + 1;
            while j < b.len() {
                match (quote, b[j]) {
                    (None, b'"' | b'\'') => quote = Some(b[j]),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if b.get(j.wrapping_sub(1)) != Some(&b'/') {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(start);
                }
            }
            i = j + 1;
        }
    }
    None
}

/// Where `end` starts in `b` at or after `from`, plus its length.
fn find(b: &[u8], from: usize, end: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(end.len())
        .position(|w| w == end)
        .map(|p| from + p + end.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_open_elements_only() {
        let ok = format!(
            "{}{}",
            "<a x='>'>".repeat(MAX_DEPTH),
            "</a>".repeat(MAX_DEPTH)
        );
        assert_eq!(too_deep(&ok), None);
        let flat = "<a/><!-- <b><b><b> --><![CDATA[<c><c>]]><?p <d>?>".repeat(100);
        assert_eq!(too_deep(&flat), None);
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(too_deep(&deep), Some(3 * MAX_DEPTH));
    }
}
