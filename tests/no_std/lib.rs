//! Uses the parser, serializer and escaping with `default-features = false`: no std, no
//! allocator. Exposes C functions so the code is not optimised away.
#![no_std]
#![deny(unsafe_code)]

use stomp_proto::escape::{unescape_into, Escaping};
use stomp_proto::{Command, FrameBuilder, Header, Item, Parser, Status, Version};

const FRAME: &[u8] = b"MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/a\\cb\n\nhello\0";

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

/// Parses a frame, re-encodes it, and returns the encoded length (0 on failure).
#[allow(unsafe_code)] // `no_mangle` only keeps the symbol; nothing else is unsafe.
#[no_mangle]
pub extern "C" fn stomp_no_std_roundtrip() -> usize {
    let parser = Parser::new().with_version(Version::V1_2);
    let mut headers = [Header::EMPTY; 8];
    let Ok(Status::Complete((_, Item::Frame(frame)))) = parser.parse(FRAME, &mut headers) else {
        return 0;
    };
    let mut destination = [0u8; 32];
    let Some(value) = frame.destination() else {
        return 0;
    };
    let Ok(destination) = unescape_into(Escaping::V1_2, value.raw(), &mut destination) else {
        return 0;
    };
    let mut out = [0u8; 128];
    FrameBuilder::new(Version::V1_2, Command::Send)
        .header_bytes(b"destination", destination)
        .body(frame.body())
        .write_to(&mut out)
        .unwrap_or(0)
}
