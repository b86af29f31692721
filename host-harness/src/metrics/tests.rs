//! Golden tests: the probe's scripts replayed on the registry, against what Envoy 1.40 answered
//! and printed (see `golden/README.md` for the probe).

use super::*;

/// Runs a probe script and returns each line with its outcome, as the probe logged it in Envoy:
/// `def <kind> <name>`, `inc <id|$n> <delta>`, `rec <id|$n> <value>`, `get <id|$n>`, where `$n`
/// is the id the n-th `def` returned and `\n` in a name is a newline.
fn run(registry: &mut Registry, script: &str) -> Vec<String> {
    let mut defined: Vec<u32> = Vec::new();
    let mut log = Vec::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, ' ');
        let (op, a, b) = (parts.next().unwrap(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let id = |s: &str| match s.strip_prefix('$') {
            Some(n) => defined[n.parse::<usize>().unwrap()],
            None => s.parse().unwrap(),
        };
        let status = |r: Result<(), Status>| format!("status={}", r.err().map_or(0, Status::raw));
        let outcome = match op {
            "def" => {
                let kind = MetricType::from_raw(a.parse().unwrap()).ok_or(Status::BadArgument);
                match kind.and_then(|k| registry.define(k, &b.replace(r"\n", "\n"))) {
                    Ok(id) => {
                        defined.push(id);
                        format!("status=0 id={id}")
                    }
                    Err(s) => {
                        defined.push(9999);
                        format!("status={} id=0", s.raw())
                    }
                }
            }
            "inc" => status(registry.increment(id(a), b.parse().unwrap())),
            "rec" => status(registry.record(id(a), b.parse().unwrap())),
            "get" => match registry.get(id(a)) {
                Ok(v) => format!("status=0 value={v}"),
                Err(s) => format!("status={} value=0", s.raw()),
            },
            _ => panic!("unknown op in {line:?}"),
        };
        log.push(format!("{line} -> {outcome}"));
    }
    log
}

/// The one place that drives the registry: run `script`, render with `config`, compare.
fn check(script: &str, config: &PrometheusConfig, expected_prometheus: &str) -> Registry {
    let mut registry = Registry::new();
    run(&mut registry, script);
    assert_eq!(registry.render_prometheus(config), expected_prometheus);
    registry
}

fn tag(name: &str, regex: &str) -> StatsTag {
    StatsTag::regex(name, regex).unwrap()
}

