//! The plugin configuration inside an Envoy bootstrap. Used by `meshlens-benches` and, by path,
//! by `cargo xtask cost` (which has no dependency on this crate).

/// The block scalar after the first `value: |` of an Envoy config: the filter's plugin
/// configuration, each line trimmed. `None` when there is none.
pub fn plugin_configuration(yaml: &str) -> Option<String> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != "value: |").skip(1);
    let first = lines.next()?;
    let indent = first.len() - first.trim_start().len();
    let mut out = format!("{}\n", first.trim());
    for line in lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent) {
        out.push_str(line.trim());
        out.push('\n');
    }
    Some(out)
}
