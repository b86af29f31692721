//! Reading `stats_config.stats_tags` out of an Envoy bootstrap YAML, so the harness renders
//! metrics with the labels the real Envoy would give them.
//!
//! A small reader for the two shapes a `stats_tags` list takes in practice (flow
//! `- { tag_name: k, regex: "..." }` and block `- tag_name: k` / `regex: ...`), with YAML's
//! double-quoted, single-quoted and plain scalars. It is not a YAML parser: anything else in the
//! file is ignored.

use super::tags::StatsTag;

/// The `stats_tags` of an Envoy bootstrap, in order; an error names the entry it cannot use.
pub fn stats_tags_from_envoy_yaml(text: &str) -> Result<Vec<StatsTag>, String> {
    let mut lines = text.lines().enumerate().skip_while(|(_, l)| l.trim_start() != "stats_tags:");
    let Some((_, header)) = lines.next() else { return Ok(Vec::new()) };
    let indent = indentation(header);
    let mut entries: Vec<(usize, Vec<(String, String)>)> = Vec::new();
    for (n, line) in lines {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if indentation(line) <= indent && !line.trim_start().starts_with('-') {
            break;
        }
        if indentation(line) < indent {
            break;
        }
        let body = line.trim_start();
        if let Some(item) = body.strip_prefix('-') {
            entries.push((n + 1, Vec::new()));
            fields(item.trim(), entries.last_mut().map(|e| &mut e.1));
        } else {
            fields(body, entries.last_mut().map(|e| &mut e.1));
        }
    }
    entries
        .into_iter()
        .map(|(line, fields)| {
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            let name = get("tag_name").ok_or_else(|| format!("line {line}: stats_tags entry without tag_name"))?;
            match (get("regex"), get("fixed_value")) {
                (Some(regex), _) => StatsTag::regex(name, regex).map_err(|e| format!("line {line}: {e}")),
                (None, Some(value)) => Ok(StatsTag::fixed_value(name, value)),
                (None, None) => {
                    Err(format!("line {line}: stats_tags entry `{name}` has neither regex nor fixed_value"))
                }
            }
        })
        .collect()
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Adds the `key: value` pairs of a flow mapping (`{ a: 1, b: "x" }`) or a single block line.
fn fields(text: &str, into: Option<&mut Vec<(String, String)>>) {
    let Some(into) = into else { return };
    let text = text.trim();
    let inner = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(text);
    let mut rest = inner.trim();
    while let Some((key, after)) = rest.split_once(':') {
        let (value, remaining) = scalar(after.trim_start());
        into.push((key.trim().trim_start_matches(',').trim().to_owned(), value));
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
        if rest.is_empty() {
            break;
        }
    }
}

/// One scalar at the start of `text`, and what follows it.
fn scalar(text: &str) -> (String, &str) {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, '"')) => {
            let mut out = String::new();
            let mut escaped = false;
            for (i, c) in chars {
                match (escaped, c) {
                    (true, c) => {
                        out.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        escaped = false;
                    }
                    (false, '\\') => escaped = true,
                    (false, '"') => return (out, text.get(i + 1..).unwrap_or("")),
                    (false, c) => out.push(c),
                }
            }
            (out, "")
        }
        Some((_, '\'')) => {
            let body = text.get(1..).unwrap_or("");
            let mut out = String::new();
            let mut iter = body.char_indices().peekable();
            while let Some((i, c)) = iter.next() {
                if c == '\'' {
                    if iter.peek().is_some_and(|(_, n)| *n == '\'') {
                        iter.next();
                        out.push('\'');
                        continue;
                    }
                    return (out, body.get(i + 1..).unwrap_or(""));
                }
                out.push(c);
            }
            (out, "")
        }
        _ => {
            let end = text.find([',', '}']).unwrap_or(text.len());
            let (value, rest) = text.split_at(end);
            (value.trim().to_owned(), rest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_block_entries_with_every_scalar_style() {
        let yaml = r#"
admin: {}
stats_config:
  stats_tags:
    - { tag_name: method, regex: "(;method=([^;]*))" }
    - tag_name: route
      regex: '(;route=([^;]*))'
    - { tag_name: env, fixed_value: prod }
    # a comment
    - {tag_name: le, regex: "(;le=([^;]*))"}
  use_all_default_tags: true
static_resources: {}
"#;
        let tags = stats_tags_from_envoy_yaml(yaml).unwrap();
        let names: Vec<&str> = tags.iter().map(StatsTag::tag_name).collect();
        assert_eq!(names, ["method", "route", "env", "le"]);
    }

    #[test]
    fn no_stats_config_means_no_tags_and_bad_entries_are_named() {
        assert!(stats_tags_from_envoy_yaml("admin: {}\n").unwrap().is_empty());
        let bad = "stats_tags:\n  - { regex: \"x\" }\n";
        assert_eq!(stats_tags_from_envoy_yaml(bad).unwrap_err(), "line 2: stats_tags entry without tag_name");
    }

    #[test]
    fn double_quoted_escapes() {
        assert_eq!(scalar(r#""a\\.b" rest"#), (String::from(r"a\.b"), " rest"));
        assert_eq!(scalar("'it''s', x"), (String::from("it's"), ", x"));
        assert_eq!(scalar("plain, x"), (String::from("plain"), ", x"));
    }
}
