//! A compiled proxy-wasm module: compile once, instantiate per run.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Engine, ExternType, InstancePre};

use crate::abi::AbiVersion;
use crate::error::{Error, abi_error};
use crate::imports;
use crate::state::HostState;

/// A compiled module and what the harness learned about it. Cheap to clone (shared).
///
/// ```no_run
/// let module = host_harness::Module::from_file("target/wasm32-wasip1/release/edge_telemetry.wasm")?;
/// assert_eq!(module.abi().to_string(), "0.2.1");
/// # Ok::<(), host_harness::Error>(())
/// ```
#[derive(Clone)]
pub struct Module {
    inner: Arc<Inner>,
}

/// How modules are compiled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// Meter guest instructions, so `HostBuilder::fuel_per_call` can bound each callback's CPU.
    /// Off by default: metering costs about a tenth of execution speed.
    pub fuel: bool,
    /// Write `/tmp/perf-<pid>.map` so `perf report` names the guest's functions (also on with
    /// the environment variable `MESHLENS_PERF_MAP=1`, for the CLI and the benches).
    pub perf_map: bool,
    /// Compile in wasmtime's epoch interruption, so `HostBuilder::time_per_call` can bound each
    /// callback's wall-clock time (a runaway guest then fails instead of hanging). Costs a few
    /// percent at most: a counter check at function entries and loop back-edges. A background
    /// thread advances the epoch every [`EPOCH_TICK`] while the module is alive.
    pub deadline: bool,
}

/// How often the epoch of a module compiled with `CompileOptions { deadline: true, .. }`
/// advances: the resolution of `HostBuilder::time_per_call`.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A deadline no run reaches (wasmtime adds it to the current epoch: `u64::MAX` would overflow).
pub(crate) const NO_EPOCH_DEADLINE: u64 = u64::MAX / 4;

/// A time limit in epoch ticks (at least one, at most [`NO_EPOCH_DEADLINE`]).
pub(crate) fn epoch_ticks(limit: Duration) -> u64 {
    u64::try_from(limit.as_nanos().div_ceil(EPOCH_TICK.as_nanos())).unwrap_or(u64::MAX).clamp(1, NO_EPOCH_DEADLINE)
}

/// Epoch ticks as a readable duration (`10 s`, `250 ms`).
pub(crate) fn show_epoch_ticks(ticks: u64) -> String {
    let ms = u128::from(ticks) * EPOCH_TICK.as_millis();
    if ms.is_multiple_of(1000) { format!("{} s", ms / 1000) } else { format!("{ms} ms") }
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name(String::from("meshlens-epoch")).spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        }
    });
    // Without the thread no deadline fires: the run is then as unbounded as without the option.
    drop(spawned);
}

struct Inner {
    engine: Engine,
    module: wasmtime::Module,
    /// The module linked against every host function, ready to instantiate.
    pre: InstancePre<HostState>,
    abi: AbiVersion,
    allocator: &'static str,
    fuel: bool,
    deadline: bool,
    size: usize,
}

/// The export names that declare an ABI version.
const ABI_EXPORTS: [(&str, AbiVersion); 2] =
    [("proxy_abi_version_0_2_1", AbiVersion::V0_2_1), ("proxy_abi_version_0_2_0", AbiVersion::V0_2_0)];

