//! How deep a text nests, found in one linear pass before any recursive parser
//! sees it. GraphQL's parser and serde_json's recurse once per level of braces,
//! brackets and parentheses: a few kilobytes nested a thousand deep overflow a
//! worker's stack and abort the process. Nothing legitimate nests anywhere near
//! `MAX_NESTING` (the deepest dashboard query nests about 8). Both surfaces use it:
//! HTTP on bodies and query strings, GraphQL on every document it is handed.

/// The deepest nesting of `{}`, `[]` and `()` a document, a variables object or a
/// webhook body may have.
pub const MAX_NESTING: usize = 64;

/// What is being scanned: GraphQL has comments and block strings, JSON neither.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    GraphQl,
    Json,
}

/// Refused: nested deeper than the limit.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} is nested more than {limit} levels deep (braces, brackets and parentheses)")]
pub struct TooDeep {
    pub what: &'static str,
    pub limit: usize,
}

/// Checks `text` nests at most `limit` levels, skipping strings (and in GraphQL
/// comments), which may hold any bracket. Stops at the first level too deep.
pub fn check(text: &str, syntax: Syntax, limit: usize, what: &'static str) -> Result<(), TooDeep> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > limit {
                    return Err(TooDeep { what, limit });
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            b'#' if syntax == Syntax::GraphQl => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if syntax == Syntax::GraphQl && bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
        format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
    }

    #[test]
    fn counts_every_kind_of_bracket() {
        let query = format!("{{ __typename(x: {}) }}", nested("{a:", "1", "}", 62));
        assert_eq!(check(&query, Syntax::GraphQl, 64, "the query"), Ok(()));
        let query = format!("{{ __typename(x: {}) }}", nested("{a:", "1", "}", 63));
        assert!(check(&query, Syntax::GraphQl, 64, "the query").is_err());
        let lists = format!("{{ f(x: {}) }}", nested("[", "1", "]", 100));
        assert!(check(&lists, Syntax::GraphQl, 64, "the query").is_err());
        assert!(check(&nested("[", "1", "]", 65), Syntax::Json, 64, "the body").is_err());
        assert!(check(&nested("{a:", "1", "}", 100_000), Syntax::GraphQl, 64, "the query").is_err());
        assert_eq!(check(&nested("[", "1", "]", 64), Syntax::Json, 64, "the body"), Ok(()));
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "{".repeat(1_000);
        let cases = [
            (format!("{{ f(x: \"{deep}\") }}"), Syntax::GraphQl),
            (
                format!("{{ f(x: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }}"),
                Syntax::GraphQl,
            ),
            (format!("{{ f # {deep}\n }}"), Syntax::GraphQl),
            (format!("{{\"q\": \"\\\"{deep}\"}}"), Syntax::Json),
        ];
        for (text, syntax) in cases {
            assert_eq!(check(&text, syntax, 64, "text"), Ok(()), "{text}");
        }
        // In JSON `#` is no comment: the brackets after it count.
        assert!(check(&format!("[\"#\", {}]", nested("[", "", "]", 70)), Syntax::Json, 64, "x").is_err());
    }
}
