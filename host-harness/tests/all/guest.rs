//! Small proxy-wasm guests written in WAT, for the per-ABI-area tests.
//!
//! [`wat`] wraps a body of WAT functions in a module that has what every proxy-wasm guest needs:
//! `memory`, the `proxy_abi_version_0_2_1` marker, a bump allocator exported as
//! `proxy_on_memory_allocate`, every `env` host function of ABI 0.2.1 imported under its own name
//! (`$proxy_log`, `$proxy_http_call`, ...) with its exact signature, and the WASI functions
//! `$fd_write`, `$random_get`, `$clock_time_get`, `$environ_sizes_get`, `$environ_get`. The body
//! exports the callbacks it needs.
//!
//! Two shorthands keep bodies readable; both expand to `(i32.const PTR) (i32.const LEN)` over a
//! data segment placed after 4 KiB:
//! - `(str "text")`: the bytes of a WAT string literal;
//! - `(pairs "k1" "v1" "k2" "v2")`: a serialized header map.
//!
//! Guests report what they saw with the logging helpers below, as `label=value` lines the tests
//! read back with [`logged`] and [`one`]:
//! - `$log (ptr len)`: one line at info;
//! - `$log_i32 (label len value)`, `$log_i64 (label len value)`: `label=<signed decimal>`;
//! - `$log_str (label len ptr size)`: `label=<bytes>`; `$log_ret (label len)` logs the bytes the
//!   host returned through the return slots;
//! - `$log_hex (label len ptr size)`: `label=<lowercase hex>`.
//!
//! Return slots for hostcall outputs: `16` (pointer), `20` (size), `24` (u32: ids, tokens, CAS,
//! levels), `32` (u64: times, metric values); read them with `$ret_ptr`, `$ret_size`, `$ret_u32`,
//! `$ret_u64`. Hostcall wrappers that use the slots: `$get_header (map key len) -> status`,
//! `$get_buffer (type start max) -> status`, `$get_property (path len) -> status`. `$bump` is the
//! allocator itself, for the guest's own scratch space.

use host_harness::{CompileOptions, Error, Host, Module};

/// How the boilerplate around a body is built; [`Parts::default`] is a well-formed 0.2.1 guest.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The ABI marker export (`None`: no marker at all).
    pub abi_export: Option<&'static str>,
    /// The name the allocator is exported under.
    pub allocator_export: &'static str,
    /// WAT instructions run at the start of every allocation the host asks for.
    pub allocator_prologue: &'static str,
}

impl Default for Parts {
    fn default() -> Self {
        Self {
            abi_export: Some("proxy_abi_version_0_2_1"),
            allocator_export: "proxy_on_memory_allocate",
            allocator_prologue: "",
        }
    }
}

/// Where `(str ...)` and `(pairs ...)` data starts.
const DATA_START: usize = 4096;
/// Where the heap starts (the data area ends here).
const HEAP_START: usize = 65536;

