//! The shipped Promtail pipelines (`envoy-config/promtail/`) turn Envoy's log lines into the
//! meshlens JSON objects, labelled and timestamped as intended.
//!
//! No Promtail binary can run here: Debian has no `promtail` package (its `loki` is an unrelated
//! genetics tool), and neither PyPI nor npm ships Promtail or a validator for its configuration.
//! So the files are parsed with the project venv's Python and PyYAML, and a small emulation of the
//! stages they use (`cri`, `match` with `action: drop`, `regex`, `json`, `labels`, `timestamp`,
//! `output`, and Prometheus-style `relabel_configs` for the Kubernetes target) runs them over
//! sample lines, following Promtail's documented behaviour for each. The emulation refuses any
//! stage or option it does not know, so a config change it cannot follow fails here rather than
//! passing unchecked. Every regex must also stay within the syntax that Go's RE2 (what Promtail
//! runs) and Python's `re` (what runs here) read the same way.
//!
//! Sample lines have the exact shape Envoy 1.40 writes for a wasm log
//! (`[time][tid][level][wasm] [source:line] wasm log <plugin> <root id>: <message>`), the shape
//! of Istio's proxy log format, and objects written by meshlens' own line encoder.

use std::path::Path;
use std::process::{Command, Stdio};

use meshlens_tests::envoy::TempDir;
use meshlens_tests::paths;
use serde_json::{Value as Json, json};
use telemetry_core::access_log::line::encode;
use telemetry_core::access_log::{FieldValue, LogRecord, Severity};
use telemetry_core::ids::{SpanId, TraceId};

const FILE_CONFIG: &str = "envoy-config/promtail/promtail.yaml";
const KUBERNETES_CONFIG: &str = "envoy-config/promtail/promtail-kubernetes.yaml";

/// What Envoy 1.40 prints before a wasm log message of plugin `meshlens`, root id `meshlens`.
const ENVOY_PREFIX: &str = "[2026-11-26 01:17:12.952][7413][info][wasm] [source/extensions/common/wasm/context.cc:1151] wasm log meshlens meshlens: ";

/// An access-log object as meshlens writes it.
const ACCESS_JSON: &str = r#"{"timestamp":"2026-01-01T00:00:00.123Z","level":"info","message":"GET /api/v1/query 200","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","service":"chat2sql","method":"GET","route":"/api/v1/query","path":"/api/v1/query","status":200,"duration_ms":12.5,"request_bytes":0,"response_bytes":1832,"upstream_cluster":"chat2sql_backend","upstream_host":"10.0.3.17:8080","client_address":"203.0.113.7","user_agent":"curl/8.5.0","request_id":"5f0c6e2a-3b1d-4e8f-9a7c-2d4b6e8f0a1c","query_hash":"9f86d081884c7d65"}"#;

/// A security event as meshlens writes it: no trace, an `event_type`.
const SECURITY_JSON: &str = r#"{"timestamp":"2026-01-01T00:00:05.000Z","level":"warn","message":"security event auth_failure_burst","service":"chat2sql","event_type":"auth_failure_burst","client_address":"203.0.113.7","count":20,"window_s":60}"#;

/// 2026-01-01T00:00:00.123Z in Unix nanoseconds.
const ACCESS_TIME: u64 = 1_767_225_600_123_000_000;

