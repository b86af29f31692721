//! `query_hash`: an HMAC under a key from the configuration or the VM environment, or without a
//! key a hash of the redacted query; equal queries hash equal, the key is never shown.

use serde_json::Value;

use super::super::Pipeline;
use super::super::fake::{FakeHost, Reply};
use super::START;
use crate::access_log::sha256::{HmacKey, hmac_short_hex, short_hex};

const KEY: &str = "k3y-0f-the-query-hash-1234";
const OTHER_KEY: &str = "another-key-of-32-bytes-00000000";
const REPLY: Reply<'static> =
    Reply { headers: &[(":status", "200")], body: b"", from_upstream: true, latency_nanos: 1_000_000 };

fn host_with_env(env: &[(&str, &str)]) -> FakeHost {
    let mut host = FakeHost::new(START, [8; 32]);
    host.env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    host
}

/// The `query_hash` of one request to `path` (`None` when the line has none).
fn hash_of(pipeline: &mut Pipeline, host: &FakeHost, path: &str) -> Option<String> {
    let request = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "meshlens.test")];
    host.exchange(pipeline, &request, b"", &REPLY);
    let line: Value = serde_json::from_str(&host.logs.borrow().last().unwrap().1).unwrap();
    line["query_hash"].as_str().map(str::to_owned)
}

fn configure(json: &str, host: &FakeHost) -> Pipeline {
    Pipeline::configure(json.as_bytes(), host).unwrap()
}

#[test]
fn without_a_key_the_hash_is_of_the_redacted_query() {
    let host = host_with_env(&[]);
    // No span: its `url.query` would count the redaction it shows.
    let mut p = configure(r#"{"tracing": {"enabled": false}}"#, &host);
    let hunter2 = hash_of(&mut p, &host, "/login?user=ann&password=hunter2").unwrap();
    let letmein = hash_of(&mut p, &host, "/login?user=ann&password=letmein").unwrap();
    assert_eq!(hunter2, letmein, "the secret's value is not in what is hashed");
    assert_eq!(hunter2, short_hex(b"user=ann&password=[REDACTED]"));
    assert_ne!(hunter2, short_hex(b"user=ann&password=hunter2"), "no dictionary of secrets reverses it");
    // Everything the policy keeps still tells queries apart, and equal queries hash equal.
    let bob = hash_of(&mut p, &host, "/login?user=bob&password=hunter2").unwrap();
    assert_ne!(hunter2, bob);
    assert_eq!(hash_of(&mut p, &host, "/q?id=7"), hash_of(&mut p, &host, "/q?id=7"));
    assert_eq!(hash_of(&mut p, &host, "/q"), None, "no query, no field");
    assert_eq!(hash_of(&mut p, &host, "/q?"), None);
    assert!(host.env_reads.borrow().is_empty(), "no key configured: the environment is not read");
    // Hashing is not a redaction in the output: the counters are unchanged.
    host.tick(&mut p, 2_000_000_000);
    assert!(host.metrics.borrow().iter().all(|(name, _, v)| !name.contains("redactions") || *v == 0));
}

#[test]
fn a_key_from_the_vm_environment_is_read_once_and_keys_the_hash() {
    let host = host_with_env(&[("MESHLENS_QUERY_HASH_KEY", KEY)]);
    let mut p = configure(r#"{"access_log": {"query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}}}"#, &host);
    assert_eq!(*host.env_reads.borrow(), ["MESHLENS_QUERY_HASH_KEY"]);
    let a = hash_of(&mut p, &host, "/api/v1/query?q=select+1").unwrap();
    let b = hash_of(&mut p, &host, "/api/v1/query?q=select+1").unwrap();
    assert_eq!(a, b, "equal queries give equal hashes under one key");
    assert_eq!(a, hmac_short_hex(&HmacKey::new(KEY.as_bytes()), b"q=select+1"));
    assert_eq!(a.len(), 16);
    assert_ne!(a, short_hex(b"q=select+1"));
    assert_ne!(a, hash_of(&mut p, &host, "/api/v1/query?q=select+2").unwrap());
    assert_eq!(host.env_reads.borrow().len(), 1, "read at configure time, never per request");
}

#[test]
fn different_keys_give_different_hashes_and_an_inline_key_equals_the_same_key_from_env() {
    let host = host_with_env(&[("K", KEY)]);
    let mut from_env = configure(r#"{"access_log": {"query_hash": {"key_env": "K"}}}"#, &host);
    let mut inline = configure(&format!(r#"{{"access_log": {{"query_hash": {{"key": "{KEY}"}}}}}}"#), &host);
    let mut other = configure(&format!(r#"{{"access_log": {{"query_hash": {{"key": "{OTHER_KEY}"}}}}}}"#), &host);
    let path = "/api/v1/query?q=select+1";
    let h = hash_of(&mut from_env, &host, path).unwrap();
    assert_eq!(h, hash_of(&mut inline, &host, path).unwrap());
    assert_ne!(h, hash_of(&mut other, &host, path).unwrap());
}

#[test]
fn the_key_appears_in_no_output() {
    let host = host_with_env(&[("MESHLENS_QUERY_HASH_KEY", KEY)]);
    let json = r#"{"access_log": {"sinks": ["proxy_log", "otlp"], "query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}},
                   "tracing": {"sampling": {"ratio": 1.0}}}"#;
    let mut p = configure(json, &host);
    // A query to hash, shown redacted in the span's `url.query`, and a user agent.
    let request = [(":method", "GET"), (":path", "/q?k=1&password=2"), ("user-agent", "curl/8")];
    host.exchange(&mut p, &request, b"", &REPLY);
    host.tick(&mut p, 2_000_000_000);
    let debug = format!("{:?}", p.config);
    assert!(!debug.contains(KEY), "the configuration's Debug hides the key");
    for line in host.logs.borrow().iter() {
        assert!(!line.1.contains(KEY), "{}", line.1);
    }
    for call in host.calls.borrow().iter() {
        assert!(!String::from_utf8_lossy(&call.body).contains(KEY));
        assert!(call.headers.iter().all(|(k, v)| !k.contains(KEY) && !v.contains(KEY)));
    }
    assert!(host.metrics.borrow().iter().all(|(name, _, _)| !name.contains(KEY)));
}

#[test]
fn a_missing_or_short_key_fails_configuration_naming_the_field() {
    let host = host_with_env(&[("SHORT", "only-15-bytes..")]);
    let error = |json: &str| Pipeline::configure(json.as_bytes(), &host).err().unwrap().line;
    let missing = error(r#"{"access_log": {"query_hash": {"key_env": "MESHLENS_QUERY_HASH_KEY"}}}"#);
    assert!(missing.contains("access_log.query_hash.key_env: `MESHLENS_QUERY_HASH_KEY` is not set"), "{missing}");
    let short = error(r#"{"access_log": {"query_hash": {"key_env": "SHORT"}}}"#);
    assert!(short.contains("access_log.query_hash.key_env: the key must be at least 16 bytes, got 15"), "{short}");
    assert!(!short.contains("only-15-bytes"), "the message never quotes the key");
}
