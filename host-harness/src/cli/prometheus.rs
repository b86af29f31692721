//! Reading back the Prometheus text the registry renders, for the structured metrics of the JSON
//! report. Reading the rendered text (not the registry) keeps the report equal to what a scrape of
//! Envoy's `/stats/prometheus` would see.

use serde::Serialize;

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    pub name: String,
    /// The family's `# TYPE`, when the text declares one.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Labels in their order.
    #[serde(serialize_with = "super::report::ordered_map")]
    pub labels: Labels,
    /// The value: a number, or the text (`NaN`, `+Inf`) when it is not a finite number.
    pub value: serde_json::Value,
}

/// Label pairs, in order.
pub type Labels = Vec<(String, String)>;

/// Every sample of an exposition, in order; lines it cannot read are skipped.
pub fn samples(text: &str) -> Vec<Sample> {
    let mut types: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            if let (Some("TYPE"), Some(name), Some(kind)) = (words.next(), words.next(), words.next()) {
                types.push((name.to_owned(), kind.to_owned()));
            }
            continue;
        }
        let Some((name, labels, value)) = split(line) else { continue };
        let kind = types
            .iter()
            .rev()
            .find(|(family, _)| {
                name == family
                    || name.strip_prefix(family.as_str()).is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))
            })
            .map(|(_, kind)| kind.clone());
        let value = match value.parse::<f64>() {
            Ok(v) if v.is_finite() => serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, |n| {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    serde_json::Value::from(v as i64)
                } else {
                    serde_json::Value::Number(n)
                }
            }),
            _ => serde_json::Value::String(value.to_owned()),
        };
        out.push(Sample { name: name.to_owned(), kind, labels, value });
    }
    out
}

/// Splits a sample line into its name, labels and value text.
fn split(line: &str) -> Option<(&str, Labels, &str)> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let (name, mut rest) = line.split_at(name_end);
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = label_set(inner)?;
        labels = parsed;
        rest = after;
    }
    // A timestamp may follow the value.
    let value = rest.split_whitespace().next()?;
    Some((name, labels, value))
}

/// `k="v",k2="v2"}` → the labels and what follows the `}`.
fn label_set(mut text: &str) -> Option<(Labels, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = text.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim().to_owned(), value));
        text = after.get(end + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_types_labels_and_escapes() {
        let text = "# TYPE a_total counter\na_total{} 3\n# TYPE h histogram\n\
                    h_bucket{le=\"0.5\",route=\"/a \\\"b\\\", c\"} 1\nh_sum 0.25\nh_count 1 1700000000\nbad\n";
        let s = samples(text);
        assert_eq!(s.len(), 4);
        assert_eq!(
            (s[0].name.as_str(), s[0].kind.as_deref(), &s[0].value),
            ("a_total", Some("counter"), &serde_json::json!(3))
        );
        assert_eq!(s[1].labels, vec![("le".into(), "0.5".into()), ("route".into(), "/a \"b\", c".into())]);
        assert_eq!((s[2].kind.as_deref(), &s[2].value), (Some("histogram"), &serde_json::json!(0.25)));
        assert_eq!(s[3].value, serde_json::json!(1));
    }
}
