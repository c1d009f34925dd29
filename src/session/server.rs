//! The server side of one STOMP connection.