#[test]
fn render_matches_envoy_for_counters_gauges_histograms() {
    let script = r#"
        def 0 meshlens_http_requests_total;method=GET;route=/api/v1.2/query;status_class=2xx
        def 0 meshlens_http_requests_total;method=POST;route=/users/{id};status_class=5xx
        def 1 meshlens_active_requests
        def 2 meshlens_http_request_duration_ms;method=GET;route=/api/v1.2/query
        def 0 meshlens_dotted_total.method.GET.route./api/v1.2/query.status_class.2xx
        def 0 meshlens_weird_total;method=G"E\T\nX
        def 0 meshlens_empty_total;method=;route=/x
        def 2 meshlens_upstream_ms
        def 0 meshlens_spans_dropped_total
        inc $0 3
        inc $1 1
        inc $2 2
        inc $2 -3
        rec $3 20
        rec $3 300
        rec $3 5000
        inc $4 1
        inc $5 1
        inc $6 1
        rec $7 0
        rec $7 7
        rec $7 12345
    "#;
    // Labels encoded as `;key=value` round-trip (values may hold dots); the dotted encoding
    // `.key.value` breaks on a dot in a value (`/api/v1.2/query`).
    let config = PrometheusConfig {
        stats_tags: vec![
            tag("method", "(;method=([^;]*))"),
            tag("route", "(;route=([^;]*))"),
            tag("status_class", "(;status_class=([^;]*))"),
            tag("dmethod", r"(\.method\.([^.]+))"),
            tag("droute", r"(\.route\.([^.]+))"),
            tag("dstatus", r"(\.status_class\.([^.]+))"),
        ],
        histogram_buckets: vec![HistogramBuckets::prefix(
            "wasmcustom.meshlens_upstream",
            vec![1.0, 10.0, 100.0, 1000.0, 10000.0],
        )],
    };
    let route = r#"method="GET",route="/api/v1.2/query""#;
    let expected_duration: String = [
        "0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000",
        "300000", "600000", "1800000", "3600000", "+Inf",
    ]
    .iter()
    .zip([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3])
    .map(|(le, n)| format!("meshlens_http_request_duration_ms_bucket{{{route},le=\"{le}\"}} {n}\n"))
    .collect();
    let expected = format!(
        r#"# TYPE meshlens_dotted_total_2_query counter
meshlens_dotted_total_2_query{{dmethod="GET",droute="/api/v1",dstatus="2xx"}} 1
# TYPE meshlens_empty_total counter
meshlens_empty_total{{method="",route="/x"}} 1
# TYPE meshlens_http_requests_total counter
meshlens_http_requests_total{{method="GET",route="/api/v1.2/query",status_class="2xx"}} 3
meshlens_http_requests_total{{method="POST",route="/users/{{id}}",status_class="5xx"}} 1
# TYPE meshlens_spans_dropped_total counter
meshlens_spans_dropped_total{{}} 0
# TYPE meshlens_weird_total counter
meshlens_weird_total{{method="G\"E\\T\nX"}} 1
# TYPE meshlens_active_requests gauge
meshlens_active_requests{{}} 18446744073709551615
# TYPE meshlens_http_request_duration_ms histogram
{expected_duration}meshlens_http_request_duration_ms_sum{{{route}}} 5374.9107881599829852348193526268
meshlens_http_request_duration_ms_count{{{route}}} 3
# TYPE meshlens_upstream_ms histogram
meshlens_upstream_ms_bucket{{le="1"}} 1
meshlens_upstream_ms_bucket{{le="10"}} 2
meshlens_upstream_ms_bucket{{le="100"}} 2
meshlens_upstream_ms_bucket{{le="1000"}} 2
meshlens_upstream_ms_bucket{{le="10000"}} 2
meshlens_upstream_ms_bucket{{le="+Inf"}} 3
meshlens_upstream_ms_sum{{}} 12487.049645390070509165525436401
meshlens_upstream_ms_count{{}} 3
"#
    );
    let registry = check(script, &config, &expected);
    assert_eq!(registry.value("meshlens_active_requests"), Some(MetricValue::Gauge(-1)));
    let Some(MetricValue::Histogram(h)) = registry.value("meshlens_upstream_ms") else { panic!() };
    assert_eq!((h.values(), h.count(), h.sum()), (&[0, 7, 12345][..], 3, 12352));
}

