//! A zero-copy, sans-IO implementation of the STOMP messaging protocol (1.0, 1.1 and 1.2).
//!
//! The parser, serializer and escaping need no allocator; owned frames, the streaming
//! decoder and the session state machines need `alloc`. The crate never opens a socket,
//! spawns a task or reads a clock: feed it bytes, drain the bytes it wants sent.
//!
//! ```
//! use stomp_proto::{Command, FrameBuilder, Header, Item, Parser, Status, Version};
//!
//! // Serialize a SEND frame into a plain buffer, escaping as STOMP 1.2 requires.
//! let send = FrameBuilder::new(Version::V1_2, Command::Send)
//!     .header("destination", "/queue/orders")
//!     .header("reference", "a:1")
//!     .body(b"{\"qty\":3}");
//! let mut wire = [0u8; 128];
//! let len = send.write_to(&mut wire)?;
//!
//! // Parse it back: the frame borrows from `wire`, headers go into caller storage.
//! let parser = Parser::new();
//! let mut headers = [Header::EMPTY; 16];
//! match parser.parse(&wire[..len], &mut headers)? {
//!     Status::Complete((consumed, Item::Frame(frame))) => {
//!         assert_eq!(consumed, len);
//!         assert_eq!(frame.command(), Command::Send);
//!         assert!(frame.destination().unwrap() == "/queue/orders");
//!         let reference = frame.header("reference").unwrap();
//!         assert_eq!(reference.raw(), br"a\c1"); // as on the wire
//!         assert!(reference == "a:1"); // decoded on demand
//!         assert_eq!(frame.body(), b"{\"qty\":3}");
//!     }
//!     Status::Complete((_, Item::HeartBeat)) => unreachable!("no heart-beat here"),
//!     Status::Partial => unreachable!("the frame is whole"),
//! }
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! # Features
//!
//! | feature | default | adds |
//! |---------|---------|------|
//! | `std`   | yes     | `alloc`, and conversions from `std::time::Instant` |
//! | `alloc` | via `std` | owned frames sharing the read buffer ([`bytes::Bytes`]), the resumable [`codec::Decoder`], writing into `BufMut`, `Cow` decoding, the [`session`] state machines |
//! | `tokio-codec` | no | `tokio_util::codec::{Decoder, Encoder}` impls for [`codec::Decoder`] and [`codec::Encoder`] |
//!
//! With `default-features = false` the crate is `#![no_std]` without an allocator.
//!
//! # Layers
//!
//! - [`parse`], [`serialize`], [`escape`]: borrowed [`Frame`]s, no allocator.
//! - [`codec`] (`alloc`): owned frames and a resumable decoder over `BytesMut`.

#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod command;
mod error;
pub mod escape;
mod frame;
pub mod header;
mod heartbeat;
pub mod parse;
pub mod serialize;
pub mod time;
mod value;
mod version;

#[cfg(feature = "alloc")]
pub mod codec;
#[cfg(feature = "alloc")]
pub mod session;
#[cfg(feature = "tokio-codec")]
pub mod tokio_codec;

pub use command::Command;
pub use error::{ParseError, SerializeError, UnescapeError, ValueError};
pub use frame::{Frame, Header, Item, Value};
pub use header::AckMode;
pub use heartbeat::HeartBeat;
pub use parse::{Limits, Parser, Status};
pub use serialize::{ContentLength, FrameBuilder};
pub use version::{Version, Versions};

#[cfg(all(doctest, feature = "std"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