/// Every `env` function of ABI 0.2.1, with the spec's signature.
const IMPORTS: &str = r#"
  (import "env" "proxy_done" (func $proxy_done (result i32)))
  (import "env" "proxy_set_effective_context" (func $proxy_set_effective_context (param i32) (result i32)))
  (import "env" "proxy_log" (func $proxy_log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_log_level" (func $proxy_get_log_level (param i32) (result i32)))
  (import "env" "proxy_get_current_time_nanoseconds" (func $proxy_get_current_time_nanoseconds (param i32) (result i32)))
  (import "env" "proxy_set_tick_period_milliseconds" (func $proxy_set_tick_period_milliseconds (param i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $proxy_get_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $proxy_set_buffer_bytes (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_status" (func $proxy_get_buffer_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_size" (func $proxy_get_header_map_size (param i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_pairs" (func $proxy_get_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_set_header_map_pairs" (func $proxy_set_header_map_pairs (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $proxy_get_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_add_header_map_value" (func $proxy_add_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $proxy_replace_header_map_value (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $proxy_remove_header_map_value (param i32 i32 i32) (result i32)))
  (import "env" "proxy_continue_stream" (func $proxy_continue_stream (param i32) (result i32)))
  (import "env" "proxy_close_stream" (func $proxy_close_stream (param i32) (result i32)))
  (import "env" "proxy_get_status" (func $proxy_get_status (param i32 i32 i32) (result i32)))
  (import "env" "proxy_send_local_response" (func $proxy_send_local_response (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_http_call" (func $proxy_http_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_call" (func $proxy_grpc_call (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_stream" (func $proxy_grpc_stream (param i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_send" (func $proxy_grpc_send (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_grpc_cancel" (func $proxy_grpc_cancel (param i32) (result i32)))
  (import "env" "proxy_grpc_close" (func $proxy_grpc_close (param i32) (result i32)))
  (import "env" "proxy_set_shared_data" (func $proxy_set_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_shared_data" (func $proxy_get_shared_data (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_register_shared_queue" (func $proxy_register_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_resolve_shared_queue" (func $proxy_resolve_shared_queue (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_enqueue_shared_queue" (func $proxy_enqueue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_dequeue_shared_queue" (func $proxy_dequeue_shared_queue (param i32 i32 i32) (result i32)))
  (import "env" "proxy_define_metric" (func $proxy_define_metric (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_record_metric" (func $proxy_record_metric (param i32 i64) (result i32)))
  (import "env" "proxy_increment_metric" (func $proxy_increment_metric (param i32 i64) (result i32)))
  (import "env" "proxy_get_metric" (func $proxy_get_metric (param i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $proxy_get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_property" (func $proxy_set_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_call_foreign_function" (func $proxy_call_foreign_function (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
"#;

/// The allocator and the helpers every body may call.
const HELPERS: &str = r#"
  (memory (export "memory") 2)
  (global $heap (mut i32) (i32.const 65536))

  ;; Bump allocation, 8-byte aligned, growing memory as needed; 0 when memory cannot grow.
  (func $bump (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.and (i32.add (i32.add (local.get $ptr) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func $ret_ptr (result i32) (i32.load (i32.const 16)))
  (func $ret_size (result i32) (i32.load (i32.const 20)))
  (func $ret_u32 (result i32) (i32.load (i32.const 24)))
  (func $ret_u64 (result i64) (i64.load (i32.const 32)))

  (func $get_header (param $map i32) (param $key i32) (param $len i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (call $proxy_get_header_map_value (local.get $map) (local.get $key) (local.get $len) (i32.const 16) (i32.const 20)))

  (func $get_buffer (param $type i32) (param $start i32) (param $max i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (call $proxy_get_buffer_bytes (local.get $type) (local.get $start) (local.get $max) (i32.const 16) (i32.const 20)))

  (func $get_property (param $path i32) (param $len i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0))
    (i32.store (i32.const 20) (i32.const 0))
    (call $proxy_get_property (local.get $path) (local.get $len) (i32.const 16) (i32.const 20)))

  (func $copy (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $len))
    (i32.add (local.get $dst) (local.get $len)))

  ;; Writes the signed decimal of $n at $dst (digits are built in scratch 64..96); returns the end.
  (func $itoa (param $dst i32) (param $n i64) (result i32)
    (local $u i64) (local $p i32)
    (local.set $u (local.get $n))
    (if (i64.lt_s (local.get $n) (i64.const 0))
      (then
        (i32.store8 (local.get $dst) (i32.const 45))
        (local.set $dst (i32.add (local.get $dst) (i32.const 1)))
        (local.set $u (i64.sub (i64.const 0) (local.get $n)))))
    (local.set $p (i32.const 96))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $u) (i64.const 10)))))
      (local.set $u (i64.div_u (local.get $u) (i64.const 10)))
      (br_if $digits (i64.ne (local.get $u) (i64.const 0))))
    (call $copy (local.get $dst) (local.get $p) (i32.sub (i32.const 96) (local.get $p))))

  (func $log (param $ptr i32) (param $len i32)
    (drop (call $proxy_log (i32.const 2) (local.get $ptr) (local.get $len))))

  ;; Starts a `label=` line in fresh memory with room for $room more bytes; returns its end.
  (func $label (param $label i32) (param $len i32) (param $room i32) (result i32)
    (local $buf i32) (local $end i32)
    (local.set $buf (call $bump (i32.add (i32.add (local.get $len) (local.get $room)) (i32.const 1))))
    (local.set $end (call $copy (local.get $buf) (local.get $label) (local.get $len)))
    (i32.store8 (local.get $end) (i32.const 61))
    (i32.add (local.get $end) (i32.const 1)))

  (func $log_i64 (param $label i32) (param $len i32) (param $n i64)
    (local $start i32)
    (local.set $start (call $label (local.get $label) (local.get $len) (i32.const 24)))
    (call $log
      (i32.sub (local.get $start) (i32.add (local.get $len) (i32.const 1)))
      (i32.add (i32.add (local.get $len) (i32.const 1))
        (i32.sub (call $itoa (local.get $start) (local.get $n)) (local.get $start)))))

  (func $log_i32 (param $label i32) (param $len i32) (param $n i32)
    (call $log_i64 (local.get $label) (local.get $len) (i64.extend_i32_s (local.get $n))))

  (func $log_str (param $label i32) (param $len i32) (param $ptr i32) (param $size i32)
    (local $start i32)
    (local.set $start (call $label (local.get $label) (local.get $len) (local.get $size)))
    (drop (call $copy (local.get $start) (local.get $ptr) (local.get $size)))
    (call $log
      (i32.sub (local.get $start) (i32.add (local.get $len) (i32.const 1)))
      (i32.add (i32.add (local.get $len) (i32.const 1)) (local.get $size))))

  (func $log_ret (param $label i32) (param $len i32)
    (call $log_str (local.get $label) (local.get $len) (call $ret_ptr) (call $ret_size)))

  (func $log_hex (param $label i32) (param $len i32) (param $ptr i32) (param $size i32)
    (local $start i32) (local $i i32) (local $b i32)
    (local.set $start (call $label (local.get $label) (local.get $len) (i32.shl (local.get $size) (i32.const 1))))
    (block $done
      (loop $bytes
        (br_if $done (i32.ge_u (local.get $i) (local.get $size)))
        (local.set $b (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (i32.store8 (i32.add (local.get $start) (i32.shl (local.get $i) (i32.const 1)))
          (call $hex_digit (i32.shr_u (local.get $b) (i32.const 4))))
        (i32.store8 (i32.add (i32.add (local.get $start) (i32.shl (local.get $i) (i32.const 1))) (i32.const 1))
          (call $hex_digit (i32.and (local.get $b) (i32.const 15))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $bytes)))
    (call $log
      (i32.sub (local.get $start) (i32.add (local.get $len) (i32.const 1)))
      (i32.add (i32.add (local.get $len) (i32.const 1)) (i32.shl (local.get $size) (i32.const 1)))))

  (func $hex_digit (param $d i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $d) (i32.const 10))
      (then (i32.add (i32.const 48) (local.get $d)))
      (else (i32.add (i32.const 87) (local.get $d)))))
"#;

/// A complete module: the boilerplate of [`Parts::default`] around `body`.
pub fn wat(body: &str) -> String {
    wat_with(Parts::default(), body)
}

/// A complete module with chosen boilerplate around `body`.
pub fn wat_with(parts: Parts, body: &str) -> String {
    let abi = parts.abi_export.map(|name| format!("  (func (export \"{name}\"))\n")).unwrap_or_default();
    let allocator = format!(
        "  (func (export \"{}\") (param $size i32) (result i32)\n    {}\n    (call $bump (local.get $size)))\n",
        parts.allocator_export, parts.allocator_prologue
    );
    let (code, data) = expand(&format!("{allocator}{body}"));
    format!("(module\n{IMPORTS}{HELPERS}{abi}{code}\n{data})\n")
}

/// Compiles `body` in the default boilerplate.
pub fn module(body: &str) -> Module {
    compile(&wat(body), CompileOptions::default()).unwrap_or_else(|e| panic!("guest does not compile: {e}"))
}

/// Compiles a complete WAT module.
pub fn compile(text: &str, options: CompileOptions) -> Result<Module, Error> {
    let bytes = wat::parse_str(text).unwrap_or_else(|e| panic!("invalid WAT: {e}\n{text}"));
    Module::with_options(&bytes, options)
}

/// A host for `body` with default settings, started.
pub fn host(body: &str) -> Host {
    Host::builder(&module(body)).build().unwrap_or_else(|e| panic!("the host does not start: {e}"))
}

/// Every value the guest logged as `label=value`, in order.
pub fn logged(host: &Host, label: &str) -> Vec<String> {
    let prefix = format!("{label}=");
    host.logs().iter().filter_map(|l| l.message.strip_prefix(&prefix).map(str::to_owned)).collect()
}

/// The one value the guest logged as `label=value`.
pub fn one(host: &Host, label: &str) -> String {
    match logged(host, label).as_slice() {
        [value] => value.clone(),
        values => panic!("expected one `{label}=` line, got {values:?}; all logs: {:#?}", host.logs()),
    }
}

/// Replaces `(str "..")` and `(pairs "..." ...)` with pointer/length constants; returns the body
/// and the data segments.
fn expand(body: &str) -> (String, String) {
    let mut out = String::with_capacity(body.len());
    let mut data = String::new();
    let mut next = DATA_START;
    let mut rest = body;
    loop {
        let str_at = rest.find("(str \"");
        let pairs_at = ["(pairs \"", "(pairs)"].iter().filter_map(|p| rest.find(p)).min();
        let (at, is_pairs) = match (str_at, pairs_at) {
            (Some(s), Some(p)) if p < s => (p, true),
            (Some(s), _) => (s, false),
            (None, Some(p)) => (p, true),
            (None, None) => break,
        };
        out.push_str(&rest[..at]);
        let open = if is_pairs { "(pairs" } else { "(str " };
        let mut cursor = &rest[at + open.len()..];
        let mut literals = Vec::new();
        loop {
            cursor = cursor.trim_start();
            if let Some(after) = cursor.strip_prefix(')') {
                cursor = after;
                break;
            }
            let (raw, after) = literal(cursor);
            literals.push(raw);
            cursor = after;
        }
        let bytes = if is_pairs {
            let decoded: Vec<Vec<u8>> = literals.iter().map(|l| unescape(l)).collect();
            assert!(decoded.len().is_multiple_of(2), "(pairs ...) needs an even number of strings");
            let pairs: Vec<(&[u8], &[u8])> = decoded.chunks(2).map(|c| (c[0].as_slice(), c[1].as_slice())).collect();
            host_harness::pairs::encode(&pairs)
        } else {
            assert_eq!(literals.len(), 1, "(str ...) takes one string");
            unescape(literals[0])
        };
        let escaped: String = bytes.iter().map(|b| format!("\\{b:02x}")).collect();
        data.push_str(&format!("  (data (i32.const {next}) \"{escaped}\")\n"));
        out.push_str(&format!("(i32.const {next}) (i32.const {})", bytes.len()));
        next = (next + bytes.len() + 8) & !7;
        assert!(next < HEAP_START, "guest data does not fit below the heap");
        rest = cursor;
    }
    out.push_str(rest);
    (out, data)
}

/// Splits a leading WAT string literal off `s`: (its raw contents, the rest).
fn literal(s: &str) -> (&str, &str) {
    let inner = s.strip_prefix('"').unwrap_or_else(|| panic!("expected a string literal at {s:.40}"));
    let bytes = inner.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return (&inner[..i], &inner[i + 1..]),
            _ => i += 1,
        }
    }
    panic!("unterminated string literal at {s:.40}");
}

/// The bytes of a WAT string literal's contents (`\n`, `\t`, `\\`, `\"`, `\'`, `\hh`).
fn unescape(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escaped = bytes[i + 1];
        match escaped {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' | b'"' | b'\'' => out.push(escaped),
            _ => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 1;
            }
        }
        i += 2;
    }
    out
}

/// A guest body that remembers each stream in `on_request_headers` (returning `headers_action`:
/// 0 Continue, 1 Pause), sets a tick of `tick_ms`, and runs `tick_body` on the next tick with
/// `$stream` holding the remembered context id (then forgets it). The pattern of filters that
/// hold a request and finish it later, from the root context.
pub fn on_tick_with_stream(tick_ms: u32, headers_action: u32, tick_body: &str) -> String {
    format!(
        r#"
  (global $stream (mut i32) (i32.const 0))
  (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
    (drop (call $proxy_set_tick_period_milliseconds (i32.const {tick_ms})))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (global.set $stream (local.get $ctx))
    (i32.const {headers_action}))
  (func (export "proxy_on_tick") (param $root i32)
    (if (i32.eqz (global.get $stream)) (then (return)))
{tick_body}
    (global.set $stream (i32.const 0)))
"#
    )
}