#[test]
fn promtail_file_config_scrapes_envoy_log_with_the_pipeline() {
    let run = run(FILE_CONFIG, json!({}), &[]);
    assert_eq!(run["problems"], json!([]), "regexes outside the RE2/Python common syntax");
    let job = &run["config"]["scrape_configs"][0];
    assert_eq!(job["static_configs"][0]["labels"]["job"], "envoy");
    assert_eq!(job["static_configs"][0]["labels"]["__path__"], "/var/log/envoy/envoy.log");
    assert!(run["config"]["clients"][0]["url"].as_str().unwrap().ends_with("/loki/api/v1/push"));

    let stages = job["pipeline_stages"].as_array().unwrap();
    let kinds: Vec<&str> = stages.iter().map(stage_kind).collect();
    assert_eq!(kinds, ["match", "regex", "json", "labels", "timestamp", "output"]);
    assert_eq!(stages[0]["match"]["action"], "drop");
    let expression = stages[1]["regex"]["expression"].as_str().unwrap();
    let without_group = expression.replacen("(?P<meshlens_json>", "", 1);
    let filter = without_group.strip_suffix(')').expect("the capture group ends the expression");
    assert_eq!(
        stages[0]["match"]["selector"],
        format!("{{job=\"envoy\"}} !~ `{filter}`"),
        "the match stage keeps exactly the lines the regex stage can extract from"
    );
    assert_eq!(stages[2]["json"]["source"], "meshlens_json");
    assert_eq!(stages[2]["json"]["drop_malformed"], true);
    assert_eq!(
        stages[3]["labels"],
        json!({"level": "level", "service": "service", "event_type": "event_type"}),
        "labels are level, service and event_type, nothing per-request"
    );
    assert_eq!(stages[4]["timestamp"], json!({"source": "timestamp", "format": "RFC3339Nano"}));
    assert_eq!(stages[5]["output"], json!({"source": "meshlens_json"}));
}

#[test]
fn promtail_kubernetes_config_is_cri_then_the_same_pipeline() {
    let run = run(KUBERNETES_CONFIG, kubernetes_meta(), &[]);
    assert_eq!(run["problems"], json!([]), "regexes outside the RE2/Python common syntax");
    let stages = run["config"]["scrape_configs"][0]["pipeline_stages"].as_array().unwrap();
    assert_eq!(stages[0], json!({"cri": {}}));
    let file = self::run(FILE_CONFIG, json!({}), &[]);
    assert_eq!(stages[1..], file["config"]["scrape_configs"][0]["pipeline_stages"].as_array().unwrap()[..]);

    assert_eq!(
        run["target"],
        json!({
            "__host__": "node-a",
            "__path__": "/var/log/pods/*0f6e3c1a-8d2b-4c5e-9f7a-1b3d5e7f9a0c/istio-proxy/*.log",
            "container": "istio-proxy",
            "job": "envoy",
            "namespace": "chat2sql",
            "pod": "chat2sql-7d9f8b6c5-x2x9q",
        })
    );
    let mut app = kubernetes_meta();
    app["__meta_kubernetes_pod_container_name"] = json!("chat2sql");
    assert_eq!(self::run(KUBERNETES_CONFIG, app, &[])["target"], Json::Null, "only Envoy containers are read");
}