impl Module {
    /// Reads and compiles a `.wasm` file, or a `.wat` file (the text format, recognised by its
    /// extension only).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::Compile(format!("cannot read {}: {e}", path.display())))?;
        Self::new(&binary(path, bytes)?)
    }

    /// Compiles module bytes (the binary format) with default options.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        Self::with_options(bytes, CompileOptions::default())
    }

    /// Compiles module bytes with `options`.
    pub fn with_options(bytes: &[u8], options: CompileOptions) -> Result<Self, Error> {
        check_magic(bytes)?;
        let mut config = wasmtime::Config::new();
        config.consume_fuel(options.fuel);
        config.epoch_interruption(options.deadline);
        // `perf record` then names guest functions (from the module's name section, so build it
        // unstripped: `CARGO_PROFILE_RELEASE_STRIP=false`).
        if options.perf_map || std::env::var_os("MESHLENS_PERF_MAP").is_some_and(|v| v == "1") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(|e| Error::Compile(e.to_string()))?;
        let module = wasmtime::Module::new(&engine, bytes).map_err(|e| Error::Compile(format!("{e:#}")))?;
        let exports: Vec<String> = module.exports().map(|e| e.name().to_owned()).collect();
        let abi = ABI_EXPORTS
            .iter()
            .find(|(name, _)| exports.iter().any(|e| e == name))
            .map(|(_, abi)| *abi)
            .ok_or_else(|| abi_error(&exports))?;
        let allocator = ["proxy_on_memory_allocate", "malloc"]
            .into_iter()
            .find(|name| matches!(module.get_export(name), Some(ExternType::Func(_))))
            .ok_or_else(|| Error::MissingExport(String::from("proxy_on_memory_allocate or malloc")))?;
        if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
            return Err(Error::MissingExport(String::from("memory")));
        }
        let linker = imports::linker(&engine).map_err(|e| Error::Compile(format!("cannot build the linker: {e}")))?;
        let pre = linker.instantiate_pre(&module).map_err(|e| link_error(&module, &e))?;
        if options.deadline {
            start_epoch_ticker(&engine);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                module,
                pre,
                abi,
                allocator,
                fuel: options.fuel,
                deadline: options.deadline,
                size: bytes.len(),
            }),
        })
    }

    /// The ABI version the module declares.
    pub fn abi(&self) -> AbiVersion {
        self.inner.abi
    }

    /// The allocator export the host uses to give the guest memory.
    pub fn allocator(&self) -> &'static str {
        self.inner.allocator
    }

    /// Size of the module bytes.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    /// Every import as `module::name: type`.
    pub fn imports(&self) -> Vec<(String, String, String)> {
        self.inner.module.imports().map(|i| (i.module().to_owned(), i.name().to_owned(), describe(&i.ty()))).collect()
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<HostState> {
        &self.inner.pre
    }

    pub(crate) fn fuel(&self) -> bool {
        self.inner.fuel
    }

    pub(crate) fn deadline(&self) -> bool {
        self.inner.deadline
    }
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("abi", &self.inner.abi)
            .field("allocator", &self.inner.allocator)
            .field("size", &self.inner.size)
            .finish()
    }
}

/// The binary format of the file at `path`: its bytes, or for a `.wat` file (by extension only)
/// its text compiled.
pub fn binary(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    if !path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wat")) {
        return Ok(bytes);
    }
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Compile(String::from("a .wat file must be the WebAssembly text format, got binary data"))
    })?;
    wat::parse_str(text.strip_prefix('\u{feff}').unwrap_or(text)).map_err(|e| Error::Compile(format!("{e}")))
}

/// The first bytes of every module in the binary format.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Refuses bytes that are not the binary format, saying what they are instead.
fn check_magic(bytes: &[u8]) -> Result<(), Error> {
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(());
    }
    let got = match std::str::from_utf8(bytes) {
        _ if bytes.is_empty() => "an empty file",
        Ok(text) if text.trim_start_matches('\u{feff}').trim_start().starts_with("(module") => {
            "the WebAssembly text format (a file of it is read when its name ends in .wat)"
        }
        Ok(_) => "text",
        Err(_) => "binary data of another kind",
    };
    Err(Error::Compile(format!("not a Wasm module: expected the binary format (starting with \\0asm), got {got}")))
}

/// Names the import wasmtime could not satisfy, with the type the module expects.
fn link_error(module: &wasmtime::Module, error: &wasmtime::Error) -> Error {
    let text = format!("{error:#}");
    for import in module.imports() {
        let qualified = format!("{}::{}", import.module(), import.name());
        if text.contains(&qualified) {
            return Error::MissingImport {
                module: import.module().to_owned(),
                name: import.name().to_owned(),
                ty: describe(&import.ty()),
            };
        }
    }
    Error::Compile(text)
}

/// A readable type, e.g. `(func (param i32 i32) (result i32))`.
pub(crate) fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => {
            let params: Vec<String> = f.params().map(|p| p.to_string()).collect();
            let results: Vec<String> = f.results().map(|r| r.to_string()).collect();
            format!("(func (param {}) (result {}))", params.join(" "), results.join(" "))
        }
        ExternType::Memory(_) => String::from("(memory)"),
        ExternType::Table(_) => String::from("(table)"),
        ExternType::Global(_) => String::from("(global)"),
        ExternType::Tag(_) => String::from("(tag)"),
    }
}
