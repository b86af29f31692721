//! What `on_configure` costs: guest Wasm instructions (deterministic) and wall time of building a
//! host (instantiate, `_start`, `proxy_on_vm_start`, `proxy_on_configure`) for one module and
//! configuration, minus the same with an empty configuration, so only reading and validating the
//! configuration is left; and the module's compile time (wasmtime, cranelift).
//!
//! ```sh
//! cargo run --release -p host-harness --example configure_cost -- MODULE.wasm CONFIG.json
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use host_harness::{CompileOptions, Host, Module};

fn build(module: &Module, config: &[u8]) -> Host {
    Host::builder(module).root_id("meshlens").plugin_config(config.to_vec()).build().unwrap()
}

fn median_time(module: &Module, config: &[u8]) -> Duration {
    let mut times: Vec<Duration> = (0..301)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(build(module, config));
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wasm, config] = args.as_slice() else { panic!("usage: configure_cost MODULE.wasm CONFIG.json") };
    let bytes = std::fs::read(wasm).unwrap();
    let config = std::fs::read(config).unwrap();
    let metered = Module::with_options(&bytes, CompileOptions { fuel: true, ..Default::default() }).unwrap();
    let fuel = |c: &[u8]| build(&metered, c).guest_fuel().unwrap();
    let (full, empty) = (fuel(&config), fuel(b""));
    let mut compiles: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(Module::new(&bytes).unwrap());
            start.elapsed()
        })
        .collect();
    compiles.sort();
    let module = Module::new(&bytes).unwrap();
    let (t_full, t_empty) = (median_time(&module, &config), median_time(&module, b""));
    println!("{wasm} ({} bytes, compiled in {:.0} ms, median of 5)", bytes.len(), compiles[2].as_secs_f64() * 1e3);
    println!(
        "  guest instructions: {full} with the configuration, {empty} empty, {} for the configuration",
        full - empty
    );
    println!(
        "  host build, median of 301: {:.1} us with the configuration, {:.1} us empty, {:.1} us for the configuration",
        t_full.as_secs_f64() * 1e6,
        t_empty.as_secs_f64() * 1e6,
        (t_full.as_secs_f64() - t_empty.as_secs_f64()) * 1e6
    );
}
