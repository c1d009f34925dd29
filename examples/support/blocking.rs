//! A blocking `std::net` driver for the sans-IO [`Client`]: the whole transport glue a
//! threaded program needs. Shared by `examples/client.rs` and the interop tests.
//!
//! It owns the socket and the clock; the session owns the protocol. Every call drains the
//! session the way its docs require: transmit everything, collect every event, and call
//! `handle_timeout` whenever `poll_timeout` has passed.

#![allow(dead_code)] // each user takes the parts it needs

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use stomp_proto::session::{Client, ClientConfig, ClientEvent};
use stomp_proto::time::Instant;

/// A STOMP client session on a blocking TCP stream.
pub struct Connection {
    stream: TcpStream,
    /// The session; call its API methods directly, then [`Connection::flush`].
    pub client: Client,
    origin: StdInstant,
    events: VecDeque<ClientEvent>,
    /// Bytes received, for tests that count heart-beats.
    pub bytes_received: usize,
}

impl Connection {
    /// Connects to `addr` and sends CONNECT; then waits for `Connected` (or fails with the
    /// event that came instead).
    pub fn open(addr: &str, config: ClientConfig) -> io::Result<(Connection, ClientEvent)> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut conn = Connection {
            stream,
            client: Client::new(config),
            origin: StdInstant::now(),
            events: VecDeque::new(),
            bytes_received: 0,
        };
        let now = conn.now();
        conn.client.connect(now).map_err(other)?;
        conn.flush()?;
        let event = conn.next_event(StdDuration::from_secs(10))?;
        match event {
            ClientEvent::Connected(_) => Ok((conn, event)),
            other_event => Err(other(format!("expected CONNECTED, got {other_event:?}"))),
        }
    }

    /// The session's clock: time since the connection was opened.
    pub fn now(&self) -> Instant {
        Instant::from_std(self.origin, StdInstant::now())
    }

    /// Writes everything the session wants sent.
    pub fn flush(&mut self) -> io::Result<()> {
        while let Some(bytes) = self.client.poll_transmit() {
            self.stream.write_all(&bytes)?;
        }
        self.collect();
        Ok(())
    }

    fn collect(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.events.push_back(event);
        }
    }

    /// Reads for at most `wait`, feeding the session and firing its timers. Returns whether
    /// the peer closed the connection.
    pub fn pump(&mut self, wait: StdDuration) -> io::Result<bool> {
        let deadline = StdInstant::now() + wait;
        let mut buf = [0u8; 16 * 1024];
        loop {
            let now = StdInstant::now();
            if now >= deadline {
                return Ok(false);
            }
            // Wake up for the session's next timer if it comes before the deadline.
            let mut until = deadline;
            if let Some(at) = self.client.poll_timeout() {
                let at = self.origin + StdDuration::from_micros(at.total_micros());
                until = until.min(at.max(now + StdDuration::from_millis(1)));
            }
            self.stream.set_read_timeout(Some(until - now))?;
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.collect();
                    return Ok(true);
                }
                Ok(n) => {
                    self.bytes_received += n;
                    let now = self.now();
                    self.client.handle_input(now, &buf[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
            let now = self.now();
            if self.client.poll_timeout().is_some_and(|at| at <= now) {
                self.client.handle_timeout(now);
            }
            self.flush()?;
            if !self.events.is_empty() {
                return Ok(false);
            }
        }
    }

    /// The next event, reading until one comes or `wait` passes.
    pub fn next_event(&mut self, wait: StdDuration) -> io::Result<ClientEvent> {
        let deadline = StdInstant::now() + wait;
        loop {
            if let Some(event) = self.events.pop_front() {
                return Ok(event);
            }
            let now = StdInstant::now();
            if now >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no event in time"));
            }
            if self.pump(deadline - now)? && self.events.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed",
                ));
            }
        }
    }

    /// Keeps the connection alive (heart-beats both ways) for `span`, returning every event
    /// that came meanwhile.
    pub fn idle(&mut self, span: StdDuration) -> io::Result<Vec<ClientEvent>> {
        let deadline = StdInstant::now() + span;
        while StdInstant::now() < deadline {
            if self.pump(deadline - StdInstant::now())? {
                break;
            }
        }
        Ok(self.events.drain(..).collect())
    }
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}
