//! `cargo xtask package`: the module as an OCI image that Istio's Wasm image fetcher accepts,
//! written as an OCI image layout directory without a Docker engine.
//!
//! The image is the *compat* variant of the Wasm image specification (solo-io/wasm
//! `spec-compat.md`, which Istio's `pkg/wasm/imagefetcher.go` implements): an ordinary OCI image
//! whose single layer (`application/vnd.oci.image.layer.v1.tar+gzip`) is a tar holding
//! `plugin.wasm`. Every registry stores it like any container image, and Istio's fetcher tries
//! this variant first. The tar and gzip bytes are written here rather than by `tar`/`gzip`: no
//! timestamps, owners or tool versions reach the bytes, so the same module always gives the same
//! layer, config and manifest digests. SHA-256 comes from `sha256sum` (xtask has no
//! dependencies).
//!
//! Output: `target/oci/meshlens-edge-telemetry/` with `oci-layout`, `index.json` and
//! `blobs/sha256/<digest>` (manifest, config, layer), tagged with the workspace version.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The layout directory, relative to the repository root.
pub const LAYOUT_DIR: &str = "target/oci/meshlens-edge-telemetry";
/// The repository to push to, under the user's registry.
pub const REPOSITORY: &str = "meshlens/edge-telemetry";
/// The file name Istio's fetcher looks for inside the compat layer.
pub const PLUGIN_FILE: &str = "plugin.wasm";

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What `package` wrote: the digests (hex, no `sha256:` prefix) a deployment pins.
#[derive(Debug)]
pub struct Image {
    pub layout: PathBuf,
    pub version: String,
    /// The manifest digest: what `WasmPlugin.spec.sha256` must be for an `oci://` URL.
    pub manifest: String,
    /// The `.wasm` itself: what `sha256` pins for a `file://` or `https://` URL.
    pub wasm: String,
}

/// Builds the OCI image layout for `wasm` and prints the lines to paste into a `WasmPlugin`.
pub fn package(root: &Path, wasm: &Path) -> Result<Image, String> {
    let module = std::fs::read(wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let version = workspace_version(root)?;
    let layout = root.join(LAYOUT_DIR);
    if layout.exists() {
        std::fs::remove_dir_all(&layout).map_err(|e| format!("cannot clear {}: {e}", layout.display()))?;
    }
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| format!("cannot create {}: {e}", blobs.display()))?;

    let tar = tar_one_file(PLUGIN_FILE, &module);
    let diff_id = sha256(&tar)?;
    let layer = gzip_stored(&tar);
    let layer_digest = write_blob(&blobs, &layer)?;
    let config = format!(
        concat!(
            "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{}},",
            "\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"sha256:{}\"]}}}}"
        ),
        diff_id
    );
    let config_digest = write_blob(&blobs, config.as_bytes())?;
    let manifest = format!(
        concat!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{mt}\",",
            "\"config\":{{\"mediaType\":\"{ct}\",\"digest\":\"sha256:{cd}\",\"size\":{cs}}},",
            "\"layers\":[{{\"mediaType\":\"{lt}\",\"digest\":\"sha256:{ld}\",\"size\":{ls}}}],",
            "\"annotations\":{{\"org.opencontainers.image.title\":\"edge_telemetry.wasm\",",
            "\"org.opencontainers.image.version\":\"{v}\"}}}}"
        ),
        mt = MANIFEST_TYPE,
        ct = CONFIG_TYPE,
        cd = config_digest,
        cs = config.len(),
        lt = LAYER_TYPE,
        ld = layer_digest,
        ls = layer.len(),
        v = version,
    );
    let manifest_digest = write_blob(&blobs, manifest.as_bytes())?;
    let index = format!(
        concat!(
            "{{\"schemaVersion\":2,\"mediaType\":\"{it}\",\"manifests\":[{{\"mediaType\":\"{mt}\",",
            "\"digest\":\"sha256:{md}\",\"size\":{ms},",
            "\"annotations\":{{\"org.opencontainers.image.ref.name\":\"{v}\"}}}}]}}"
        ),
        it = INDEX_TYPE,
        mt = MANIFEST_TYPE,
        md = manifest_digest,
        ms = manifest.len(),
        v = version,
    );
    write(&layout.join("index.json"), index.as_bytes())?;
    write(&layout.join("oci-layout"), b"{\"imageLayoutVersion\":\"1.0.0\"}")?;

    let image = Image { layout, version, manifest: manifest_digest, wasm: sha256(&module)? };
    print_summary(root, &image, &layer_digest);
    Ok(image)
}

