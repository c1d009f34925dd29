//! Parses a STOMP byte stream and prints every frame and heart-beat in it, then writes a
//! reply frame back out.
//!
//! ```text
//! cargo run --example frames                 # an embedded STOMP 1.2 conversation
//! cargo run --example frames -- capture.bin  # any file holding STOMP frames
//! cargo run --example frames -- capture.bin 1.1
//! ```

use std::process::ExitCode;

use stomp_proto::{Command, FrameBuilder, Header, Item, Parser, Status, Version};

/// A short STOMP 1.2 conversation, both directions interleaved, as a capture would show it.
const CONVERSATION: &[u8] = b"CONNECT\r\naccept-version:1.0,1.1,1.2\r\nhost:/\r\nheart-beat:10000,10000\r\n\r\n\0\
CONNECTED\nversion:1.2\nheart-beat:10000,10000\nserver:demo/0.1\n\n\0\n\
SUBSCRIBE\nid:0\ndestination:/topic/greetings\nack:client-individual\n\n\0\
SEND\ndestination:/app/hello\ncontent-type:application/json\nreceipt:r-1\n\n{\"name\": \"Ada\"}\0\
RECEIPT\nreceipt-id:r-1\n\n\0\n\n\
MESSAGE\nsubscription:0\nmessage-id:7\nack:7\ndestination:/topic/greetings\ncontent-type:application/json\ncontent-length:26\n\n{\"content\": \"Hello, Ada!\"}\0\
ACK\nid:7\n\n\0\
SEND\ndestination:/queue/binary\ncontent-length:4\nnote:colons\\cand\\nnewlines\n\n\x00\x01\x02\x03\0\
DISCONNECT\nreceipt:bye\n\n\0";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = match args.first() {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => CONVERSATION.to_vec(),
    };
    let version = match args.get(1).map(|v| Version::parse(v.as_bytes())) {
        None => Version::V1_2,
        Some(Some(v)) => v,
        Some(None) => {
            eprintln!("unknown version {:?}: use 1.0, 1.1 or 1.2", args[1]);
            return ExitCode::FAILURE;
        }
    };

    let parser = Parser::new().with_version(version);
    let mut headers = [Header::EMPTY; 64];
    let mut rest = &input[..];
    let (mut frames, mut beats) = (0, 0);
    while !rest.is_empty() {
        match parser.parse(rest, &mut headers) {
            Ok(Status::Complete((consumed, Item::HeartBeat))) => {
                beats += 1;
                println!("  (heart-beat)");
                rest = &rest[consumed..];
            }
            Ok(Status::Complete((consumed, Item::Frame(frame)))) => {
                frames += 1;
                println!("{}", frame.command());
                for (name, value) in frame.header_values() {
                    let name = name.decode().unwrap_or_default();
                    let value = value.decode().unwrap_or_default();
                    println!(
                        "  {}: {}",
                        String::from_utf8_lossy(&name),
                        String::from_utf8_lossy(&value).escape_debug()
                    );
                }
                let body = frame.body();
                let printable = |text: &str| !text.chars().any(|c| c.is_control() && c != '\n');
                match std::str::from_utf8(body) {
                    _ if body.is_empty() => {}
                    Ok(text) if printable(text) => println!("  body: {text}"),
                    _ => println!("  body: {} binary octets {:02x?}", body.len(), body),
                }
                rest = &rest[consumed..];
            }
            Ok(Status::Partial) => {
                eprintln!("input ends inside a frame ({} bytes left)", rest.len());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("invalid STOMP at byte {}: {e}", input.len() - rest.len());
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{frames} frames, {beats} heart-beats");

    // And the other direction: a frame built without allocating, escaped for 1.2.
    let reply = FrameBuilder::new(version, Command::Send)
        .header("destination", "/queue/replies")
        .header("note", "a:b")
        .body(b"thanks");
    let mut out = [0u8; 128];
    match reply.write_to(&mut out) {
        Ok(n) => println!("encoded reply ({n} bytes): {}", out[..n].escape_ascii()),
        Err(e) => {
            eprintln!("cannot encode reply: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
