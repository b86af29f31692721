//! JSON, the one codec for it in the crate: reading the configuration and writing OTLP/HTTP JSON
//! payloads and access-log lines.
//!
//! - [`read`]: a pull reader of JSON text (tokens, strings, numbers), with serde_json's accepted
//!   documents, number values and error messages.
//! - [`schema`]: typed reading on top of it: objects whose fields are matched by name, arrays,
//!   maps, enums and untagged values, each error placed at the field's dotted path. The
//!   configuration's schema (`config/parse.rs`) is written with these.
//! - `write`: appending escaped strings and numbers to a `String`, byte-stable and without
//!   intermediate allocations (RFC 8259; proto3 JSON for 64-bit integers and special doubles).
//!
//! Hand-written rather than serde: see `config.rs` for the measurement behind that choice.

pub(crate) mod read;
pub(crate) mod schema;
mod write;

pub(crate) use read::{Content, Reader};
pub(crate) use write::{push_escaped, push_f64, push_i64, push_str, push_u64, push_u64_string};
