//! `cargo xtask playground`: the browser playground. Builds `meshlens-playground` for
//! `wasm32-unknown-unknown` (profile `browser`: release, optimised for size), runs
//! `wasm-bindgen --target web` into `target/playground/pkg/`, copies the static page from
//! `filters/playground/www/` next to it, and serves `target/playground/` on 127.0.0.1 with the
//! small static file server below.
//!
//! Plain `std`, no dependencies, and nothing from the rest of xtask: tests may include this file
//! with `#[path]` and call [`build`] (or run `cargo xtask playground --build-only`). [`build`]
//! expects the `wasm32-unknown-unknown` target installed (`cargo xtask playground` adds it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The wasm-bindgen CLI must be the version of the `wasm-bindgen` crate the playground uses.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// The port served when `--port` is not given.
pub const DEFAULT_PORT: u16 = 8088;

/// The target the playground is built for.
pub const TARGET: &str = "wasm32-unknown-unknown";

/// The cargo profile of the browser build (root `Cargo.toml`).
pub const PROFILE: &str = "browser";

/// The environment variable naming a wasm-bindgen CLI to use instead of `target/tools`.
pub const WASM_BINDGEN_ENV: &str = "MESHLENS_WASM_BINDGEN";

/// The longest request head the server reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// `cargo xtask playground [--port N] [--build-only]`.
pub fn main(root: &Path, args: &[String]) -> Result<(), String> {
    let mut port = DEFAULT_PORT;
    let mut build_only = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--build-only" => build_only = true,
            "--port" => {
                let value = rest.next().ok_or("--port needs a number (0: any free port)")?;
                port = value.parse().map_err(|_| format!("--port {value}: not a port number"))?;
            }
            other => return Err(format!("playground: unknown argument `{other}` (--port N, --build-only)")),
        }
    }
    let site = build(root)?;
    if build_only {
        return Ok(());
    }
    let listener =
        TcpListener::bind(("127.0.0.1", port)).map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    println!("playground: http://127.0.0.1:{port}/");
    let _ = std::io::stdout().flush();
    serve(&listener, &site)
}

/// Builds the playground into `target/playground/` and returns that directory: the `.wasm`, its
/// JavaScript glue and `.d.ts` in `pkg/`, the page beside it.
pub fn build(root: &Path) -> Result<PathBuf, String> {
    let target = target_dir(root);
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(root).args(["build", "--profile", PROFILE, "--target", TARGET, "-p", "meshlens-playground"]);
    run(&mut cargo)?;
    let wasm = target.join(TARGET).join(PROFILE).join("meshlens_playground.wasm");
    let bindgen = wasm_bindgen(root)?;
    let site = target.join("playground");
    let pkg = site.join("pkg");
    if pkg.exists() {
        std::fs::remove_dir_all(&pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    }
    let flags = ["--target", "web", "--remove-name-section", "--remove-producers-section", "--out-dir"];
    run(Command::new(&bindgen).args(flags).arg(&pkg).arg(&wasm))?;
    copy_dir(&root.join("filters/playground/www"), &site)?;
    let bg = pkg.join("meshlens_playground_bg.wasm");
    let size = std::fs::metadata(&bg).map_err(|e| format!("{}: {e}", bg.display()))?.len();
    let gzip = gzip_size(&bg).map_or_else(String::new, |n| format!(", {:.1} KB gzip -9", n as f64 / 1024.0));
    println!("built {} ({:.1} KB{gzip})", bg.display(), size as f64 / 1024.0);
    Ok(site)
}

/// The wasm-bindgen CLI of [`WASM_BINDGEN_VERSION`]: `$MESHLENS_WASM_BINDGEN` when set, else
/// `target/tools/bin/wasm-bindgen`, installed there with `cargo install` when missing or of
/// another version.
pub fn wasm_bindgen(root: &Path) -> Result<PathBuf, String> {
    let wanted = format!("wasm-bindgen {WASM_BINDGEN_VERSION}");
    let version = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    if let Some(bin) = std::env::var_os(WASM_BINDGEN_ENV).map(PathBuf::from) {
        let found = version(&bin);
        if found != wanted {
            return Err(format!("${WASM_BINDGEN_ENV} ({}) is `{found}`, not {wanted}", bin.display()));
        }
        return Ok(bin);
    }
    let tools = target_dir(root).join("tools");
    let bin = tools.join("bin").join("wasm-bindgen");
    if version(&bin) == wanted {
        return Ok(bin);
    }
    println!("installing wasm-bindgen-cli {WASM_BINDGEN_VERSION} into {}", tools.display());
    let install = |locked: bool| {
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(root)
            .args(["install", "--no-default-features", "--root"])
            .arg(&tools)
            .args(["--version", &format!("={WASM_BINDGEN_VERSION}"), "wasm-bindgen-cli"])
            .args(locked.then_some("--locked"))
            .status()
            .is_ok_and(|s| s.success())
    };
    // The crate's own lock file names webpki-roots 1.0.11, which this machine's registry does not
    // serve (yanked or not mirrored), so `--locked` fails here; the CLI's version stays pinned
    // either way, and only its dependencies resolve afresh.
    let installed = install(true) || {
        println!("`cargo install --locked` failed; installing with freshly resolved dependencies");
        install(false)
    };
    if !installed || version(&bin) != wanted {
        return Err(format!(
            "`cargo install --no-default-features --root {} --version ={WASM_BINDGEN_VERSION} \
             wasm-bindgen-cli` failed (is crates.io reachable?); or set ${WASM_BINDGEN_ENV} to a wasm-bindgen \
             {WASM_BINDGEN_VERSION} binary",
            tools.display()
        ));
    }
    Ok(bin)
}

/// Serves the files under `site` on `listener`, one thread per connection, until the process
/// ends. GET and HEAD only; one request per connection.
pub fn serve(listener: &TcpListener, site: &Path) -> Result<(), String> {
    let site = site.canonicalize().map_err(|e| format!("{}: {e}", site.display()))?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let site = site.clone();
        std::thread::spawn(move || {
            let _ = answer(stream, &site);
        });
    }
    Ok(())
}

