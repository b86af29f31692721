//! The JavaScript API: JSON text in, JSON text out (`JSON.parse` the results). The shapes are
//! the TypeScript interfaces below, which wasm-bindgen writes into the generated `.d.ts`.

use wasm_bindgen::prelude::wasm_bindgen;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A header list: `[name, value]` pairs, in order. */
export type HeaderList = [string, string][];

/** The input of `simulate` (every field optional; defaults in brackets). */
export interface SimulateInput {
  /** The plugin configuration as JSON text [defaultConfig()]. */
  config?: string;
  request?: {
    method?: string;        // ["GET"]
    path?: string;          // :path, query included ["/"]
    scheme?: string;        // ["http"]
    authority?: string;     // ["localhost"]
    headers?: HeaderList;   // after :method, :path, :scheme, :authority [[]]
    body_bytes?: number;    // [0; at most 16 MiB]
  };
  response?: {
    status?: number;        // [200]
    headers?: HeaderList;   // after :status [[]]
    body_bytes?: number;    // [0]
    latency_ms?: number;    // request headers to response headers [0]
    from_upstream?: boolean; // false: a reply the proxy generated, nothing sent upstream [true]
    trailers?: HeaderList | null; // [null: none]
  };
  /** Envoy attributes by path ("source.address", "upstream.address", "response.flags",
   *  "response.backend_latency" in ns, ...): a string or an integer. Absent when not listed. */
  properties?: Record<string, string | number>;
  /** The VM environment [{}]. */
  env?: Record<string, string>;
  /** Clock start, ms since the epoch [1767225600000, the harness's 2026-01-01T00:00:00Z]. */
  start_unix_ms?: number;
  /** Random seed [24301 = 0x5eed, the harness's]. */
  seed?: number;
  /** The collector's answer to export calls; null: no answer [200]. */
  collector_status?: number | null;
}

/** Why a configuration was refused. */
export interface ConfigurationError {
  /** The field, e.g. "tracing.sampling.ratio"; "(config)" for the whole document; "" when the host failed. */
  path: string;
  message: string;
  /** Exactly the line the module logs at error level. */
  log: string;
}

/** The result of `validate`. */
export interface Validation {
  ok: boolean;
  error?: ConfigurationError;
}

/** The trace-context decision of the request, and why. */
export interface Decision {
  trace_id: string;
  /** This proxy's (SERVER) span. */
  span_id: string;
  sampled: boolean;
  trace: "continued" | "started" | "restarted";
  /** The format the context came from; null: no valid incoming context. */
  extracted: "tracecontext" | "b3" | "b3multi" | null;
  invalid_context: boolean;
  tracestate: "absent" | "kept" | "dropped_invalid" | "not_continued";
  /** A B3 sampling state sent without ids. */
  sampling_only: boolean | null;
  /** B3 ids without a sampling state: the decision was this hop's. */
  sampling_deferred: boolean;
  edge_policy: "trust" | "restart";
  reason: {
    rule: "route_always" | "route_never" | "parent" | "route_ratio" | "default_ratio";
    /** For route_ratio and default_ratio. */
    ratio?: number;
  };
  /** One sentence: what was decided and why. */
  explanation: string;
}

/** The result of `simulate`. */
export interface SimulateOutput {
  /** The input could not be read: nothing ran. */
  input_error?: string;
  /** The configuration was refused: nothing else ran. */
  config_error?: ConfigurationError;
  /** null without tracing. */
  decision: Decision | null;
  /** null for a reply the proxy generated. */
  upstream_request_headers: HeaderList | null;
  downstream_response_headers: HeaderList;
  /** Exported spans as OTLP JSON span objects (traceId, spanId, parentSpanId, name, kind, times
   *  as strings of ns, attributes, status, links, ...), as the harness decodes them. */
  spans: object[];
  /** The OTLP resource of the spans; null when none was exported. */
  resource: object | null;
  /** The JSON lines written to the proxy log (access lines, security events), exactly. */
  access_log: string[];
  /** Metric series defined or changed: Envoy stat name (labels included), kind, value, change. */
  metrics: { name: string; kind: "counter" | "gauge"; value: number; delta: number }[];
  /** Redactions made, by kind label. */
  redactions: { kind: string; count: number }[];
  /** Every line the module logged. */
  logs: { level: "debug" | "info" | "warn" | "error"; message: string }[];
}

/** A named example exchange (`presets()`): its input has no `config` unless it needs its own. */
export interface Preset {
  id: string;
  name: string;
  description: string;
  input: SimulateInput;
}
"#;

/// Whether the module accepts a configuration (JSON text): a `Validation` as JSON.
#[wasm_bindgen]
pub fn validate(config: &str) -> String {
    crate::validate_json(config)
}

/// One exchange through meshlens: a `SimulateInput` as JSON in, a `SimulateOutput` as JSON out.
#[wasm_bindgen]
pub fn simulate(input: &str) -> String {
    crate::simulate_json(input)
}

/// The playground's (and meshlens's) version.
#[wasm_bindgen]
pub fn version() -> String {
    crate::version().to_owned()
}

/// The request presets: a `Preset[]` as JSON.
#[wasm_bindgen]
pub fn presets() -> String {
    crate::PRESETS.to_owned()
}

/// The default configuration (the Chat2SQL sample), as JSON text.
#[wasm_bindgen(js_name = defaultConfig)]
pub fn default_config() -> String {
    crate::DEFAULT_CONFIG.to_owned()
}
