//! Property paths (spec "Properties": `proxy_get_property`, `proxy_set_property`): a path is a
//! list of segments joined by NUL bytes, `"source\0address"` for `source.address`.

use alloc::string::String;
use core::borrow::Borrow;

/// The byte between two segments of a path.
pub const SEPARATOR: u8 = 0;

/// The path of `segments`, as a guest passes it: `path(&["source", "address"])` is
/// `"source\0address"`.
pub fn path<S: Borrow<str>>(segments: &[S]) -> String {
    segments.join("\0")
}

/// The segments of a path as a host receives it. An empty path is one empty segment, and a
/// trailing NUL gives a trailing empty segment (what to make of it is the host's business).
pub fn segments(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.split(|b| *b == SEPARATOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn paths_join_and_split_at_nul() {
        assert_eq!(path(&["source", "address"]), "source\0address");
        assert_eq!(path::<&str>(&[]), "");
        let split = |p: &'static [u8]| segments(p).collect::<Vec<_>>();
        assert_eq!(split(b"source\0address"), [&b"source"[..], b"address"]);
        assert_eq!(split(b""), [&b""[..]]);
        assert_eq!(split(b"xds\0"), [&b"xds"[..], b""]);
    }
}
