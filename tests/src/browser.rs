//! Headless Chromium from Debian (`chromium`), driven through ChromeDriver (`chromium-driver`)
//! over the W3C WebDriver protocol (<https://www.w3.org/TR/webdriver2/>): enough to load a page,
//! read and click its DOM, run a script, collect what the browser logged, and take a screenshot.
//!
//! The client is plain HTTP/1.1 on 127.0.0.1 (one request per connection, every read bounded),
//! like the rest of the test support: no async runtime, no crate that downloads a browser.
//! Chromium starts with the flags that keep it off the network (no background networking,
//! component updates or sync), in a fresh profile directory removed on drop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use meshlens_tests_process::{Process, Ready};
use serde_json::{Value, json};

use crate::envoy::free_port;

/// The W3C element reference key (WebDriver 12.1, "web element identifier").
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long one WebDriver command may take (a navigation waits for the page's load event).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Chromium (`$MESHLENS_CHROMIUM`, else `/usr/bin/chromium` from Debian's `chromium`).
pub fn chromium() -> PathBuf {
    tool("MESHLENS_CHROMIUM", "chromium", "Chromium (run `cargo xtask test` as root, or `apt-get install -y chromium`)")
}

/// ChromeDriver (`$MESHLENS_CHROMEDRIVER`, else `/usr/bin/chromedriver` from `chromium-driver`).
pub fn chromedriver() -> PathBuf {
    tool(
        "MESHLENS_CHROMEDRIVER",
        "chromedriver",
        "ChromeDriver (run `cargo xtask test` as root, or `apt-get install -y chromium-driver`)",
    )
}

fn tool(var: &str, name: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or_else(|| Path::new("/usr/bin").join(name), PathBuf::from);
    assert!(path.is_file(), "missing {what}: expected at {}", path.display());
    path
}

/// The built playground (`$MESHLENS_PLAYGROUND`, else `target/playground/`, which
/// `cargo xtask playground --build-only` writes and `cargo xtask test` builds before the tests).
pub fn playground_dir() -> PathBuf {
    let dir = std::env::var_os("MESHLENS_PLAYGROUND")
        .map_or_else(|| crate::paths::repo_root().join("target/playground"), PathBuf::from);
    assert!(
        dir.join("index.html").is_file() && dir.join("pkg").is_dir(),
        "missing the built playground in {} (run `cargo xtask playground --build-only`)",
        dir.display()
    );
    dir
}

/// Serves the files under `dir` on 127.0.0.1 (GET only, no listing, nothing outside `dir`), with
/// the content types a browser needs for ES modules and `WebAssembly.instantiateStreaming`.
pub fn serve_dir(dir: &Path) -> crate::http::Server {
    let dir = dir.to_path_buf();
    crate::http::Server::start(move |m| {
        let path = m.start.strip_prefix("GET ").unwrap_or_default();
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let path = if path.ends_with('/') { format!("{path}index.html") } else { path.to_owned() };
        if path.split('/').any(|part| part == "..") {
            return crate::http::Reply::text(400, "bad path");
        }
        let file = dir.join(path.trim_start_matches('/'));
        let kind = match file.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript",
            Some("css") => "text/css",
            Some("wasm") => "application/wasm",
            Some("json") => "application/json",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        match std::fs::read(&file) {
            Ok(body) => crate::http::Reply { status: 200, headers: vec![("content-type".into(), kind.into())], body },
            Err(_) => crate::http::Reply::text(404, "not found"),
        }
    })
}

/// Where the browser tests save their screenshots (`target/browser/`), created on first use.
pub fn artifacts_dir() -> PathBuf {
    let dir = crate::paths::repo_root().join("target/browser");
    std::fs::create_dir_all(&dir).expect("create target/browser");
    dir
}

