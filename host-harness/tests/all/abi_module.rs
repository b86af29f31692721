//! Loading a module: ABI detection, linking every import by module, name and exact type, and the
//! allocator export the host uses.

use host_harness::{AbiVersion, CompileOptions, Error, Host};

use crate::guest::{self, Parts, one};

/// A module with nothing but `imports`, memory, the 0.2.1 marker and an allocator.
fn bare(imports: &str) -> String {
    format!(
        r#"(module {imports}
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0)))"#
    )
}

#[test]
fn every_abi_0_2_1_host_function_links_with_its_exact_signature() {
    let module = guest::module("");
    let env: Vec<String> =
        module.imports().into_iter().filter(|(m, _, _)| m == "env").map(|(_, name, _)| name).collect();
    assert_eq!(env.len(), 39, "the spec's 39 env functions: {env:?}");
    assert_eq!(module.abi(), AbiVersion::V0_2_1);
    Host::builder(&module).build().unwrap();
}

#[test]
fn an_import_the_host_does_not_provide_is_named_with_its_type() {
    let error = guest::compile(
        &bare(r#"(import "env" "proxy_not_a_hostcall" (func (param i32) (result i32)))"#),
        CompileOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error,
        Error::MissingImport {
            module: "env".to_owned(),
            name: "proxy_not_a_hostcall".to_owned(),
            ty: "(func (param i32) (result i32))".to_owned(),
        }
    );
}

#[test]
fn an_import_with_the_wrong_signature_is_named_with_its_type() {
    let error = guest::compile(
        &bare(r#"(import "env" "proxy_log" (func (param i32 i32) (result i32)))"#),
        CompileOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error,
        Error::MissingImport {
            module: "env".to_owned(),
            name: "proxy_log".to_owned(),
            ty: "(func (param i32 i32) (result i32))".to_owned(),
        }
    );
}

#[test]
fn abi_0_1_0_and_no_abi_are_refused() {
    let old = Parts { abi_export: Some("proxy_abi_version_0_1_0"), ..Parts::default() };
    let error = guest::compile(&guest::wat_with(old, ""), CompileOptions::default()).unwrap_err();
    assert!(matches!(&error, Error::UnsupportedAbi(m) if m.contains("0.1.0")), "{error:?}");

    let none = Parts { abi_export: None, ..Parts::default() };
    let error = guest::compile(&guest::wat_with(none, ""), CompileOptions::default()).unwrap_err();
    assert!(matches!(error, Error::UnsupportedAbi(_)), "{error:?}");
}

#[test]
fn abi_0_2_0_is_accepted() {
    let parts = Parts { abi_export: Some("proxy_abi_version_0_2_0"), ..Parts::default() };
    let module = guest::compile(&guest::wat_with(parts, ""), CompileOptions::default()).unwrap();
    assert_eq!(module.abi(), AbiVersion::V0_2_0);
    Host::builder(&module).build().unwrap();
}

#[test]
fn the_host_allocates_through_malloc_when_that_is_the_export() {
    let parts = Parts { allocator_export: "malloc", ..Parts::default() };
    let text = guest::wat_with(
        parts,
        r#"
  (func (export "proxy_on_vm_start") (param $root i32) (param $size i32) (result i32)
    (drop (call $get_buffer (i32.const 6) (i32.const 0) (local.get $size)))
    (call $log_ret (str "config"))
    (i32.const 1))
"#,
    );
    let module = guest::compile(&text, CompileOptions::default()).unwrap();
    assert_eq!(module.allocator(), "malloc");
    let host = Host::builder(&module).vm_config("through malloc").build().unwrap();
    assert_eq!(one(&host, "config"), "through malloc");

    assert_eq!(guest::module("").allocator(), "proxy_on_memory_allocate");
}

#[test]
fn a_module_without_an_allocator_is_refused() {
    let text = r#"(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))"#;
    let error = guest::compile(text, CompileOptions::default()).unwrap_err();
    assert!(matches!(&error, Error::MissingExport(m) if m.contains("malloc")), "{error:?}");
}

/// Only the binary format is compiled; text is the WebAssembly text format only in a `.wat`
/// file (by its extension), and anything else is named for what it is.
#[test]
fn a_module_is_recognised_by_its_magic_number_and_text_by_its_extension() {
    let expected =
        "cannot compile the module: not a Wasm module: expected the binary format (starting with \\0asm), got";
    for (bytes, got) in [
        (&b"(module)"[..], "the WebAssembly text format (a file of it is read when its name ends in .wat)"),
        (b"{\"routes\": []}", "text"),
        (&[0x7f, b'E', b'L', b'F', 0xff, 0], "binary data of another kind"),
        (b"", "an empty file"),
    ] {
        let error = host_harness::Module::new(bytes).unwrap_err().to_string();
        assert_eq!(error, format!("{expected} {got}"), "{bytes:?}");
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("module-by-extension");
    std::fs::create_dir_all(&dir).unwrap();
    let text = guest::wat("");
    std::fs::write(dir.join("guest.wat"), format!("\u{feff}{text}")).unwrap();
    let module = host_harness::Module::from_file(dir.join("guest.wat")).unwrap();
    assert_eq!(module.abi(), AbiVersion::V0_2_1);
    std::fs::write(dir.join("guest.wasm"), &text).unwrap();
    let error = host_harness::Module::from_file(dir.join("guest.wasm")).unwrap_err().to_string();
    assert!(error.contains("got the WebAssembly text format"), "{error}");
    std::fs::write(dir.join("binary.wat"), wat::parse_str(&text).unwrap()).unwrap();
    host_harness::Module::from_file(dir.join("binary.wat")).unwrap();
}