#[test]
fn promtail_parses_an_access_log_line() {
    let result = &file_pipeline(&[format!("{ENVOY_PREFIX}{ACCESS_JSON}")])[0];
    assert_eq!(result["line"], ACCESS_JSON, "Loki stores the object alone");
    assert_eq!(result["labels"], json!({"job": "envoy", "level": "info", "service": "chat2sql"}));
    assert_eq!(result["timestamp_unix_nanos"], ACCESS_TIME);
    let parsed: Json = serde_json::from_str(result["line"].as_str().unwrap()).unwrap();
    assert_eq!(parsed["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(parsed["status"], 200);
}

#[test]
fn promtail_labels_security_events_with_event_type() {
    let result = &file_pipeline(&[format!("{ENVOY_PREFIX}{SECURITY_JSON}")])[0];
    assert_eq!(result["line"], SECURITY_JSON);
    assert_eq!(
        result["labels"],
        json!({"job": "envoy", "level": "warn", "service": "chat2sql", "event_type": "auth_failure_burst"})
    );
    assert_eq!(result["timestamp_unix_nanos"], ACCESS_TIME - 123_000_000 + 5_000_000_000);
}

#[test]
fn promtail_parses_lines_from_the_meshlens_line_encoder() {
    let records = [
        LogRecord {
            time_unix_nanos: ACCESS_TIME + 456_789,
            severity: Severity::Error,
            // Braces, `: {`, quotes and a newline inside strings must not confuse the regex.
            message: "POST /api/v1/query 502 {\"upstream\": \"reset\"}\nwasm log x y: {}".into(),
            trace_id: TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id: SpanId::from_hex("00f067aa0ba902b7"),
            trace_flags: 1,
            fields: vec![
                ("service".into(), FieldValue::Str("chat2sql".into())),
                ("route".into(), FieldValue::Str("/api/v1/{id}".into())),
                ("user_agent".into(), FieldValue::Str("caf\u{e9} \u{1f980} \"agent\" \\ }".into())),
                ("status".into(), FieldValue::Int(502)),
                ("duration_ms".into(), FieldValue::Float(1500.25)),
            ],
        },
        LogRecord {
            time_unix_nanos: ACCESS_TIME,
            severity: Severity::Warn,
            message: "security event".into(),
            trace_id: None,
            span_id: None,
            trace_flags: 0,
            fields: vec![
                ("service".into(), FieldValue::Str("chat2sql".into())),
                ("event_type".into(), FieldValue::Str("rate_limited_burst".into())),
                ("count".into(), FieldValue::Int(50)),
            ],
        },
    ];
    let objects: Vec<String> = records
        .iter()
        .map(|record| {
            let mut out = String::new();
            encode(record, &mut out);
            out
        })
        .collect();
    let lines: Vec<String> = objects.iter().map(|o| format!("{ENVOY_PREFIX}{o}")).collect();
    let results = file_pipeline(&lines);

    assert_eq!(results[0]["line"], objects[0].as_str());
    assert_eq!(results[0]["labels"], json!({"job": "envoy", "level": "error", "service": "chat2sql"}));
    assert_eq!(results[0]["timestamp_unix_nanos"], ACCESS_TIME, "meshlens writes milliseconds");
    assert_eq!(results[1]["line"], objects[1].as_str());
    assert_eq!(
        results[1]["labels"],
        json!({"job": "envoy", "level": "warn", "service": "chat2sql", "event_type": "rate_limited_burst"})
    );
}

#[test]
fn promtail_accepts_every_envoy_and_istio_prefix() {
    let envoy = |names: &str| {
        format!(
            "[2026-11-26 01:17:12.952][7413][info][wasm] [source/extensions/common/wasm/context.cc:1151] wasm log{names}: {ACCESS_JSON}"
        )
    };
    let lines = [
        envoy(" meshlens meshlens"),
        envoy(" meshlens"),
        envoy(" meshlens meshlens edge_vm"),
        // Envoy builds the prefix from whichever of plugin name, root id and vm id are set.
        envoy(""),
        // Some Envoy versions append an empty vm id as a bare space.
        envoy(" meshlens meshlens "),
    ];
    for result in file_pipeline(&lines) {
        assert_eq!(result["line"], ACCESS_JSON, "{result}");
        assert_eq!(result["labels"]["service"], "chat2sql", "{result}");
    }

    // Kubernetes: the kubelet's CRI prefix, then Envoy's or Istio's own format (Istio appends
    // `\tthread=N`).
    let cri = "2026-11-26T01:17:12.952345678Z stderr F ";
    let lines = [
        format!("{cri}{ENVOY_PREFIX}{ACCESS_JSON}"),
        format!(
            "{cri}2026-11-26T01:17:12.952345Z\tinfo\tenvoy wasm external/envoy/source/extensions/common/wasm/context.cc:1151\twasm log istio-system.meshlens meshlens: {ACCESS_JSON}\tthread=31"
        ),
    ];
    let run = run(KUBERNETES_CONFIG, kubernetes_meta(), &lines);
    for result in run["results"].as_array().unwrap() {
        assert_eq!(result["line"], ACCESS_JSON, "{result}");
        assert_eq!(result["labels"]["level"], "info", "{result}");
        assert_eq!(result["labels"]["job"], "envoy", "{result}");
        assert_eq!(result["labels"]["container"], "istio-proxy", "{result}");
        assert_eq!(result["timestamp_unix_nanos"], ACCESS_TIME, "meshlens' time, not the kubelet's: {result}");
    }
}

#[test]
fn promtail_drops_every_other_envoy_line() {
    let lines = [
        "[2026-11-26 01:17:12.901][7413][info][main] [source/server/server.cc:434] initializing epoch 0 (base id=0, hot restart version=11.104)".to_owned(),
        // Captured from Envoy 1.40 loading meshlens: the module's own plain-text line.
        "[2026-11-26 02:33:23.174][8431][info][wasm] [source/extensions/common/wasm/context.cc:1151] wasm log meshlens meshlens: meshlens: configured (root context 1)".to_owned(),
        "[2026-11-26 01:17:13.002][7420][debug][http] [source/common/http/conn_manager_impl.cc:1135] [Tags: \"ConnectionId\":\"3\"] request headers complete (end_stream=true):".to_owned(),
        "[2026-11-26 01:17:13.004][7420][info][wasm] [source/extensions/common/wasm/context.cc:1151] wasm log other_plugin other: {\"truncated\":".to_owned(),
    ];
    for result in file_pipeline(&lines) {
        assert_eq!(result["dropped"], "not_meshlens_json", "{result}");
    }

    let malformed = format!("{ENVOY_PREFIX}{{\"level\":\"info\",}}");
    let result = &file_pipeline(&[malformed])[0];
    assert_eq!(result["dropped"], "malformed_json", "the json stage drops it: {result}");
}

#[test]
fn promtail_checks_can_fail() {
    let dir = TempDir::new("promtail");
    let text = std::fs::read_to_string(paths::repo_root().join(FILE_CONFIG)).unwrap();

    // Without the match stage, Envoy's own lines reach Loki unparsed.
    let start = text.find("      - match:").unwrap();
    let end = text.find("      - regex:").unwrap();
    let unfiltered = dir.0.join("unfiltered.yaml");
    std::fs::write(&unfiltered, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let startup = "[2026-11-26 01:17:12.901][7413][info][main] [source/server/server.cc:434] initializing epoch 0";
    let result = &run_path(&unfiltered, json!({}), &[startup.to_owned()])["results"][0];
    assert_eq!(result["dropped"], Json::Null, "{result}");
    assert_eq!(result["line"], startup);

    // A lookahead is Python syntax that RE2 refuses: Promtail would not start.
    let lookahead = dir.0.join("lookahead.yaml");
    std::fs::write(&lookahead, text.replace("(?P<meshlens_json>", "(?=\\{)(?P<meshlens_json>")).unwrap();
    let problems = &run_path(&lookahead, json!({}), &[])["problems"];
    assert!(problems.to_string().contains("(?="), "{problems}");
}

fn stage_kind(stage: &Json) -> &str {
    let kinds: Vec<&String> = stage.as_object().unwrap().keys().collect();
    assert_eq!(kinds.len(), 1, "a stage has exactly one kind: {stage}");
    kinds[0]
}

fn kubernetes_meta() -> Json {
    json!({
        "__meta_kubernetes_namespace": "chat2sql",
        "__meta_kubernetes_pod_name": "chat2sql-7d9f8b6c5-x2x9q",
        "__meta_kubernetes_pod_uid": "0f6e3c1a-8d2b-4c5e-9f7a-1b3d5e7f9a0c",
        "__meta_kubernetes_pod_container_name": "istio-proxy",
        "__meta_kubernetes_pod_node_name": "node-a",
    })
}

/// Runs the file config's pipeline over `lines`; one result per line.
fn file_pipeline(lines: &[String]) -> Vec<Json> {
    let results = run(FILE_CONFIG, json!({}), lines)["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), lines.len());
    results
}

/// Runs a shipped config (path relative to the repository root).
fn run(config: &str, meta: Json, lines: &[String]) -> Json {
    run_path(&paths::repo_root().join(config), meta, lines)
}

/// Runs the emulation on `config` with the Kubernetes discovery labels `meta` (ignored for
/// static targets): `{"config", "target", "problems", "results"}`. A result is
/// `{"dropped": reason}` or `{"line", "labels", "timestamp_unix_nanos"}`.
fn run_path(config: &Path, meta: Json, lines: &[String]) -> Json {
    let request = json!({"config": config.display().to_string(), "meta": meta, "lines": lines});
    let mut child = Command::new(paths::python())
        .args(["-c", EMULATOR])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the venv Python");
    serde_json::to_writer(child.stdin.take().unwrap(), &request).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the pipeline emulation failed on {}:\n{stderr}", config.display());
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// The emulation: reads `{"config", "meta", "lines"}` on stdin, prints the result as JSON.
const EMULATOR: &str = r#####"
import calendar, json, re, sys
import yaml

request = json.load(sys.stdin)
with open(request["config"], encoding="utf-8") as f:
    config = yaml.safe_load(f)
job = config["scrape_configs"][0]
problems = []

# Constructs that Go's RE2 and Python's re do not both accept with the same meaning.
NOT_COMMON = {"(?=": "lookahead", "(?!": "lookahead", "(?<=": "lookbehind", "(?<!": "lookbehind",
              "(?>": "atomic group", "(?P=": "backreference", "(?(": "conditional",
              "\\Z": "end anchor", "\\z": "end anchor"}

def check_regex(pattern, where):
    found = [f"{what} {bad}" for bad, what in NOT_COMMON.items() if bad in pattern]
    if re.search(r"\\[1-9]", pattern):
        found.append("backreference")
    if re.search(r"\(\?<[A-Za-z_]", pattern):
        found.append("(?<name> group (Python reads only (?P<name>)")
    if re.search(r"(?<!\\)[*+?}]\+", pattern):
        found.append("possessive quantifier")
    problems.extend(f"{where}: {what} in {pattern!r}" for what in found)
    try:
        return re.compile(pattern)
    except re.error as e:
        problems.append(f"{where}: {e} in {pattern!r}")
        return re.compile("(?!)")

# --- targets -------------------------------------------------------------------------------
def go_expand(replacement, match):
    return re.sub(r"\$\{?(\d+)\}?", lambda m: match.group(int(m.group(1))) or "", replacement)

def relabel(labels, rules):
    labels = dict(labels)
    for rule in rules:
        unknown = set(rule) - {"source_labels", "separator", "regex", "target_label", "replacement", "action"}
        if unknown:
            sys.exit(f"relabel option not emulated: {unknown}")
        value = rule.get("separator", ";").join(labels.get(l, "") for l in rule.get("source_labels", []))
        regex = check_regex(rule.get("regex", "(.*)"), "relabel regex")
        m = regex.fullmatch(value)
        action = rule.get("action", "replace")
        if action == "keep":
            if not m:
                return None
        elif action == "replace":
            if m:
                labels[rule["target_label"]] = go_expand(rule.get("replacement", "$1"), m)
        else:
            sys.exit(f"relabel action not emulated: {action}")
    return {k: v for k, v in labels.items() if not k.startswith("__meta_")}

if "static_configs" in job:
    target = dict(job["static_configs"][0]["labels"])
elif "kubernetes_sd_configs" in job:
    target = relabel(request["meta"], job.get("relabel_configs", []))
else:
    sys.exit("no target kind emulated")

# --- LogQL selector of the match stage: {name="value", ...} then line filters --------------
def selector(text):
    m = re.fullmatch(r"\{([^}]*)\}(.*)", text.strip())
    if not m:
        sys.exit(f"selector not emulated: {text}")
    matchers = []
    for part in filter(None, (p.strip() for p in m.group(1).split(","))):
        mm = re.fullmatch(r'(\w+)\s*=\s*"([^"\\]*)"', part)
        if not mm:
            sys.exit(f"label matcher not emulated: {part}")
        matchers.append((mm.group(1), mm.group(2)))
    filters, rest = [], m.group(2).strip()
    while rest:
        fm = re.match(r'(\|=|!=|\|~|!~)\s*(`[^`]*`|"(?:[^"\\]|\\.)*")\s*', rest)
        if not fm:
            sys.exit(f"line filter not emulated: {rest}")
        op, lit = fm.group(1), fm.group(2)
        value = lit[1:-1] if lit.startswith("`") else json.loads(lit)
        if op in ("|~", "!~"):
            value = check_regex(value, "match selector")
        filters.append((op, value))
        rest = rest[fm.end():]
    def matches(labels, line):
        if any(labels.get(k) != v for k, v in matchers):
            return False
        for op, v in filters:
            ok = {"|=": lambda: v in line, "!=": lambda: v not in line,
                  "|~": lambda: v.search(line) is not None, "!~": lambda: v.search(line) is None}[op]()
            if not ok:
                return False
        return True
    return matches

# --- RFC 3339 to Unix nanoseconds, exactly --------------------------------------------------
def rfc3339_nanos(text):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)", text)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
    zone = m.group(8)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * 10**9 + int((m.group(7) or "").ljust(9, "0"))

def as_label(value):
    return value if isinstance(value, str) else json.dumps(value)

# --- stages ---------------------------------------------------------------------------------
def compile_stage(stage):
    if len(stage) != 1:
        sys.exit(f"a stage must have one kind: {stage}")
    (kind, cfg), = stage.items()
    cfg = cfg or {}
    def options(*known):
        unknown = set(cfg) - set(known)
        if unknown:
            sys.exit(f"{kind} options not emulated: {unknown}")
    if kind == "cri":
        options()
        cri = re.compile(r"(\S+) (stdout|stderr) ([FP]) (.*)")
        def run(e):
            m = cri.fullmatch(e["line"])
            if m:
                e["line"], e["timestamp"] = m.group(4), rfc3339_nanos(m.group(1))
    elif kind == "match":
        options("selector", "action", "drop_counter_reason")
        if cfg.get("action") != "drop":
            sys.exit("only match stages with action: drop are emulated")
        matches = selector(cfg["selector"])
        reason = cfg.get("drop_counter_reason", "match_stage")
        def run(e):
            if matches(e["labels"], e["line"]):
                return reason
    elif kind == "regex":
        options("expression", "source")
        regex = check_regex(cfg["expression"], "regex stage")
        def run(e):
            source = e["extracted"].get(cfg["source"]) if "source" in cfg else e["line"]
            m = regex.search(source) if isinstance(source, str) else None
            if m:
                e["extracted"].update({k: v for k, v in m.groupdict().items() if v is not None})
    elif kind == "json":
        options("expressions", "source", "drop_malformed")
        for key, expr in cfg["expressions"].items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr or key):
                sys.exit(f"JMESPath expression not emulated: {expr}")
        def run(e):
            text = e["extracted"].get(cfg["source"]) if "source" in cfg else e["line"]
            if text is None:
                return  # Promtail skips the stage when the source is not extracted.
            try:
                obj = json.loads(text)
            except ValueError:
                obj = None
            if not isinstance(obj, dict):
                return "malformed_json" if cfg.get("drop_malformed") else None
            for key, expr in cfg["expressions"].items():
                if obj.get(expr or key) is not None:
                    e["extracted"][key] = obj[expr or key]
    elif kind == "labels":
        def run(e):
            for name, source in cfg.items():
                value = e["extracted"].get(source or name)
                if value is not None:
                    e["labels"][name] = as_label(value)
    elif kind == "timestamp":
        options("source", "format")
        if cfg["format"] != "RFC3339Nano":
            sys.exit(f"timestamp format not emulated: {cfg['format']}")
        def run(e):
            value = e["extracted"].get(cfg["source"])
            nanos = rfc3339_nanos(value) if isinstance(value, str) else None
            if nanos is not None:
                e["timestamp"] = nanos  # else Promtail's default action_on_failure: keep it
    elif kind == "output":
        options("source")
        def run(e):
            value = e["extracted"].get(cfg["source"])
            if value is not None:
                e["line"] = as_label(value)
    else:
        sys.exit(f"stage not emulated: {kind}")
    return run

stages = [compile_stage(s) for s in job["pipeline_stages"]]
results = []
for line in request["lines"] if target is not None else []:
    labels = {k: v for k, v in target.items() if not k.startswith("__")}
    entry = {"line": line, "labels": labels, "extracted": {}, "timestamp": None}
    for stage in stages:
        dropped = stage(entry)
        if dropped:
            results.append({"dropped": dropped})
            break
    else:
        results.append({"line": entry["line"], "labels": entry["labels"], "timestamp_unix_nanos": entry["timestamp"]})

json.dump({"config": config, "target": target, "problems": problems, "results": results}, sys.stdout)
"#####;
