//! The greeting application: the server side of the classic "interactive web application
//! over WebSocket" demo, as a message-mapped handler.
//!
//! A SEND to `/app/hello` with a JSON body `{"name": "..."}` is not routed to a destination:
//! [`hello`] answers it by publishing `{"content": "Hello, <name>!"}` to `/topic/greetings`,
//! the name HTML-escaped so that a page may show it safely.

#![allow(dead_code)] // shared with tests/broker.rs: each user takes the parts it needs

use bytes::Bytes;
use serde_json::Value;

use crate::broker::Publish;

/// Where greetings go.
pub const GREETINGS: &str = "/topic/greetings";

/// A handler of messages sent to one application destination: the messages it publishes in
/// reply, or why it refused the message.
type Handler = fn(&[u8]) -> Result<Vec<Publish>, String>;

/// The application destinations and their handlers (the `@MessageMapping` table).
const MAPPINGS: &[(&str, Handler)] = &[("/app/hello", hello)];

/// Whether `destination` is an application destination.
pub fn is_mapped(destination: &[u8]) -> bool {
    MAPPINGS
        .iter()
        .any(|(mapped, _)| mapped.as_bytes() == destination)
}

/// Runs the handler of `destination` on a message body.
pub fn handle(destination: &[u8], body: &[u8]) -> Result<Vec<Publish>, String> {
    let (_, handler) = MAPPINGS
        .iter()
        .find(|(mapped, _)| mapped.as_bytes() == destination)
        .ok_or_else(|| format!("no handler for {:?}", String::from_utf8_lossy(destination)))?;
    handler(body)
}

/// `/app/hello`: `{"name": "..."}` → `{"content": "Hello, <name>!"}` on `/topic/greetings`.
pub fn hello(body: &[u8]) -> Result<Vec<Publish>, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("/app/hello expects JSON: {e}"))?;
    let name = match request.get("name") {
        Some(Value::String(name)) => name.as_str(),
        Some(Value::Null) | None => "",
        Some(_) => return Err("/app/hello: \"name\" must be a string".into()),
    };
    let content = format!("Hello, {}!", html_escape(name));
    let reply = serde_json::json!({ "content": content }).to_string();
    Ok(vec![Publish::new(
        Bytes::from_static(GREETINGS.as_bytes()),
        reply,
    )
    .header(
        Bytes::from_static(b"content-type"),
        Bytes::from_static(b"application/json"),
    )])
}

/// Escapes the characters HTML gives a meaning to.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