/// The content type of a file served, by its extension.
pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("ts" | "txt" | "md") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// The file a request target names under `site`, `None` when it names none there: the query is
/// ignored, `%XX` is decoded, a target ending in `/` means its `index.html`, and `..`, a
/// backslash, a NUL or anything that is not a plain path segment is refused.
pub fn resolve(site: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = percent_decode(path.strip_prefix('/')?)?;
    let mut file = site.to_path_buf();
    for segment in path.split('/') {
        if segment.contains(['\\', '\0']) {
            return None;
        }
        match Path::new(segment).components().next() {
            None => {}
            Some(Component::Normal(_)) if Path::new(segment).components().count() == 1 => file.push(segment),
            Some(_) => return None,
        }
    }
    if path.is_empty() || path.ends_with('/') {
        file.push("index.html");
    }
    Some(file)
}

/// Answers one connection.
fn answer(stream: TcpStream, site: &Path) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(MAX_REQUEST_HEAD as u64);
    let mut head = Vec::new();
    // The head ends at the empty line; longer than the bound, the request is refused.
    loop {
        let before = head.len();
        let n = reader.read_until(b'\n', &mut head)?;
        if n == 0 {
            let status =
                if head.len() >= MAX_REQUEST_HEAD { "431 Request Header Fields Too Large" } else { "400 Bad Request" };
            // What the client still sends is read and dropped (a bounded amount, briefly), so
            // closing does not reset the connection before it reads the answer.
            stream.set_read_timeout(Some(Duration::from_millis(200)))?;
            let _ = std::io::copy(&mut reader.into_inner().take(1 << 20), &mut std::io::sink());
            return reply(stream, status, "text/plain; charset=utf-8", status.as_bytes(), true);
        }
        if head.get(before..).is_some_and(|line| line == b"\r\n" || line == b"\n") {
            break;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut request_line = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (request_line.next().unwrap_or_default(), request_line.next().unwrap_or_default());
    let body = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        return reply(stream, "405 Method Not Allowed", "text/plain; charset=utf-8", b"GET or HEAD only", true);
    }
    let file = resolve(site, target).and_then(|f| f.canonicalize().ok()).filter(|f| f.starts_with(site) && f.is_file());
    match file.and_then(|f| std::fs::read(&f).ok().map(|bytes| (f, bytes))) {
        Some((file, bytes)) => reply(stream, "200 OK", content_type(&file), &bytes, body),
        None => reply(stream, "404 Not Found", "text/plain; charset=utf-8", b"not found", body),
    }
}

fn reply(mut stream: TcpStream, status: &str, content_type: &str, bytes: &[u8], body: bool) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-store\r\n\
         x-content-type-options: nosniff\r\nconnection: close\r\n\r\n",
        bytes.len()
    );
    stream.write_all(head.as_bytes())?;
    if body {
        stream.write_all(bytes)?;
    }
    stream.flush()
}