/// One headless Chromium session; the browser and its driver stop when dropped.
pub struct Browser {
    driver: Process,
    addr: SocketAddr,
    session: String,
    profile: PathBuf,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

/// A browser log entry (console messages, uncaught exceptions, failed loads).
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// `SEVERE`, `WARNING`, `INFO`, ...
    pub level: String,
    pub message: String,
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium session with a
    /// `width` x `height` window.
    pub fn start(width: u32, height: u32) -> Self {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = std::env::temp_dir().join(format!("meshlens-browser-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the browser's temporary directory");
        let profile = dir.join("profile");
        let mut cmd = Command::new(chromedriver());
        cmd.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1");
        let driver = Process::start("chromedriver", cmd, &dir.join("chromedriver.log"), &[Ready::Port(addr)], secs(20))
            .unwrap_or_else(|e| panic!("{e}"));
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--hide-scrollbars".to_owned(),
            "--force-device-scale-factor=1".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium(), "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = request(addr, "POST", "/session", Some(&caps)).unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
            panic!("cannot start a Chromium session: {e}\nchromedriver log:\n{log}")
        });
        let session = created["sessionId"].as_str().expect("sessionId in the new session's answer").to_owned();
        Self { driver, addr, session, profile: dir }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("/session/{}{path}", self.session);
        request(self.addr, method, &url, body).unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Loads `url` and waits for its load event.
    pub fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({"url": url})));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.command("GET", "/url", None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` as a function body with `args` (`arguments[i]`) and returns its value.
    pub fn script(&self, script: &str, args: &[Value]) -> Value {
        self.command("POST", "/execute/sync", Some(&json!({"script": script, "args": args})))
    }

    /// Runs `script` as an asynchronous function body: it calls its last argument with the
    /// result (WebDriver's "Execute Async Script").
    pub fn script_async(&self, script: &str, args: &[Value]) -> Value {
        self.command("POST", "/execute/async", Some(&json!({"script": script, "args": args})))
    }

    /// Every element matching the CSS `selector`, in document order.
    pub fn find_all(&self, selector: &str) -> Vec<Element<'_>> {
        let found = self.command("POST", "/elements", Some(&json!({"using": "css selector", "value": selector})));
        found.as_array().map(|all| all.iter().map(|e| self.element(e)).collect()).unwrap_or_default()
    }

    /// The first element matching `selector`, waiting up to `timeout` for it to appear.
    pub fn wait_for(&self, selector: &str, timeout: Duration) -> Element<'_> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(first) = self.find_all(selector).into_iter().next() {
                return first;
            }
            assert!(Instant::now() < deadline, "no element matches `{selector}` after {timeout:?} on {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `script` (a function body) returns `true`, up to `timeout`.
    pub fn wait_until(&self, script: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.script(script, &[]) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "`{script}` still not true after {timeout:?} on {}", self.url());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, reference: &Value) -> Element<'_> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not a web element reference: {reference}"))
            .to_owned();
        Element { browser: self, id }
    }

    /// What the browser logged since the last call: console messages, uncaught exceptions and
    /// failed resource loads (ChromeDriver's `browser` log).
    pub fn logs(&self) -> Vec<LogEntry> {
        let entries = self.command("POST", "/se/log", Some(&json!({"type": "browser"})));
        let entries = entries.as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|e| LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// The `SEVERE` entries of [`Browser::logs`]: errors a user's console would show in red.
    pub fn console_errors(&self) -> Vec<String> {
        self.logs().into_iter().filter(|e| e.level == "SEVERE").map(|e| e.message).collect()
    }

    /// Saves a screenshot of the whole page (beyond the window, through the DevTools protocol's
    /// `Page.captureScreenshot`) as PNG to `path`.
    pub fn screenshot(&self, path: &Path) {
        self.screenshot_top(path, 12_000.0);
    }

    /// [`Browser::screenshot`] of the page's first `max_height` CSS pixels.
    pub fn screenshot_top(&self, path: &Path, max_height: f64) {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({}));
        let size = &metrics["cssContentSize"];
        let width = size["width"].as_f64().unwrap_or(1280.0);
        let height = size["height"].as_f64().unwrap_or(800.0).min(max_height);
        let shot = self.cdp(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}),
        );
        let png = base64_decode(shot["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// A DevTools protocol command through ChromeDriver.
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.command("POST", "/goog/cdp/execute", Some(&json!({"cmd": cmd, "params": params})))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = request(self.addr, "DELETE", &path, None);
        let _ = &self.driver;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Element<'_> {
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.browser.command(method, &format!("/element/{}{path}", self.id), body)
    }

    /// The element's rendered text.
    pub fn text(&self) -> String {
        self.command("GET", "/text", None).as_str().unwrap_or_default().to_owned()
    }

    /// An attribute's value (`None` when absent).
    pub fn attr(&self, name: &str) -> Option<String> {
        self.command("GET", &format!("/attribute/{name}"), None).as_str().map(str::to_owned)
    }

    /// A DOM property's value (`value` of an input, `checked`, ...).
    pub fn property(&self, name: &str) -> Value {
        self.command("GET", &format!("/property/{name}"), None)
    }

    /// The element's position and size in CSS pixels.
    pub fn rect(&self) -> (f64, f64, f64, f64) {
        let r = self.command("GET", "/rect", None);
        let get = |k: &str| r[k].as_f64().unwrap_or(0.0);
        (get("x"), get("y"), get("width"), get("height"))
    }

    /// Clicks the element.
    pub fn click(&self) {
        self.command("POST", "/click", Some(&json!({})));
    }

    /// Empties an input or textarea.
    pub fn clear(&self) {
        self.command("POST", "/clear", Some(&json!({})));
    }

    /// Types `text` into the element, as key presses.
    pub fn send_keys(&self, text: &str) {
        self.command("POST", "/value", Some(&json!({"text": text})));
    }

    /// The elements matching `selector` inside this one.
    pub fn find_all(&self, selector: &str) -> Vec<Element<'_>> {
        let found = self.command("POST", "/elements", Some(&json!({"using": "css selector", "value": selector})));
        found.as_array().map(|all| all.iter().map(|e| self.browser.element(e)).collect()).unwrap_or_default()
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One WebDriver command: a request on a new connection (`connection: close`), the answer's
/// `value`, or the WebDriver error (`error`, `message`) as text.
fn request(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut conn = TcpStream::connect_timeout(&addr, secs(5)).map_err(|e| e.to_string())?;
    conn.set_read_timeout(Some(COMMAND_TIMEOUT)).map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).and_then(|()| conn.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
    let payload = read_answer(&mut conn)?;
    let answer: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&payload)))?;
    let value = answer.get("value").cloned().unwrap_or(Value::Null);
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Err(format!("{error}: {}", value["message"].as_str().unwrap_or_default()));
    }
    Ok(value)
}

/// Reads one HTTP/1.1 answer's body: by `content-length`, chunked, or to the end (ChromeDriver
/// may keep the connection open despite `connection: close`, so the end is not awaited when the
/// length is known).
fn read_answer(conn: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    let split = loop {
        if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break split + 4;
        }
        let n = conn.read(&mut buf).map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            return Err(String::from("the connection closed before the answer's headers"));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')).map(|v| v.trim().to_owned()))
    };
    let mut body = raw.split_off(split);
    if let Some(length) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < length {
            let n = conn.read(&mut buf).map_err(|e| format!("reading the answer: {e}"))?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
        body.truncate(length);
        return Ok(body);
    }
    let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
    while !(chunked && body.ends_with(b"0\r\n\r\n")) {
        let n = conn.read(&mut buf).map_err(|e| format!("reading the answer: {e}"))?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(if chunked { dechunk(&body) } else { body })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// Standard base64 (RFC 4648 section 4), as ChromeDriver encodes screenshots.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_decodes_rfc4648_vectors() {
        for (plain, coded) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")] {
            assert_eq!(super::base64_decode(coded), plain.as_bytes());
        }
    }
}