#[test]
fn hostcall_statuses_match_envoy() {
    // Envoy's answers, as the probe logged them (status 1 = NOT_FOUND, 2 = BAD_ARGUMENT).
    let envoy_log = r#"
        def 0 dup_counter -> status=0 id=4
        def 0 dup_counter -> status=0 id=8
        def 1 dup_counter -> status=0 id=5
        def 2 dup_counter -> status=0 id=6
        def 3 bad_kind -> status=2 id=0
        def 1 gauge_neg -> status=0 id=9
        def 2 hist_ops -> status=0 id=10
        def 0 counter_ops -> status=0 id=12
        def 1 gauge_ops -> status=0 id=13
        inc $0 2 -> status=0
        inc $1 3 -> status=0
        get $0 -> status=0 value=5
        get $1 -> status=0 value=5
        inc $2 5 -> status=0
        get $2 -> status=0 value=5
        rec $3 7 -> status=0
        inc $3 1 -> status=2
        inc $5 -1 -> status=0
        get $5 -> status=0 value=18446744073709551615
        inc $5 -5 -> status=0
        get $5 -> status=0 value=18446744073709551610
        inc $6 1 -> status=2
        inc $6 0 -> status=2
        inc $6 -1 -> status=2
        get $6 -> status=2 value=0
        rec $6 10 -> status=0
        get $6 -> status=2 value=0
        inc $7 0 -> status=2
        inc $7 -1 -> status=2
        rec $7 0 -> status=0
        rec $7 5 -> status=0
        rec $7 18446744073709551615 -> status=0
        get $7 -> status=0 value=4
        rec $8 42 -> status=0
        get $8 -> status=0 value=42
        inc $8 0 -> status=0
        get $8 -> status=0 value=42
        rec $8 18446744073709551615 -> status=0
        get $8 -> status=0 value=18446744073709551615
        get 100 -> status=1 value=0
        get 101 -> status=1 value=0
        get 102 -> status=2 value=0
        get 103 -> status=2 value=0
        inc 100 1 -> status=1
        inc 101 1 -> status=1
        inc 102 1 -> status=2
        inc 103 1 -> status=2
        rec 100 1 -> status=1
        rec 101 1 -> status=1
        rec 102 1 -> status=1
        rec 103 1 -> status=1
        get 4 -> status=0 value=5
    "#;
    let envoy_log: Vec<&str> = envoy_log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let script: String = envoy_log.iter().filter_map(|l| l.split(" -> ").next()).map(|l| format!("{l}\n")).collect();
    let mut registry = Registry::new();
    assert_eq!(run(&mut registry, &script), envoy_log);

    // One name, three kinds: three metrics, each under its own `# TYPE`.
    let rendered = registry.render_prometheus(&PrometheusConfig::default());
    let without_buckets: String =
        rendered.lines().filter(|l| !l.contains("_bucket{")).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        without_buckets,
        "# TYPE counter_ops counter\ncounter_ops{} 4\n# TYPE dup_counter counter\ndup_counter{} 5\n\
         # TYPE dup_counter gauge\ndup_counter{} 5\n# TYPE gauge_neg gauge\ngauge_neg{} 18446744073709551610\n\
         # TYPE gauge_ops gauge\ngauge_ops{} 18446744073709551615\n# TYPE dup_counter histogram\n\
         dup_counter_sum{} 7.0496453900709221684905969596002\ndup_counter_count{} 1\n\
         # TYPE hist_ops histogram\nhist_ops_sum{} 10.476190476190476275064611400012\nhist_ops_count{} 1\n"
    );
    assert_eq!(registry.value_of(MetricType::Gauge, "dup_counter"), Some(MetricValue::Gauge(5)));
    let names: Vec<&str> = registry.iter().map(|(name, _)| name).collect();
    assert_eq!(
        names,
        ["dup_counter", "dup_counter", "dup_counter", "gauge_neg", "hist_ops", "counter_ops", "gauge_ops"]
    );
}

