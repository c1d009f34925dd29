//! Workloads shared by the benches: wire bytes built once, checked once.
//!
//! Every bench asserts, before timing, that its input really parses into the frame it claims
//! to be (command, header count, body length), so a silent `Partial` or error can never be
//! measured as a fast parse.

#![allow(dead_code)] // each bench uses a subset

use stomp_proto::{Command, Frame, Header, Item, Parser, Status};

/// A workload: wire bytes and what the parser must find in them.
pub struct Workload {
    /// Short name, used as the criterion benchmark id.
    pub name: &'static str,
    /// The frame exactly as on the wire.
    pub wire: Vec<u8>,
    /// The command it must parse to.
    pub command: Command,
    /// The number of header lines it must have.
    pub headers: usize,
    /// The body length it must have.
    pub body_len: usize,
}

/// The 200-octet JSON body of the headline MESSAGE.
pub const JSON_BODY: &[u8; 200] = br#"{"symbol":"ACME","venue":"XPAR","bid":101.25,"ask":101.27,"bidSize":1200,"askSize":800,"ts":1700000000123,"seq":48213377,"flags":["firm","lit"],"currency":"EUR","isin":"FR0000120271","note":"ok.1234"}"#;

/// The headline workload: a broker MESSAGE with 8 headers (content-length among them) and a
/// 200-octet body, 470 octets in all.
pub fn message_470() -> Workload {
    let mut wire = Vec::new();
    wire.extend_from_slice(
        b"MESSAGE\n\
          subscription:sub-00000001\n\
          message-id:T_sub-0001@@session-Bq7yUu3LJxTF0Fp2oh4bKA@@1234\n\
          destination:/topic/market.prices.eu.equities\n\
          ack:ack-5f4e3d2c1b0a-000123456\n\
          content-type:application/json;charset=utf-8\n\
          content-length:200\n\
          timestamp:1700000000123\n\
          priority:4\n\
          \n",
    );
    wire.extend_from_slice(JSON_BODY);
    wire.push(0);
    assert_eq!(wire.len(), 470);
    checked(Workload {
        name: "message_470B",
        wire,
        command: Command::Message,
        headers: 8,
        body_len: 200,
    })
}

/// A small client SEND without content-length: 63 octets.
pub fn send_small() -> Workload {
    let wire = b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello world\0".to_vec();
    assert_eq!(wire.len(), 63);
    checked(Workload {
        name: "send_63B",
        wire,
        command: Command::Send,
        headers: 2,
        body_len: 11,
    })
}

/// The body length of [`binary_64k`].
pub const BINARY_LEN: usize = 64 * 1024;

/// A MESSAGE whose 64 KiB binary body (NULs included) is framed by content-length.
pub fn binary_64k() -> Workload {
    let mut wire = Vec::new();
    wire.extend_from_slice(
        b"MESSAGE\n\
          subscription:0\n\
          message-id:1\n\
          destination:/queue/blob\n\
          content-type:application/octet-stream\n\
          content-length:65536\n\
          \n",
    );
    wire.extend((0..BINARY_LEN).map(|i| (i.wrapping_mul(31) + 7) as u8));
    wire.push(0);
    checked(Workload {
        name: "binary_64KiB",
        wire,
        command: Command::Message,
        headers: 5,
        body_len: BINARY_LEN,
    })
}

/// A STOMP 1.2 MESSAGE whose header names and values carry `\c`, `\n`, `\\` and `\r`
/// escapes, with the same 200-octet body.
pub fn escaped() -> Workload {
    let mut wire = Vec::new();
    wire.extend_from_slice(
        br"MESSAGE
subscription:sub-00000001
message-id:ID\cbroker-7f3a-41234-1700000000000-5\c12\c1\c1\c98765
destination:/queue/a\cb\\c
selector:price > 10\nAND venue = 'XPAR'
x-path:C\c\\Users\\bench\\inbox
x-multi\cname:line1\r\nline2
content-length:200
x-trace:a\cb\cc\cd\ce\cf

",
    );
    wire.extend_from_slice(JSON_BODY);
    wire.push(0);
    checked(Workload {
        name: "escaped_1.2",
        wire,
        command: Command::Message,
        headers: 8,
        body_len: 200,
    })
}

/// The number of frames in [`stream`].
pub const STREAM_FRAMES: usize = 1000;

/// [`STREAM_FRAMES`] copies of the headline MESSAGE, each followed by a heart-beat (LF, or
/// CR LF every fourth time).
pub fn stream() -> Vec<u8> {
    let one = message_470().wire;
    let mut wire = Vec::with_capacity(STREAM_FRAMES * (one.len() + 2));
    for i in 0..STREAM_FRAMES {
        wire.extend_from_slice(&one);
        wire.extend_from_slice(if i % 4 == 3 { b"\r\n" } else { b"\n" });
    }
    wire
}

/// The heart-beats in [`stream`].
pub const STREAM_HEART_BEATS: usize = STREAM_FRAMES;

/// Parses `w.wire` once and panics unless it is exactly the frame `w` describes.
pub fn checked(w: Workload) -> Workload {
    let mut headers = [Header::EMPTY; 16];
    match Parser::new().parse(&w.wire, &mut headers) {
        Ok(Status::Complete((n, Item::Frame(frame)))) => {
            assert_eq!(n, w.wire.len(), "{}: consumed", w.name);
            check_frame(w.name, &frame, w.command, w.headers, w.body_len);
        }
        other => panic!("{}: did not parse: {other:?}", w.name),
    }
    w
}

/// Panics unless `frame` has the expected command, header count and body length.
pub fn check_frame(name: &str, frame: &Frame<'_>, command: Command, headers: usize, body: usize) {
    assert_eq!(frame.command(), command, "{name}: command");
    assert_eq!(frame.headers().len(), headers, "{name}: header count");
    assert_eq!(frame.body().len(), body, "{name}: body length");
}

/// The frame workloads measured one frame at a time.
pub fn frames() -> Vec<Workload> {
    vec![send_small(), message_470(), binary_64k(), escaped()]
}
