//! The short fuzz run of the test suite: the module keeps every invariant over a few thousand
//! hostile exchanges (the long run is `cargo xtask fuzz --exchanges 1000000`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use host_harness::Module;
use meshlens_fuzz::run::{self, Options};

fn module() -> Module {
    let path = std::env::var_os("MESHLENS_WASM")
        .map_or_else(|| PathBuf::from(meshlens_tests_guests::EDGE_TELEMETRY), PathBuf::from);
    Module::from_file(&path).unwrap()
}

#[test]
fn two_thousand_hostile_exchanges_break_no_invariant() {
    let options = Options { exchanges: 2_000, seed: 20_261_207, start: 0, per_host: 1_000 };
    let outcome = run::run(&module(), options, |_| {}).unwrap();
    assert_eq!(outcome.exchanges, 2_000);
    assert!(outcome.violations.is_empty(), "{:#?}", outcome.violations);
    assert!(outcome.export_calls > 0 && outcome.log_lines > 1_000, "{outcome:?}");
}
