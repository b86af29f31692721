//! `meshlens`: the command line of the harness. `meshlens run` replays recorded HTTP traffic
//! through a proxy-wasm module on a virtual clock and reports what the module emitted.
//! See `meshlens --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main(std::env::args_os().skip(1).collect())
}
