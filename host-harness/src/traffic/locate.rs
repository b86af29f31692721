//! Where a field is on its line: schema errors name a dotted path (`response.status`,
//! `headers[1]`, `properties.metadata.ns`); this finds the column of that field's value (or of
//! its key, for an unknown field) by walking the line's JSON text again. Only called for an
//! error, on a line that parsed as JSON.

/// One step of a path: an object member or an array element.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The 1-based column (in bytes, as `serde_json` counts) where the value at `path` starts, or its
/// key when `key` is set. `path` is dotted with `[i]` for array elements; the first segment may
/// itself contain dots only if the line has such a key (header names do not).
pub(super) fn column(line: &str, path: &str, key: bool) -> Option<usize> {
    let steps = steps(path);
    if steps.is_empty() {
        return None;
    }
    let mut walker = Walker { text: line.as_bytes(), at: 0 };
    walker.find(&steps, key).map(|at| at + 1)
}

/// `a.b[2].c` as steps.
fn steps(path: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Step::Key(name.to_owned()));
        }
        while let Some((index, after)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Step::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

struct Walker<'a> {
    text: &'a [u8],
    at: usize,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// Finds the value (or key) at `steps` below the value starting here.
    fn find(&mut self, steps: &[Step], key: bool) -> Option<usize> {
        self.skip_ws();
        let Some((first, rest)) = steps.split_first() else { return Some(self.at) };
        match (self.peek()?, first) {
            (b'{', Step::Key(wanted)) => {
                self.at += 1;
                loop {
                    self.skip_ws();
                    if self.peek()? == b'}' {
                        return None;
                    }
                    let key_at = self.at;
                    let name = self.string()?;
                    self.skip_ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.at += 1;
                    if name == *wanted {
                        if rest.is_empty() && key {
                            return Some(key_at);
                        }
                        return self.find(rest, key);
                    }
                    self.skip_value()?;
                    self.skip_ws();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                }
            }
            (b'[', Step::Index(wanted)) => {
                self.at += 1;
                let mut index = 0;
                loop {
                    self.skip_ws();
                    if self.peek()? == b']' {
                        return None;
                    }
                    if index == *wanted {
                        return self.find(rest, key);
                    }
                    self.skip_value()?;
                    self.skip_ws();
                    if self.peek()? == b',' {
                        self.at += 1;
                    }
                    index += 1;
                }
            }
            _ => None,
        }
    }

    /// A JSON string starting here, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        self.skip_string()?;
        let raw = std::str::from_utf8(self.text.get(start..self.at)?).ok()?;
        serde_json::from_str(raw).ok()
    }

    fn skip_string(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                _ => self.at += 1,
            }
        }
    }

    fn skip_value(&mut self) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            b'"' => self.skip_string(),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.at += 1;
                loop {
                    self.skip_ws();
                    match self.peek()? {
                        b if b == close => {
                            self.at += 1;
                            return Some(());
                        }
                        b',' | b':' => self.at += 1,
                        _ => self.skip_value()?,
                    }
                }
            }
            _ => {
                while self.peek().is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
                    self.at += 1;
                }
                Some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_and_keys() {
        let line = r#"{"path": "/", "headers": [["a", "1"], ["b", 2]], "response": {"st\u0061tus": "200"}}"#;
        assert_eq!(column(line, "path", false), Some(10));
        assert_eq!(column(line, "headers[1]", false), Some(39));
        assert_eq!(column(line, "response.status", false), Some(78));
        assert_eq!(column(line, "response.status", true), Some(63));
        assert_eq!(column(line, "response.missing", false), None);
        assert_eq!(column(line, "", false), None);
    }
}
