//! `tokio-util` codec adapters (feature `tokio-codec`).
//!
//! [`codec::Decoder`](crate::codec::Decoder) implements `tokio_util::codec::Decoder`
//! (resumable and limit-checked exactly as when called directly), and
//! [`codec::Encoder`](crate::codec::Encoder) implements `tokio_util::codec::Encoder` for
//! owned frames, heart-beats and built frames, so a `TcpStream` becomes a
//! `Framed<TcpStream, _>` stream of [`OwnedItem`]s:
//!
//! ```
//! use bytes::BytesMut;
//! use stomp_proto::codec::{Decoder, Encoder, OwnedItem};
//! use stomp_proto::{Command, FrameBuilder, Version};
//! use tokio_util::codec::{Decoder as TokioDecoder, Encoder as TokioEncoder};
//!
//! // What `FramedWrite` does with the encoder …
//! let mut encoder = Encoder;
//! let mut wire = BytesMut::new();
//! let send = FrameBuilder::new(Version::V1_2, Command::Send).header("destination", "/queue/a");
//! TokioEncoder::encode(&mut encoder, &send, &mut wire)?;
//! TokioEncoder::encode(&mut encoder, OwnedItem::HeartBeat, &mut wire)?;
//!
//! // … and what `FramedRead` does with the decoder.
//! let mut decoder = Decoder::new();
//! let Some(OwnedItem::Frame(frame)) = TokioDecoder::decode(&mut decoder, &mut wire)? else {
//!     panic!()
//! };
//! assert_eq!(frame.command(), Command::Send);
//! assert_eq!(TokioDecoder::decode(&mut decoder, &mut wire)?, Some(OwnedItem::HeartBeat));
//! assert_eq!(TokioDecoder::decode_eof(&mut decoder, &mut wire)?, None);
//! # Ok::<(), stomp_proto::tokio_codec::CodecError>(())
//! ```

use core::fmt;
use std::io;

use bytes::BytesMut;

use crate::codec::{Decoder, Encoder, OwnedFrame, OwnedItem};
use crate::{FrameBuilder, ParseError, SerializeError};

/// An error from a framed STOMP stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum CodecError {
    /// The transport failed.
    Io(io::Error),
    /// The peer sent bytes that are not valid STOMP (or exceed the limits): close the
    /// connection (a server sends an ERROR frame first).
    Parse(ParseError),
    /// A frame could not be encoded.
    Serialize(SerializeError),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::Io(e) => write!(f, "transport error: {e}"),
            CodecError::Parse(e) => write!(f, "invalid STOMP: {e}"),
            CodecError::Serialize(e) => write!(f, "cannot encode frame: {e}"),
        }
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodecError::Io(e) => Some(e),
            CodecError::Parse(e) => Some(e),
            CodecError::Serialize(e) => Some(e),
        }
    }
}

impl From<io::Error> for CodecError {
    fn from(e: io::Error) -> CodecError {
        CodecError::Io(e)
    }
}

impl From<ParseError> for CodecError {
    fn from(e: ParseError) -> CodecError {
        CodecError::Parse(e)
    }
}

impl From<SerializeError> for CodecError {
    fn from(e: SerializeError) -> CodecError {
        CodecError::Serialize(e)
    }
}

impl tokio_util::codec::Decoder for Decoder {
    type Item = OwnedItem;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<OwnedItem>, CodecError> {
        Ok(Decoder::decode(self, src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<OwnedItem>, CodecError> {
        match Decoder::decode(self, src)? {
            Some(item) => Ok(Some(item)),
            None if src.is_empty() => Ok(None),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a STOMP frame",
            )
            .into()),
        }
    }
}

impl tokio_util::codec::Encoder<OwnedItem> for Encoder {
    type Error = CodecError;

    fn encode(&mut self, item: OwnedItem, dst: &mut BytesMut) -> Result<(), CodecError> {
        match item {
            OwnedItem::Frame(frame) => self.encode_owned(&frame, dst),
            OwnedItem::HeartBeat => dst.extend_from_slice(b"\n"),
        }
        Ok(())
    }
}

impl tokio_util::codec::Encoder<OwnedFrame> for Encoder {
    type Error = CodecError;

    fn encode(&mut self, frame: OwnedFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encode_owned(&frame, dst);
        Ok(())
    }
}

impl<const N: usize> tokio_util::codec::Encoder<&FrameBuilder<'_, N>> for Encoder {
    type Error = CodecError;

    fn encode(
        &mut self,
        frame: &FrameBuilder<'_, N>,
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        Encoder::encode(self, frame, dst)?;
        Ok(())
    }
}
