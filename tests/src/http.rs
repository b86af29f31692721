//! A minimal HTTP/1.1 server and client for loopback tests: enough for Envoy to talk to
//! (keep-alive, `content-length` and chunked bodies), small enough to read in one sitting.
//!
//! Every server binds 127.0.0.1 on a free port and stops when dropped; every read has a timeout,
//! so no test can hang on a silent peer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request or response as seen on the wire (header names lowercased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Request: `METHOD PATH`; response: the status code as text.
    pub start: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a handler answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

type Handler = dyn Fn(&Message) -> Reply + Send + Sync;

/// A loopback HTTP server that records every request it receives.
pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Message>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

const READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Message {
    /// The first value of a header (name lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The status code of a response.
    pub fn status(&self) -> u16 {
        self.start.parse().unwrap_or(0)
    }
}

impl Reply {
    /// A reply with a text body.
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, headers: vec![("content-type".into(), "text/plain".into())], body: body.as_bytes().to_vec() }
    }
}

impl Server {
    /// Starts a server answering every request with `handler`.
    pub fn start(handler: impl Fn(&Message) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            let (requests, handler, stop) = (requests.clone(), handler.clone(), stop.clone());
                            std::thread::spawn(move || serve(conn, &requests, handler.as_ref(), &stop));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self { addr, requests, stop, accept: Some(accept) }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Message> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(conn: TcpStream, requests: &Mutex<Vec<Message>>, handler: &Handler, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    while let Some(request) = read_message(&mut reader, stop) {
        let reply = handler(&request);
        if let Ok(mut r) = requests.lock() {
            r.push(request);
        }
        let mut out = format!("HTTP/1.1 {} X\r\ncontent-length: {}\r\n", reply.status, reply.body.len());
        for (k, v) in &reply.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend(&reply.body);
        if writer.write_all(&bytes).is_err() {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Reads one message; `None` on EOF, error, or when `stop` is set while idle.
fn read_message(reader: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<Message> {
    let mut line = String::new();
    let mut idle = Duration::ZERO;
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                idle += Duration::from_millis(200);
                if stop.load(Ordering::Relaxed) || idle > Duration::from_secs(120) {
                    return None;
                }
                if !line.is_empty() {
                    continue;
                }
            }
            Err(_) => return None,
        }
    }
    let start = line.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        read_line_patiently(reader, &mut h)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let mut message = Message { start, headers, body: Vec::new() };
    if let Some(len) = message.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        let mut body = vec![0u8; len];
        read_exact_patiently(reader, &mut body)?;
        message.body = body;
    } else if message.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            read_line_patiently(reader, &mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0u8; n + 2];
            read_exact_patiently(reader, &mut chunk)?;
            if n == 0 {
                break;
            }
            chunk.truncate(n);
            message.body.extend(chunk);
        }
    }
    // A response start line is "HTTP/1.1 200 OK": keep only the status code.
    if let Some(rest) = message.start.strip_prefix("HTTP/1.1 ") {
        message.start = rest.split(' ').next().unwrap_or("").to_owned();
    } else if let Some((method_path, _)) = message.start.rsplit_once(' ') {
        message.start = method_path.to_owned();
    }
    Some(message)
}

fn read_line_patiently(reader: &mut BufReader<TcpStream>, out: &mut String) -> Option<()> {
    let mut waited = Duration::ZERO;
    loop {
        match reader.read_line(out) {
            Ok(0) => return None,
            Ok(_) if out.ends_with('\n') => return Some(()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                waited += Duration::from_millis(200);
                if waited > READ_TIMEOUT {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

fn read_exact_patiently(reader: &mut BufReader<TcpStream>, buf: &mut [u8]) -> Option<()> {
    let mut filled = 0;
    let mut waited = Duration::ZERO;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return None,
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                waited += Duration::from_millis(200);
                if waited > READ_TIMEOUT {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
    Some(())
}

/// A keep-alive HTTP/1.1 client connection.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        conn.set_read_timeout(Some(Duration::from_millis(200)))?;
        conn.set_nodelay(true)?;
        Ok(Self { writer: conn.try_clone()?, reader: BufReader::new(conn) })
    }

    /// The connection's local port: what the server sees as the peer's port.
    pub fn local_port(&self) -> std::io::Result<u16> {
        Ok(self.writer.local_addr()?.port())
    }

    /// Sends a GET and reads the response; `host: meshlens.test` and `user-agent:
    /// meshlens-tests/1` unless `headers` has its own.
    pub fn get(&mut self, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Message> {
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut out = format!("GET {path} HTTP/1.1\r\n");
        if !has("host") {
            out.push_str("host: meshlens.test\r\n");
        }
        if !has("user-agent") {
            out.push_str("user-agent: meshlens-tests/1\r\n");
        }
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        self.writer.write_all(out.as_bytes())?;
        let never = AtomicBool::new(false);
        read_message(&mut self.reader, &never)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"))
    }
}

/// A one-shot POST of `body` on a new connection (`host: meshlens.test`, `content-length` set).
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> std::io::Result<Message> {
    let mut client = Client::connect(addr)?;
    let mut out = format!("POST {path} HTTP/1.1\r\nhost: meshlens.test\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    client.writer.write_all(out.as_bytes())?;
    client.writer.write_all(body)?;
    let never = AtomicBool::new(false);
    read_message(&mut client.reader, &never)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"))
}

/// A one-shot GET on a new connection.
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Message> {
    Client::connect(addr)?.get(path, headers)
}