fn print_summary(root: &Path, image: &Image, layer: &str) {
    let shown = image.layout.strip_prefix(root).unwrap_or(&image.layout).display();
    println!("wrote the OCI image layout {shown} (Wasm image compat variant, tag {})", image.version);
    println!("  manifest digest: sha256:{}", image.manifest);
    println!("  layer digest:    sha256:{layer} (tar+gzip holding {PLUGIN_FILE})");
    println!("  module sha256:   {}", image.wasm);
    println!();
    println!("push it (no Docker engine needed):");
    println!("  skopeo copy oci:{shown}:{v} docker://<registry>/{REPOSITORY}:{v}", v = image.version);
    println!();
    println!("then in WasmPlugin.spec (for an oci:// URL Istio checks sha256 against the manifest digest):");
    println!("  url: oci://<registry>/{REPOSITORY}:{}", image.version);
    println!("  sha256: {}", image.manifest);
    println!("(for a file:// or https:// URL of the bare .wasm, sha256 is the module's: {})", image.wasm);
}

/// The `version` under `[workspace.package]` in the root `Cargo.toml`.
fn workspace_version(root: &Path) -> Result<String, String> {
    let path = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let section = text.split("[workspace.package]").nth(1).unwrap_or_default();
    section
        .lines()
        .take_while(|l| !l.trim_start().starts_with('['))
        .find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "version").then(|| value.trim().trim_matches('"').to_owned())
        })
        .ok_or_else(|| format!("no version under [workspace.package] in {}", path.display()))
}

/// Writes `bytes` as `blobs/sha256/<digest>`; returns the hex digest.
fn write_blob(blobs: &Path, bytes: &[u8]) -> Result<String, String> {
    let digest = sha256(bytes)?;
    write(&blobs.join(&digest), bytes)?;
    Ok(digest)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The SHA-256 of `bytes` as lowercase hex, from `sha256sum` (coreutils).
fn sha256(bytes: &[u8]) -> Result<String, String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run sha256sum ({e}); it is part of coreutils"))?;
    let mut stdin = child.stdin.take().ok_or("sha256sum: no stdin")?;
    // Written from a thread so a full stdout pipe cannot deadlock the write.
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().map_err(|e| format!("sha256sum: {e}"))?;
    writer.join().map_err(|_| "sha256sum: writer panicked")?.map_err(|e| format!("sha256sum: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.split_whitespace().next().unwrap_or_default();
    if out.status.success() && hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_owned())
    } else {
        Err(format!("sha256sum failed ({}): {text}", out.status))
    }
}

/// A POSIX ustar archive with one regular file: mode 0644, owner 0:0, mtime 0, no user names.
fn tar_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let put = |header: &mut [u8; 512], offset: usize, field: &[u8]| {
        if let Some(slot) = header.get_mut(offset..offset + field.len()) {
            slot.copy_from_slice(field);
        }
    };
    put(&mut header, 0, name.as_bytes()); // name
    put(&mut header, 100, b"0000644\0"); // mode
    put(&mut header, 108, b"0000000\0"); // uid
    put(&mut header, 116, b"0000000\0"); // gid
    put(&mut header, 124, format!("{:011o}\0", data.len()).as_bytes()); // size
    put(&mut header, 136, b"00000000000\0"); // mtime
    put(&mut header, 148, b"        "); // checksum, counted as spaces
    put(&mut header, 156, b"0"); // regular file
    put(&mut header, 257, b"ustar\0"); // magic
    put(&mut header, 263, b"00"); // version
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header, 148, format!("{sum:06o}\0 ").as_bytes());

    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
    out.resize(out.len() + 1024, 0); // two zero blocks end the archive
    out
}

/// A gzip member (RFC 1952) of `data` in stored deflate blocks (RFC 1951 BTYPE=00): no
/// compression, so no compressor version can change the bytes; mtime 0, no file name.
fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(usize::from(u16::MAX)).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes()); // ISIZE is the length mod 2^32
    out
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as gzip's trailer needs it.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn tar_header_checksum_and_padding() {
        let tar = tar_one_file("plugin.wasm", b"\0asm");
        assert_eq!(tar.len(), 512 + 512 + 1024);
        let sum: u32 =
            tar[..512].iter().enumerate().map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u32::from(b) }).sum();
        assert_eq!(&tar[148..156], format!("{sum:06o}\0 ").as_bytes());
    }
}
