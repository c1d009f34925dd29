//! The client side of one STOMP connection.
