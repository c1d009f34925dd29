//! The WebSocket port: STOMP over WebSocket (upgrade on `/ws` or `/`, subprotocols
//! `v10.stomp`, `v11.stomp`, `v12.stomp`) and, for plain HTTP GETs, the greeting page.
//!
//! The HTTP request head is read and answered here (httparse), so that one port serves both
//! the page and the upgrade; the upgraded stream is handed to tungstenite.

#![allow(dead_code)] // shared with tests/broker.rs: each user takes the parts it needs

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stomp_proto::{Version, Versions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use crate::connection::{self, Shared, Transport};

/// The greeting page.
const INDEX_HTML: &str = include_str!("static/index.html");
/// Its script.
const APP_JS: &str = include_str!("static/app.js");
/// Where the page loads stompjs from.
pub const STOMPJS_URL_PATH: &str = "/stomp.umd.min.js";
/// The bundle inside an npm install of `@stomp/stompjs`.
const STOMPJS_BUNDLE: &str = "node_modules/@stomp/stompjs/bundles/stomp.umd.min.js";

/// Longest HTTP request head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The STOMP subprotocols, best first, with the versions each allows.
const SUBPROTOCOLS: [(&str, Version); 3] = [
    ("v12.stomp", Version::V1_2),
    ("v11.stomp", Version::V1_1),
    ("v10.stomp", Version::V1_0),
];

/// The request head, owned.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    /// Bytes read past the head (WebSocket frames a client sent early).
    rest: Vec<u8>,
}

impl Request {
    /// Every value of a header, comma-separated lists split, trimmed.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.values(name).any(|v| v.eq_ignore_ascii_case(token))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Serves one connection to the WebSocket port.
pub async fn serve(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let request = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(request))) => request,
        Ok(Ok(None)) => {
            respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                b"bad request\n",
                false,
            )
            .await;
            return;
        }
        Ok(Err(_)) | Err(_) => return,
    };
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_owned();
    if request.has_token("upgrade", "websocket") {
        if path != "/ws" && path != "/" {
            respond(
                &mut stream,
                "404 Not Found",
                "text/plain",
                b"STOMP over WebSocket is at /ws\n",
                false,
            )
            .await;
            return;
        }
        upgrade(shared, stream, peer, request, shutdown).await;
        return;
    }
    let head = request.method == "HEAD";
    let (status, content_type, body): (&str, &str, Vec<u8>) = if request.method != "GET" && !head {
        (
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n".to_vec(),
        )
    } else {
        match path.as_str() {
            "/" | "/index.html" => ("200 OK", "text/html; charset=utf-8", INDEX_HTML.into()),
            "/app.js" => ("200 OK", "text/javascript; charset=utf-8", APP_JS.into()),
            STOMPJS_URL_PATH => match find_stompjs().and_then(|p| std::fs::read(p).ok()) {
                Some(bundle) => ("200 OK", "text/javascript; charset=utf-8", bundle),
                None => (
                    "404 Not Found",
                    "text/plain",
                    format!(
                        "stomp.umd.min.js not found: run `npm install @stomp/stompjs` in the \
                         repository root (or the broker's working directory), or set \
                         STOMPJS_PATH to the file {STOMPJS_BUNDLE}\n"
                    )
                    .into_bytes(),
                ),
            },
            _ => ("404 Not Found", "text/plain", b"not found\n".to_vec()),
        }
    };
    println!("http: {peer} {} {path} {status}", request.method);
    respond(&mut stream, status, content_type, &body, head).await;
}

/// Where the stompjs bundle is: `$STOMPJS_PATH`, then `node_modules` in the current
/// directory, in the repository root, and in `tests/interop` (where the interop tests'
/// `npm install` puts it).
pub fn find_stompjs() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("STOMPJS_PATH").map(PathBuf::from),
        Some(PathBuf::from(STOMPJS_BUNDLE)),
        Some(root.join(STOMPJS_BUNDLE)),
        Some(root.join("tests/interop").join(STOMPJS_BUNDLE)),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Reads the request head; `None` when it is not HTTP or too long.
async fn read_head(stream: &mut TcpStream) -> io::Result<Option<Request>> {
    let mut buf = BytesMut::with_capacity(2048);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                return Ok(Some(Request {
                    method: request.method.unwrap_or_default().to_owned(),
                    path: request.path.unwrap_or_default().to_owned(),
                    headers: request
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    rest: buf[len..].to_vec(),
                }))
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) | Err(_) => return Ok(None),
        }
    }
}

/// Writes a whole response and closes.
async fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head: bool,
) {
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    if !head {
        let _ = stream.write_all(body).await;
    }
    let _ = stream.shutdown().await;
}

/// The subprotocol to answer with and the STOMP versions it allows: the highest offered one
/// we speak. Without an offer (or none we speak), no subprotocol and every version.
pub fn negotiate_subprotocol<'a>(
    offered: impl IntoIterator<Item = &'a str>,
) -> (Option<&'static str>, Versions) {
    let offered: Vec<&str> = offered.into_iter().collect();
    for (name, version) in SUBPROTOCOLS {
        if offered.iter().any(|o| o.eq_ignore_ascii_case(name)) {
            let versions = Versions::ALL
                .iter()
                .filter(|v| *v <= version)
                .fold(Versions::EMPTY, |set, v| set.with(v));
            return (Some(name), versions);
        }
    }
    (None, Versions::ALL)
}

/// Completes the WebSocket handshake and runs a STOMP session over it.
async fn upgrade(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    request: Request,
    shutdown: watch::Receiver<bool>,
) {
    let key = match request.header("sec-websocket-key") {
        Some(key) if request.method == "GET" => key.to_owned(),
        _ => {
            respond(
                &mut stream,
                "400 Bad Request",
                "text/plain",
                b"bad WebSocket handshake\n",
                false,
            )
            .await;
            return;
        }
    };
    if request.header("sec-websocket-version") != Some("13") {
        let _ = stream
            .write_all(
                b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\
                  Content-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let (subprotocol, versions) = negotiate_subprotocol(request.values("sec-websocket-protocol"));
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        derive_accept_key(key.as_bytes())
    );
    if let Some(subprotocol) = subprotocol {
        response.push_str(&format!("Sec-WebSocket-Protocol: {subprotocol}\r\n"));
    }
    response.push_str("\r\n");
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    // A WebSocket message may hold several frames; the session enforces the frame limits on
    // the byte stream, the message limit only bounds one read.
    let limits = shared.settings.server.get_limits();
    let max_message = limits.max_frame_len.saturating_add(64 * 1024);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let ws = WebSocketStream::from_partially_read(stream, request.rest, Role::Server, Some(config))
        .await;
    connection::run(
        shared,
        Transport::WebSocket(Box::new(ws), subprotocol),
        peer,
        Some(versions),
        shutdown,
    )
    .await;
}