/// `%XX` decoded; `None` for a malformed escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Copies the files of `from` into `to`, subdirectories included.
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| format!("{}: {e}", to.display()))?;
    for entry in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", from.display()))?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_dir(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest).map_err(|e| format!("{} -> {}: {e}", source.display(), dest.display()))?;
        }
    }
    Ok(())
}

/// The size of `file` compressed with `gzip -9`, when gzip is installed.
fn gzip_size(file: &Path) -> Option<usize> {
    let out = Command::new("gzip").args(["-9", "-c"]).arg(file).output().ok()?;
    out.status.success().then_some(out.stdout.len())
}

/// `$CARGO_TARGET_DIR` (relative to the root), else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

/// Runs a command, inheriting stdio; an error names it and its exit status.
fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd.status().map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{shown} failed ({status})")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_resolve_inside_the_site_only() {
        let site = Path::new("/srv/site");
        assert_eq!(resolve(site, "/"), Some(site.join("index.html")));
        assert_eq!(resolve(site, "/?preset=1"), Some(site.join("index.html")));
        assert_eq!(resolve(site, "/pkg/meshlens_playground.js"), Some(site.join("pkg/meshlens_playground.js")));
        assert_eq!(resolve(site, "/pkg/"), Some(site.join("pkg/index.html")));
        assert_eq!(resolve(site, "/a%20b.txt"), Some(site.join("a b.txt")));
        for bad in [
            "/../etc/passwd",
            "/pkg/../../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/pkg/%2e%2e%2f%2e%2e/x",
            "/..%5c..%5cx",
            "/a%00b",
            "/%zz",
            "relative",
            "",
            "//etc/passwd",
        ] {
            let resolved = resolve(site, bad);
            assert!(
                resolved.as_ref().is_none_or(|p| p.starts_with(site) && !p.to_string_lossy().contains("..")),
                "{bad}: {resolved:?}"
            );
        }
        assert_eq!(resolve(site, "/../etc/passwd"), None);
        assert_eq!(resolve(site, "/%2e%2e/etc/passwd"), None);
    }

    #[test]
    fn content_types_of_the_files_served() {
        assert_eq!(content_type(Path::new("index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type(Path::new("pkg/meshlens_playground.js")), "text/javascript; charset=utf-8");
        assert_eq!(content_type(Path::new("pkg/meshlens_playground_bg.wasm")), "application/wasm");
        assert_eq!(content_type(Path::new("pkg/meshlens_playground.d.ts")), "text/plain; charset=utf-8");
        assert_eq!(content_type(Path::new("LICENSE")), "application/octet-stream");
    }

    /// One request to a server on `site`, the raw answer.
    fn get(site: &Path, request: &[u8]) -> String {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let site = site.to_path_buf();
        std::thread::spawn(move || serve(&listener, &site));
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[test]
    fn the_server_answers_files_and_refuses_the_rest() {
        let dir = std::env::temp_dir().join(format!("meshlens-playground-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("site/pkg")).unwrap();
        std::fs::write(dir.join("site/index.html"), "<p>hi</p>").unwrap();
        std::fs::write(dir.join("site/pkg/m_bg.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("secret.txt"), "secret").unwrap();
        let site = dir.join("site");
        let ok = get(&site, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.contains("content-type: text/html; charset=utf-8"), "{ok}");
        assert!(ok.ends_with("\r\n\r\n<p>hi</p>") && ok.contains("content-length: 9\r\n"), "{ok}");
        let wasm = get(&site, b"GET /pkg/m_bg.wasm HTTP/1.1\r\n\r\n");
        assert!(wasm.contains("content-type: application/wasm\r\n"), "{wasm}");
        let head = get(&site, b"HEAD /index.html HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"), "{head}");
        for traversal in ["/../secret.txt", "/%2e%2e/secret.txt", "/pkg/%2e%2e/%2e%2e/secret.txt"] {
            let answer = get(&site, format!("GET {traversal} HTTP/1.1\r\n\r\n").as_bytes());
            assert!(answer.starts_with("HTTP/1.1 404") && !answer.contains("secret"), "{traversal}: {answer}");
        }
        assert!(get(&site, b"POST / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let huge = format!("GET / HTTP/1.1\r\nx: {}\r\n\r\n", "a".repeat(MAX_REQUEST_HEAD));
        assert!(get(&site, huge.as_bytes()).starts_with("HTTP/1.1 431"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
