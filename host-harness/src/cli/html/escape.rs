//! Escaping for HTML text and attribute values. Every value the report shows came from the
//! replayed traffic (paths, headers, labels, log fields), so every one passes through [`Esc`]:
//! `&`, `<`, `>`, `"` and `'` become character references, which is enough inside element text
//! and inside quoted attribute values. Nothing from the traffic goes into the inline script.

use std::fmt;

/// Text or an attribute value, escaped as it is formatted: `write!(out, "{}", Esc(value))`.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            let (plain, tail) = rest.split_at(at);
            f.write_str(plain)?;
            let mut chars = tail.chars();
            f.write_str(match chars.next() {
                Some('&') => "&amp;",
                Some('<') => "&lt;",
                Some('>') => "&gt;",
                Some('"') => "&quot;",
                _ => "&#39;",
            })?;
            rest = chars.as_str();
        }
        f.write_str(rest)
    }
}

/// At most `max` characters of `text`, with `…` when cut: the report shows bounded samples.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_special_character_is_escaped() {
        assert_eq!(Esc("<script>alert(1)</script>").to_string(), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(
            Esc("\"><img src=x onerror='a&b'>").to_string(),
            "&quot;&gt;&lt;img src=x onerror=&#39;a&amp;b&#39;&gt;"
        );
        assert_eq!(Esc("plain é ü").to_string(), "plain é ü");
        assert_eq!(Esc("").to_string(), "");
    }

    #[test]
    fn clipping_counts_characters() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ééé", 3), "ééé");
        assert_eq!(clip("éééé", 2), "éé…");
    }
}
