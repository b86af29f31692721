//! Reading Prometheus text exposition (Envoy's `/stats/prometheus`, the harness's rendering of
//! it) for what a scraper sees: the label names of every series.

use std::collections::{BTreeMap, BTreeSet};

/// The label names of each series, per sample name (`meshlens_x_total`, `meshlens_y_bucket`),
/// sorted. A label with an empty value counts as absent, as it does in Prometheus.
pub fn label_names(text: &str) -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..end];
        let names = if line[end..].starts_with('{') { labels(&line[end + 1..], line) } else { Vec::new() };
        out.entry(name.to_owned()).or_default().insert(names);
    }
    out
}

/// The sample names starting with one of `prefixes` whose series do not all carry the same label
/// names, each with its label-name sets: `meshlens_x_total: [] [signal]`.
pub fn mixed_label_sets(text: &str, prefixes: &[&str]) -> Vec<String> {
    label_names(text)
        .into_iter()
        .filter(|(name, sets)| prefixes.iter().any(|p| name.starts_with(p)) && sets.len() > 1)
        .map(|(name, sets)| {
            let sets: Vec<String> = sets.iter().map(|s| format!("[{}]", s.join(", "))).collect();
            format!("{name}: {}", sets.join(" "))
        })
        .collect()
}

/// The names of the labels in `rest` (the text after `{`), sorted; values may hold any
/// character, escaped quotes included.
fn labels(rest: &str, line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || *c == ' ').is_some() {}
        if chars.next_if_eq(&'}').is_some() {
            break;
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        assert!(chars.next() == Some('=') && chars.next() == Some('"'), "malformed labels: {line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.extend(chars.next()),
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        if !value.is_empty() {
            names.push(name.trim().to_owned());
        }
    }
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_per_sample_name_with_empty_values_absent() {
        let text = "# TYPE a counter\n\
                    a{} 0\n\
                    a{signal=\"logs\"} 1\n\
                    b{route=\"/users/{id}\",q=\"x,\\\"y=\\\"\"} 2\n\
                    b{q=\"z\",route=\"\"} 3\n\
                    c 4\n";
        let names = label_names(text);
        assert_eq!(names["a"], BTreeSet::from([vec![], vec!["signal".to_owned()]]));
        assert_eq!(names["b"], BTreeSet::from([vec!["q".to_owned(), "route".to_owned()], vec!["q".to_owned()]]));
        assert_eq!(names["c"], BTreeSet::from([vec![]]));
        assert_eq!(mixed_label_sets(text, &["a", "c"]), ["a: [] [signal]"]);
    }
}
