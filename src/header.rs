//! Names of the standard headers, and the values some of them take.

use core::fmt;

/// `accept-version`: the versions a client speaks (CONNECT).
pub const ACCEPT_VERSION: &str = "accept-version";
/// `ack`: the acknowledgment mode (SUBSCRIBE) or the id to acknowledge (MESSAGE, 1.2).
pub const ACK: &str = "ack";
/// `content-length`: the body length in octets.
pub const CONTENT_LENGTH: &str = "content-length";
/// `content-type`: the MIME type of the body.
pub const CONTENT_TYPE: &str = "content-type";
/// `destination`: where a message is sent or subscribed.
pub const DESTINATION: &str = "destination";
/// `heart-beat`: `cx,cy` heart-beat intervals in milliseconds.
pub const HEART_BEAT: &str = "heart-beat";
/// `host`: the virtual host a client connects to.
pub const HOST: &str = "host";
/// `id`: a subscription id (SUBSCRIBE, UNSUBSCRIBE) or an ack id (ACK, NACK in 1.2).
pub const ID: &str = "id";
/// `login`: the user name (CONNECT).
pub const LOGIN: &str = "login";
/// `message`: a short error description (ERROR).
pub const MESSAGE: &str = "message";
/// `message-id`: the id of a delivered message (MESSAGE; ACK and NACK in 1.0 and 1.1).
pub const MESSAGE_ID: &str = "message-id";
/// `passcode`: the password (CONNECT).
pub const PASSCODE: &str = "passcode";
/// `receipt`: asks the server to confirm a frame with a RECEIPT.
pub const RECEIPT: &str = "receipt";
/// `receipt-id`: the `receipt` a RECEIPT (or ERROR) answers.
pub const RECEIPT_ID: &str = "receipt-id";
/// `server`: the server's name and version (CONNECTED).
pub const SERVER: &str = "server";
/// `session`: the session id (CONNECTED).
pub const SESSION: &str = "session";
/// `subscription`: the subscription a message belongs to.
pub const SUBSCRIPTION: &str = "subscription";
/// `transaction`: the transaction a frame belongs to.
pub const TRANSACTION: &str = "transaction";
/// `version`: the negotiated version (CONNECTED), or the supported ones (ERROR).
pub const VERSION: &str = "version";

/// How the server expects messages of a subscription to be acknowledged (the SUBSCRIBE `ack`
/// header).
///
/// ```
/// use stomp_proto::AckMode;
///
/// assert_eq!(AckMode::parse(b"client-individual"), Some(AckMode::ClientIndividual));
/// assert_eq!(AckMode::default(), AckMode::Auto);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum AckMode {
    /// `auto`: messages count as acknowledged once sent.
    #[default]
    Auto,
    /// `client`: an ACK acknowledges the message and every earlier one of the subscription.
    Client,
    /// `client-individual`: an ACK acknowledges only its message (1.1+).
    ClientIndividual,
}

impl AckMode {
    /// The mode as it appears in the `ack` header.
    pub const fn as_str(self) -> &'static str {
        match self {
            AckMode::Auto => "auto",
            AckMode::Client => "client",
            AckMode::ClientIndividual => "client-individual",
        }
    }

    /// Parses an `ack` header value.
    pub fn parse(value: &[u8]) -> Option<AckMode> {
        match value {
            b"auto" => Some(AckMode::Auto),
            b"client" => Some(AckMode::Client),
            b"client-individual" => Some(AckMode::ClientIndividual),
            _ => None,
        }
    }
}

impl fmt::Display for AckMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
