//! Envoy's `failure_policy` for a Wasm filter that traps (issue #16), measured in a real Envoy
//! 1.40 with `trap-probe` (`tests/guests/trap-probe`): a filter that adds `x-trap-probe: 1` to
//! every response and traps when a request carries `x-trap: 1`. For each policy, one trapping
//! request, then plain requests: their statuses, whether the filter still runs (the header), and
//! what Envoy logs. The README ("Running it in your Envoy") recommends a policy from these.

use std::time::{Duration, Instant};

use meshlens_tests::envoy::bootstrap::{Bootstrap, Cluster, FailurePolicy, HttpFilter, Listener, Wasm};
use meshlens_tests::envoy::{Envoy, free_port};
use meshlens_tests::http::{self, Reply, Server};

const HEADER: &str = "x-trap-probe";

/// `trap-probe` as the one HTTP filter (plugin, root and VM `trap_probe`) under `policy`, and the app.
fn bootstrap(policy: FailurePolicy, listener: u16, admin: u16, app: u16) -> String {
    let wasm = Wasm { failure_policy: Some(policy), ..Wasm::named(meshlens_tests_guests::TRAP_PROBE, "trap_probe") };
    Bootstrap {
        admin,
        listener: Some(Listener::to_app(listener, vec![HttpFilter::Wasm(wasm)])),
        clusters: vec![Cluster::http1("app", app)],
        ..Bootstrap::default()
    }
    .yaml()
}

/// What one policy did: the trapping request's status, then (status, header present) of each
/// later request, Envoy's `wasm` log lines at warning and above, and its VM reload counters.
#[derive(Debug)]
struct Outcome {
    before: (u16, bool),
    trapping: u16,
    after: Vec<(u16, bool)>,
    log: Vec<String>,
    reload_success: u64,
    reload_backoff: u64,
}

fn get(envoy: &Envoy, headers: &[(&str, &str)]) -> (u16, bool) {
    let resp = http::get(envoy.listener, "/", headers).expect("GET / through Envoy");
    (resp.status(), resp.header(HEADER) == Some("1"))
}

/// One trapping request, then up to `after` plain requests 100 ms apart (FAIL_RELOAD reloads the
/// VM after a backoff, 1 s by default: the later requests see whether the filter comes back).
fn measure(policy: FailurePolicy, after: usize) -> Outcome {
    let app = Server::start(|_| Reply::text(200, "ok"));
    let (listener, admin) = (free_port(), free_port());
    let envoy = Envoy::start_text(&bootstrap(policy, listener, admin, app.port()), listener, admin, 1);
    let before = get(&envoy, &[]);
    let trapping = get(&envoy, &[("x-trap", "1")]).0;
    let after = (0..after)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            get(&envoy, &[])
        })
        .collect();
    // Envoy writes its log file every 10 s; wait (bounded) for the trap's line.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !envoy.log().contains(TRAPPED) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = envoy
        .log()
        .lines()
        .filter(|l| l.contains("][wasm]") && !l.contains("][info][") && !l.contains("][debug]["))
        .map(str::to_owned)
        .collect();
    let outcome = Outcome {
        before,
        trapping,
        after,
        log,
        reload_success: envoy.metric("envoy_wasm_trap_probe_vm_reload_success"),
        reload_backoff: envoy.metric("envoy_wasm_trap_probe_vm_reload_backoff"),
    };
    eprintln!("{policy:?}: {outcome:?}");
    assert_eq!(outcome.before, (200, true), "{policy:?}: the filter did not run before the trap");
    // Under every policy the request that trapped is answered 503 by Envoy (empty body).
    assert_eq!(outcome.trapping, 503, "{policy:?}: {outcome:?}");
    assert!(outcome.log.iter().any(|l| l.contains(TRAPPED)), "{policy:?}: the trap is not in Envoy's log: {outcome:?}");
    // A trap at run time logs no "configured to fail closed" line (a plugin that fails to load
    // does, whatever the policy: envoy_lds).
    assert!(!outcome.log.iter().any(|l| l.contains("fail closed")), "{policy:?}: {outcome:?}");
    outcome
}

/// The line Envoy 1.40 logs (error, `wasm`) when the guest traps in a request callback.
const TRAPPED: &str = "Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable";

/// FAIL_RELOAD's later requests: 503 while the reload backs off, then the filter back for good.
fn assert_reloads(policy: FailurePolicy, o: &Outcome) {
    let refused = o.after.iter().take_while(|r| **r == (503, false)).count();
    assert!(refused < o.after.len(), "{policy:?}: the filter never came back: {o:?}");
    assert!(o.after[refused..].iter().all(|r| *r == (200, true)), "{policy:?}: {o:?}");
    assert_eq!(o.reload_success, 1, "{policy:?}: {o:?}");
    assert_eq!(o.reload_backoff, refused as u64, "{policy:?}: each refused request counts a backoff: {o:?}");
}

#[test]
fn fail_open_passes_later_requests_without_the_filter() {
    let o = measure(FailurePolicy::FailOpen, 10);
    // The filter is gone on that worker until its VM is created again (a config change, a
    // restart): requests pass, untouched, and nothing counts the loss.
    assert!(o.after.iter().all(|r| *r == (200, false)), "{o:?}");
    assert_eq!((o.reload_success, o.reload_backoff), (0, 0), "{o:?}");
}

#[test]
fn fail_closed_answers_every_later_request_503() {
    let o = measure(FailurePolicy::FailClosed, 10);
    assert!(o.after.iter().all(|r| *r == (503, false)), "{o:?}");
}

#[test]
fn fail_reload_refuses_requests_during_the_backoff_then_restores_the_filter() {
    // Default backoff (1 s): at 100 ms apart, about ten requests are refused first.
    let default = FailurePolicy::FailReload { backoff: None };
    assert_reloads(default, &measure(default, 30));
    // A 10 ms backoff: the next request finds the filter reloaded.
    let short = FailurePolicy::FailReload { backoff: Some(Duration::from_millis(10)) };
    assert_reloads(short, &measure(short, 5));
}