#[test]
fn names_tags_and_buckets_match_envoy() {
    let script = r#"
        def 0 a..b
        def 0 .lead
        def 0 trail.
        def 0
        def 0 9starts_digit
        def 0 has-dash/and slash:colon
        def 0 unicode_é
        def 0 esc.v.a"b\c
        def 0 Upper.Case
        def 0 coll.x
        def 0 coll_x
        def 0 svc_rq_200
        def 0 svc_upstream_rq_5xx
        def 0 b
        def 0 a.z
        def 0 a-b.c
        def 0 a.b
        def 0 aa
        def 0 A
        def 0 ord.t.x-y.end
        def 0 ord.t.x.end
        def 0 ord.t.x_a.end
        def 0 tago.z.ZV.a.AV
        def 0 single.one.X
        def 0 anch.v1.x
        def 0 strip.me
        def 0 over.k1.k2.end
        def 2 hb_pref.t.x
        def 2 hb_nopref
        def 2 hb_exact
        def 2 x.hb_suf
        def 2 hb_re_1
        def 0 dot.in.value.v.a.b.c
        rec $0 1
        rec $1 1
        rec $2 1
        rec $3 1
        rec $4 1
        rec $5 1
        rec $6 1
        rec $7 1
        rec $8 1
        rec $9 1
        rec $10 2
        rec $27 1
        rec $28 1
        rec $29 1
        rec $30 1
        rec $31 1
    "#;
    let config = PrometheusConfig {
        stats_tags: vec![
            tag("alpha", r"^wasmcustom\.tago(?:\.z\.\w+)?(\.a\.(\w+))"),
            tag("zeta", r"(\.z\.(\w+))"),
            StatsTag::fixed_value("fixed.tag", "F"),
            tag("esc", r"(\.v\.(.*))$"),
            tag("ord", r"(\.t\.([^.]+))\.end$"),
            tag("hbt", r"^wasmcustom\.hb_pref(\.t\.(\w+))$"),
            tag("one", r"(\.one\.\w+)$"),
            tag("anch", r"^anch\.((\w+)\.)"),
            tag("ns", r"^(wasmcustom\.)strip\."),
            tag("k1", r"^wasmcustom\.over(\.k1\.(\w+))"),
            tag("k2", r"^wasmcustom\.over\.k1(\.k2\.(\w+))"),
        ],
        histogram_buckets: vec![
            // Envoy's YAML loader read `1e33` as 999999999999999945575230987042816.
            HistogramBuckets::prefix(
                "wasmcustom.hb_pref",
                vec![0.005, 1.0, 1e6, 999_999_999_999_999_945_575_230_987_042_816.0, 123_456_789.123],
            ),
            HistogramBuckets::prefix("hb_nopref", vec![1.0, 2.0]),
            HistogramBuckets::exact("wasmcustom.hb_exact", vec![3.0, 1.0, 2.0]),
            HistogramBuckets::suffix("hb_suf", vec![7.0]),
            HistogramBuckets::safe_regex(r"wasmcustom\.hb_re.*", vec![9.0]).unwrap(),
        ],
    };
    check(script, &config, include_str!("golden/names.prom"));
}

#[test]
fn trailing_dots_and_odd_bytes_match_envoy() {
    let script = "
        def 0 .
        def 0 ..
        def 0 trail..
        def 0 ..lead
        def 0 x...y
        def 0 trail.
        def 0 trail
        def 0 wasmcustom.x
        def 0 sp ace
        def 0 tab\tx
        inc $0 1
        inc $1 2
        inc $2 3
        inc $3 4
        inc $4 5
        inc $5 6
        inc $6 7
        inc $7 8
        inc $8 1
        inc $9 1
    ";
    let expected = "# TYPE envoy_wasmcustom counter\nenvoy_wasmcustom{} 3\n# TYPE __lead counter\n__lead{} 4\n\
         # TYPE sp_ace counter\nsp_ace{} 1\n# TYPE tab_x counter\ntab_x{} 1\n# TYPE trail counter\ntrail{} 16\n\
         # TYPE wasmcustom_x counter\nwasmcustom_x{} 8\n# TYPE x___y counter\nx___y{} 5\n";
    let registry = check(script, &PrometheusConfig::default(), expected);
    assert_eq!(registry.value("trail..."), Some(MetricValue::Counter(16)));
    assert_eq!(registry.value(""), Some(MetricValue::Counter(3)));
}

#[test]
fn default_tag_extractors_and_tag_rules_match_envoy() {
    // Envoy also took `la` = `(\.ahead\.(\w+))(?=\.end)` (ECMAScript lookahead): not supported.
    assert!(StatsTag::regex("la", r"(\.ahead\.(\w+))(?=\.end)").is_err());
    let script = "
        def 0 http_local_rate_limit.x
        def 0 http_local_rate_limit
        def 0 nogroup.x
        def 0 opt.y
        def 0 dupa.d1.dupb.d2
        def 0 req_rq_200.m.GET
    ";
    let config = PrometheusConfig {
        stats_tags: vec![
            tag("ng", "nogroup"),
            tag("opt", r"opt(\.zz)?\.(y)"),
            tag("dup", r"(\.dupa\.(\w+))"),
            tag("dup", r"(\.dupb\.(\w+))"),
            tag("method", r"(\.m\.(\w+))$"),
        ],
        histogram_buckets: Vec::new(),
    };
    let expected = r#"# TYPE envoy_http_local_rate_limit_x counter
envoy_http_local_rate_limit_x{envoy_local_http_ratelimit_prefix="wasmcustom"} 0
# TYPE dupb_d2 counter
dupb_d2{dup="d1"} 0
# TYPE http_local_rate_limit counter
http_local_rate_limit{} 0
# TYPE nogroup_x counter
nogroup_x{} 0
# TYPE opt_y counter
opt_y{opt="y"} 0
# TYPE req_rq_200 counter
req_rq_200{method="GET"} 0
"#;
    check(script, &config, expected);
}

