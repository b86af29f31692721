//! Header values of adversarial shape for the redaction cost bound (issue #13): each one is the
//! worst case of some scanner (digit runs for the card scanner, `@` runs for the email scanner,
//! `=`/`&` runs for the query rules, `%` escapes for the decoders), next to plain letters, the
//! baseline. Every scanner is one pass, so no shape may cost more than 2x the letters.
//!
//! Used by the criterion group `redaction_60k` (natively) and by `cargo xtask cost --shapes`
//! (guest instructions in the module), which includes this file by path.

/// The length of each value: the size Envoy's default `max_request_headers_kb` allows.
pub const LEN: usize = 60 * 1024;

/// Each shape's name and the unit repeated to fill it; letters first.
pub const SHAPES: [(&str, &str); 9] = [
    ("letters", "abcdefghijklmnopqrstuvwxyz"),
    ("digit_run", "8395102746"),
    ("digits_spaced", "7 "),
    ("digit_groups_spaced", "8395 1027 "),
    ("at_run", "@"),
    ("local_at", "a@"),
    ("eq_amp", "a=b&"),
    ("eq_amp_runs", "==&&"),
    ("percent_escapes", "%40%20%41"),
];

/// `unit` repeated to exactly `len` bytes (the units are ASCII).
pub fn fill(unit: &str, len: usize) -> String {
    unit.chars().cycle().take(len).collect()
}
