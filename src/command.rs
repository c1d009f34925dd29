//! The fifteen STOMP commands.

use core::fmt;

use crate::Version;

/// A STOMP command: the first line of every frame. Commands are case-sensitive.
///
/// ```
/// use stomp_proto::Command;
///
/// assert_eq!(Command::parse(b"SEND"), Some(Command::Send));
/// assert_eq!(Command::parse(b"send"), None);
/// assert!(Command::Message.may_have_body());
/// assert!(!Command::Subscribe.may_have_body());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `CONNECT`: a client opens a session.
    Connect,
    /// `STOMP`: the 1.1+ synonym of `CONNECT`, which protocol sniffers can tell from HTTP.
    Stomp,
    /// `CONNECTED`: the server accepts a session.
    Connected,
    /// `SEND`: a client sends a message to a destination.
    Send,
    /// `SUBSCRIBE`: a client subscribes to a destination.
    Subscribe,
    /// `UNSUBSCRIBE`: a client ends a subscription.
    Unsubscribe,
    /// `ACK`: a client acknowledges a message.
    Ack,
    /// `NACK`: a client refuses a message (1.1+).
    Nack,
    /// `BEGIN`: a client starts a transaction.
    Begin,
    /// `COMMIT`: a client commits a transaction.
    Commit,
    /// `ABORT`: a client rolls back a transaction.
    Abort,
    /// `DISCONNECT`: a client ends the session gracefully.
    Disconnect,
    /// `MESSAGE`: the server delivers a message to a subscription.
    Message,
    /// `RECEIPT`: the server confirms it processed a client frame.
    Receipt,
    /// `ERROR`: the server reports an error, then closes the connection.
    Error,
}

impl Command {
    /// All fifteen commands.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Connected => "CONNECTED",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Recognises a command line (without its end-of-line). Case-sensitive.
    #[inline]
    pub fn parse(line: &[u8]) -> Option<Command> {
        Some(match line {
            b"SEND" => Command::Send,
            b"MESSAGE" => Command::Message,
            b"ACK" => Command::Ack,
            b"NACK" => Command::Nack,
            b"SUBSCRIBE" => Command::Subscribe,
            b"UNSUBSCRIBE" => Command::Unsubscribe,
            b"RECEIPT" => Command::Receipt,
            b"BEGIN" => Command::Begin,
            b"COMMIT" => Command::Commit,
            b"ABORT" => Command::Abort,
            b"CONNECT" => Command::Connect,
            b"STOMP" => Command::Stomp,
            b"CONNECTED" => Command::Connected,
            b"DISCONNECT" => Command::Disconnect,
            b"ERROR" => Command::Error,
            _ => return None,
        })
    }

    /// Whether `partial`, the start of a command line whose end has not arrived yet, can
    /// still become a command (with an optional CR before the LF). Lets a parser reject
    /// garbage after a dozen octets instead of waiting for a whole line.
    pub(crate) fn could_start(partial: &[u8]) -> bool {
        let partial = match partial {
            [rest @ .., b'\r'] => rest,
            _ => partial,
        };
        // Compared octet by octet: these are a dozen octets at most, and most names differ
        // at the first (`starts_with` would call `memcmp` for each).
        Command::ALL.iter().any(|c| {
            let name = c.as_str().as_bytes();
            name.len() >= partial.len() && name.iter().zip(partial).all(|(a, b)| a == b)
        })
    }

    /// Whether frames with this command may carry a body: only `SEND`, `MESSAGE` and `ERROR`.
    pub const fn may_have_body(self) -> bool {
        matches!(self, Command::Send | Command::Message | Command::Error)
    }

    /// Whether a client sends this command (as opposed to a server).
    pub const fn is_client_command(self) -> bool {
        !matches!(
            self,
            Command::Connected | Command::Message | Command::Receipt | Command::Error
        )
    }

    /// Whether this command opens a session (`CONNECT` or `STOMP`).
    pub const fn is_connect(self) -> bool {
        matches!(self, Command::Connect | Command::Stomp)
    }

    /// Whether header names and values of this command are escaped in `version`.
    ///
    /// Escaping exists from 1.1 on, for every frame except `CONNECT` and `CONNECTED`, which stay
    /// unescaped for backward compatibility with 1.0. (The spec exempts only those two, so a
    /// `STOMP` frame is escaped.)
    pub const fn escapes_headers(self, version: Version) -> bool {
        !matches!(version, Version::V1_0) && !matches!(self, Command::Connect | Command::Connected)
    }

    /// Whether this command exists in `version`: `STOMP` and `NACK` are 1.1+.
    pub const fn exists_in(self, version: Version) -> bool {
        !(matches!(version, Version::V1_0) && matches!(self, Command::Stomp | Command::Nack))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