#[test]
fn histogram_values_match_envoy() {
    let values: [u64; 21] = [
        0,
        1,
        5,
        9,
        10,
        11,
        20,
        25,
        99,
        100,
        101,
        300,
        999,
        1000,
        5000,
        5050,
        5099,
        123_456,
        1_000_000,
        u64::MAX,
        i64::MAX as u64,
    ];
    let defs = values.iter().enumerate().map(|(i, v)| format!("def 2 h{i:02}_v{v}\n"));
    let recs = values.iter().enumerate().map(|(i, v)| format!("rec ${i} {v}\n"));
    let script: String = defs.chain(recs).collect();
    check(&script, &PrometheusConfig::default(), include_str!("golden/histogram_values.prom"));
}

/// A known gap, not a bug: Envoy prints recorded histogram values only after a stats flush
/// (with `stats_flush_interval: 60s` it printed `h_count{} 0` here); the registry is always
/// rendered as if flushed.
#[test]
fn histograms_render_as_if_flushed() {
    let mut registry = Registry::new();
    run(&mut registry, "def 2 h\nrec $0 20");
    let rendered = registry.render_prometheus(&PrometheusConfig::default());
    assert!(rendered.ends_with("h_sum{} 20.487804878048780921062643756159\nh_count{} 1\n"), "{rendered}");
}

#[test]
fn tag_values_and_names_lose_trailing_dots_like_envoy() {
    let script = "
        def 0 tvx.tv.val..end
        def 0 tdot.end
        def 0 tnx.tn.V
        def 0 uni_é_ü.x
    ";
    let config = PrometheusConfig {
        stats_tags: vec![
            tag("tv", r"(\.tv\.(\w+\.\.))"),
            tag("te", "(end)$"),
            tag("tn.", r"(\.tn\.(\w+))"),
            tag("uv", r"(\.(x))$"),
        ],
        histogram_buckets: Vec::new(),
    };
    let expected = r#"# TYPE tdot counter
tdot{te="end"} 0
# TYPE tnx counter
tnx{tn="V"} 0
# TYPE tvx counter
tvx{tv="val",te="end"} 0
# TYPE uni____ counter
uni____{uv="x"} 0
"#;
    check(script, &config, expected);
}

#[test]
fn non_ascii_names_sanitize_like_envoy() {
    // Custom-namespace names lose one `_` per character, `envoy_` names and label names one per
    // byte.
    let script = "
        def 0 cut.é€😀x
        def 0 keep.é€😀x
        def 0 keep2é
        def 0 cut2é
        def 0 lab.x
    ";
    let config = PrometheusConfig {
        stats_tags: vec![tag("ns", r"^(wasmcustom\.)cut"), tag("é€.t", r"(\.(x))$")],
        histogram_buckets: Vec::new(),
    };
    let expected = r#"# TYPE envoy_cut__________x counter
envoy_cut__________x{ns="wasmcustom"} 0
# TYPE envoy_cut2__ counter
envoy_cut2__{ns="wasmcustom"} 0
# TYPE keep____x counter
keep____x{} 0
# TYPE keep2_ counter
keep2_{} 0
# TYPE lab counter
lab{______t="x"} 0
"#;
    check(script, &config, expected);
}
