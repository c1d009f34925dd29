//! One client connection: a sans-IO [`Server`] session driven by a tokio task over TCP or
//! WebSocket, wired to the shared [`Broker`].
//!
//! The task owns the transport and the session. It feeds what it reads to
//! `handle_input`, calls `handle_timeout` when `poll_timeout` is reached, hands deliveries
//! from other connections to `deliver`, and after each of those drains the session: bytes to
//! the transport, events to the broker (which answers synchronously, so a RECEIPT is written
//! only once the frame's effect is done).

#![allow(dead_code)] // shared with tests/broker.rs: each user takes the parts it needs

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stomp_proto::codec::OwnedFrame;
use stomp_proto::session::{CloseReason, Message, MessageId, Server, ServerConfig, ServerEvent};
use stomp_proto::time::Instant;
use stomp_proto::{AckMode, Value, Versions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use crate::broker::{
    Broker, BrokerError, ConnectionId, Delivery, DeliveryTag, Publish, SubscriptionKey,
};

/// How every connection behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The session configuration (versions, heart-beats, limits).
    pub server: ServerConfig,
    /// The only login accepted, if any: `(login, passcode)`.
    pub login: Option<(String, String)>,
    /// How long a client may take to send CONNECT.
    pub connect_timeout: Duration,
    /// How long to keep reading (and discarding) after the last frame was written, so that
    /// the client gets that ERROR before the connection is torn down.
    pub linger: Duration,
    /// How many deliveries may wait for a connection's task (at least 1).
    pub delivery_backlog: usize,
    /// How long one write may take before the client counts as gone.
    pub write_timeout: Duration,
    /// Serves connections instead of the in-memory broker when set (the broker relay).
    pub upstream: Option<Arc<dyn Upstream>>,
}

/// Something that serves whole connections instead of the in-memory broker: the broker
/// relay (`relay.rs`) implements it. A trait object, so that this module (shared with
/// tests/broker.rs) does not depend on the relay.
pub trait Upstream: std::fmt::Debug + Send + Sync {
    /// Serves one connection until it closes, as [`run`] does for the in-memory broker.
    fn serve(
        self: Arc<Self>,
        shared: Arc<Shared>,
        transport: Transport,
        peer: SocketAddr,
        versions: Option<Versions>,
        shutdown: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// What the connection tasks share.
#[derive(Debug)]
pub struct Shared {
    /// The broker core.
    pub broker: Mutex<Broker>,
    /// Connection settings.
    pub settings: Settings,
    /// The zero of the sessions' clock.
    pub origin: std::time::Instant,
    /// Numbers the connections, for the log.
    pub next_session: AtomicU64,
}

impl Shared {
    /// Shared state for a broker with these settings.
    pub fn new(settings: Settings) -> Shared {
        Shared {
            broker: Mutex::new(Broker::new()),
            settings,
            origin: std::time::Instant::now(),
            next_session: AtomicU64::new(1),
        }
    }

    /// The broker, locked (a panicked connection task does not poison it for the others).
    pub fn broker(&self) -> MutexGuard<'_, Broker> {
        self.broker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sessions' clock now.
    pub fn now(&self) -> Instant {
        Instant::from_std(self.origin, std::time::Instant::now())
    }

    /// A session instant on tokio's clock.
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.origin + Duration::from_micros(at.total_micros()))
    }
}

/// The byte stream a session runs over.
pub enum Transport {
    /// STOMP straight over TCP.
    Tcp(TcpStream),
    /// STOMP frames in WebSocket text or binary messages, any number of frames (or part of
    /// one) per message; with the subprotocol chosen in the handshake.
    WebSocket(Box<WebSocketStream<TcpStream>>, Option<&'static str>),
}

impl Transport {
    pub fn name(&self) -> String {
        match self {
            Transport::Tcp(_) => "tcp".into(),
            Transport::WebSocket(_, Some(subprotocol)) => format!("websocket ({subprotocol})"),
            Transport::WebSocket(_, None) => "websocket".into(),
        }
    }

    /// The next bytes from the client; `None` once it closed. Cancel-safe.
    pub async fn read(&mut self, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
        match self {
            Transport::Tcp(stream) => {
                buf.reserve(16 * 1024);
                match stream.read_buf(buf).await? {
                    0 => Ok(None),
                    _ => Ok(Some(buf.split().freeze())),
                }
            }
            Transport::WebSocket(ws, _) => loop {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => return Ok(Some(Bytes::from(text))),
                    Some(Ok(WsMessage::Binary(bytes))) => return Ok(Some(bytes)),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                    Some(Ok(WsMessage::Close(_))) | None => return Ok(None),
                    Some(Err(e)) => return Err(io::Error::other(e)),
                }
            },
        }
    }

    /// [`write`](Self::write), given up after `timeout` (a client that stopped reading);
    /// the error says why, for the log.
    pub async fn write_within(
        &mut self,
        chunks: &[Bytes],
        timeout: Duration,
    ) -> Result<(), String> {
        match tokio::time::timeout(timeout, self.write(chunks)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err(format!(
                "write timed out after {timeout:?}: the client is not reading"
            )),
        }
    }

    /// Writes the chunks the session produced, in order.
    pub async fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        match self {
            Transport::Tcp(stream) => {
                // Small chunks (frames, heart-beats) in one write; big bodies on their own.
                let mut pending = BytesMut::new();
                for chunk in chunks {
                    if chunk.len() >= 64 * 1024 {
                        if !pending.is_empty() {
                            stream.write_all(&pending.split()).await?;
                        }
                        stream.write_all(chunk).await?;
                    } else {
                        pending.extend_from_slice(chunk);
                    }
                }
                if !pending.is_empty() {
                    stream.write_all(&pending).await?;
                }
                stream.flush().await
            }
            Transport::WebSocket(ws, _) => {
                // Whole frames per message: stompjs and most browser clients expect that.
                let bytes = match chunks {
                    [one] => one.clone(),
                    _ => chunks.concat().into(),
                };
                let message = match std::str::from_utf8(&bytes) {
                    Ok(_) => WsMessage::Text(bytes.try_into().map_err(io::Error::other)?),
                    Err(_) => WsMessage::Binary(bytes),
                };
                ws.send(message).await.map_err(io::Error::other)
            }
        }
    }

    /// Closes the transport after the last frame: half-closes, then reads and discards for at
    /// most `linger` so that unread client bytes do not turn the close into a reset that
    /// could destroy the ERROR frame in flight.
    pub async fn close(self, linger: Duration) {
        match self {
            Transport::Tcp(mut stream) => {
                let _ = stream.shutdown().await;
                let _ = tokio::time::timeout(linger, async {
                    let mut sink = vec![0u8; 16 * 1024];
                    let mut discarded = 0usize;
                    while discarded < 64 * 1024 * 1024 {
                        match stream.read(&mut sink).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => discarded += n,
                        }
                    }
                })
                .await;
            }
            Transport::WebSocket(mut ws, _) => {
                let _ = tokio::time::timeout(linger, async {
                    if WebSocketStream::close(&mut ws, None).await.is_ok() {
                        while let Some(Ok(_)) = ws.next().await {}
                    }
                })
                .await;
            }
        }
    }
}

/// Serves one connection until it closes. `versions` narrows the STOMP versions (from the
/// WebSocket subprotocol); `shutdown` turning `true` closes the session with an ERROR.
pub async fn run(
    shared: Arc<Shared>,
    mut transport: Transport,
    peer: SocketAddr,
    versions: Option<Versions>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Some(upstream) = shared.settings.upstream.clone() {
        return upstream
            .serve(shared, transport, peer, versions, shutdown)
            .await;
    }
    let number = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let kind = transport.name();
    println!("[{number}] open: {peer} over {kind}");
    // Bounded: a subscriber that reads more slowly than its messages arrive must not make
    // them pile up here. A full backlog refuses a queue message (it stays in its queue, and
    // `held` asks for it again once there is room) or a topic message (`overflowed`: the
    // subscriber is too slow and is disconnected).
    let (tx, mut rx) = mpsc::channel(shared.settings.delivery_backlog);
    let backlog = Arc::new(Backlog::default());
    let outlet_backlog = backlog.clone();
    let connection = shared
        .broker()
        .register(Box::new(move |delivery: Delivery| {
            match tx.try_send(delivery) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(delivery)) => {
                    let flag = match delivery.tag {
                        Some(_) => &outlet_backlog.held,
                        None => &outlet_backlog.overflowed,
                    };
                    flag.store(true, Ordering::Relaxed);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        }));
    let mut config = shared.settings.server.clone();
    if let Some(versions) = versions {
        config = config.versions(versions);
    }
    let server = Server::new(config, shared.now());
    let connect_deadline = tokio::time::Instant::now() + shared.settings.connect_timeout;
    let mut conn = Connection {
        shared: shared.clone(),
        connection,
        number,
        server,
        accepted: false,
        subscriptions: HashMap::new(),
        unacked: HashMap::new(),
        auto_written: Vec::new(),
        out: Vec::new(),
        reason: None,
    };
    let mut read_buf = BytesMut::new();
    let write_timeout = shared.settings.write_timeout;
    loop {
        conn.drain();
        if !conn.out.is_empty() {
            let out = std::mem::take(&mut conn.out);
            if let Err(why) = transport.write_within(&out, write_timeout).await {
                conn.transport_closed(why);
                break;
            }
            conn.settle_written();
        }
        if backlog.overflowed.swap(false, Ordering::Relaxed) {
            conn.slow_consumer();
            continue;
        }
        if backlog.held.swap(false, Ordering::Relaxed) {
            // Set only while the backlog was full, so there was something to receive: the
            // room made since then takes the queue messages that waited.
            shared.broker().redispatch(conn.connection);
        }
        if conn.server.is_closed() {
            break;
        }
        let mut deadline = conn.server.poll_timeout().map(|at| shared.deadline(at));
        if !conn.accepted {
            deadline = Some(deadline.map_or(connect_deadline, |d| d.min(connect_deadline)));
        }
        tokio::select! {
            biased;
            _ = stopping(&mut shutdown) => {
                conn.reason = Some("broker shutting down".into());
                let now = shared.now();
                if conn.server.error("the broker is shutting down", None, b"").is_err() {
                    conn.server.handle_close(now);
                }
            }
            read = transport.read(&mut read_buf) => match read {
                Ok(Some(bytes)) => conn.server.handle_input(shared.now(), &bytes),
                Ok(None) => conn.transport_closed("peer closed the connection".into()),
                Err(e) => conn.transport_closed(format!("read failed: {e}")),
            },
            Some(delivery) = rx.recv() => {
                conn.deliver(delivery);
                // Take what else is waiting, to write it in one go.
                for _ in 0..255 {
                    let Ok(delivery) = rx.try_recv() else { break };
                    conn.deliver(delivery);
                }
            }
            _ = sleep_until(deadline) => {
                if conn.accepted {
                    conn.server.handle_timeout(shared.now());
                } else if tokio::time::Instant::now() >= connect_deadline {
                    conn.transport_closed("no CONNECT in time".into());
                } else {
                    conn.server.handle_timeout(shared.now());
                }
            }
        }
    }
    // Drain what the close reported (open transactions aborted), then leave the broker: its
    // unacknowledged messages go back to their queues.
    conn.drain();
    shared.broker().unregister(connection);
    drop(rx);
    transport.close(shared.settings.linger).await;
    let reason = conn.reason.unwrap_or_else(|| "closed".into());
    println!("[{number}] close: {peer} over {kind}: {reason}");
}

/// What a connection's outlet refused because its backlog was full.
#[derive(Debug, Default)]
struct Backlog {
    /// A queue message, left in its queue: ask the broker again once there is room.
    held: AtomicBool,
    /// A topic message, lost to this subscriber: it is too slow.
    overflowed: AtomicBool,
}

/// Resolves once `stop` turns `true` (or its sender is gone).
pub async fn stopping(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The state of one connection's task.
struct Connection {
    shared: Arc<Shared>,
    connection: ConnectionId,
    number: u64,
    server: Server,
    accepted: bool,
    /// Subscription id → the broker's key for it.
    subscriptions: HashMap<Bytes, SubscriptionKey>,
    /// Queue messages delivered to `client`/`client-individual` subscriptions, not settled.
    unacked: HashMap<MessageId, DeliveryTag>,
    /// Queue messages delivered to `auto` subscriptions: settled once written.
    auto_written: Vec<DeliveryTag>,
    /// Bytes for the transport.
    out: Vec<Bytes>,
    /// Why the connection ended, for the log.
    reason: Option<String>,
}

impl Connection {
    /// Drains the session: transmits go to `out`, events to the broker, until both are empty.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(bytes) = self.server.poll_transmit() {
                self.out.push(bytes);
                progressed = true;
            }
            while let Some(event) = self.server.poll_event() {
                self.on_event(event);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    /// A topic message found this connection's backlog full: the client reads more slowly
    /// than its subscriptions produce. It gets an ERROR saying so, and the session closes.
    fn slow_consumer(&mut self) {
        let backlog = self.shared.settings.delivery_backlog;
        if self.reason.is_none() {
            self.reason = Some("slow consumer".into());
        }
        let message =
            format!("slow consumer: more than {backlog} messages were waiting for this connection");
        if self.server.error(&message, None, b"").is_err() {
            self.server.handle_close(self.shared.now());
        }
    }

    fn transport_closed(&mut self, why: String) {
        if self.reason.is_none() {
            self.reason = Some(why);
        }
        self.server.handle_close(self.shared.now());
    }

    /// Auto-acknowledged queue messages were written: done with them.
    fn settle_written(&mut self) {
        if !self.auto_written.is_empty() {
            let tags = std::mem::take(&mut self.auto_written);
            let _ = self.shared.broker().ack(self.connection, None, tags);
        }
    }

    fn on_event(&mut self, event: ServerEvent) {
        let connection = self.connection;
        match event {
            ServerEvent::Connect(request) => {
                let allowed = match &self.shared.settings.login {
                    None => true,
                    Some((login, passcode)) => {
                        request.login.as_deref() == Some(login.as_bytes())
                            && request.passcode.as_deref() == Some(passcode.as_bytes())
                    }
                };
                if allowed {
                    let session = format!("session-{}", self.number);
                    if self.server.accept(Some(&session)).is_ok() {
                        self.accepted = true;
                    }
                } else {
                    let _ = self.server.reject("access refused: bad login or passcode");
                }
            }
            ServerEvent::Send {
                destination,
                transaction,
                receipt,
                frame,
            } => {
                let message = Publish {
                    destination,
                    headers: passed_headers(&frame),
                    body: frame.body_bytes(),
                };
                let result = self
                    .shared
                    .broker()
                    .send(connection, transaction.as_deref(), message);
                self.finish(result, receipt);
            }
            ServerEvent::Subscribe {
                subscription,
                destination,
                receipt,
                ..
            } => {
                let result =
                    self.shared
                        .broker()
                        .subscribe(connection, subscription.clone(), &destination);
                let result = result.map(|key| {
                    self.subscriptions.insert(subscription, key);
                });
                self.finish(result, receipt);
            }
            ServerEvent::Unsubscribe {
                subscription,
                unacknowledged,
                receipt,
            } => {
                self.subscriptions.remove(&subscription);
                for id in unacknowledged {
                    self.unacked.remove(&id);
                }
                self.shared.broker().unsubscribe(connection, &subscription);
                self.finish(Ok(()), receipt);
            }
            ServerEvent::Ack {
                message_ids,
                transaction,
                receipt,
                ..
            } => {
                let tags = self.tags(&message_ids);
                let result = self
                    .shared
                    .broker()
                    .ack(connection, transaction.as_deref(), tags);
                self.finish(result, receipt);
            }
            ServerEvent::Nack {
                message_ids,
                transaction,
                receipt,
                ..
            } => {
                let tags = self.tags(&message_ids);
                let result = self
                    .shared
                    .broker()
                    .nack(connection, transaction.as_deref(), tags);
                self.finish(result, receipt);
            }
            ServerEvent::Begin {
                transaction,
                receipt,
            } => {
                let result = self.shared.broker().begin(connection, transaction);
                self.finish(result, receipt);
            }
            ServerEvent::Commit {
                transaction,
                receipt,
            } => {
                let result = self.shared.broker().commit(connection, &transaction);
                self.finish(result, receipt);
            }
            ServerEvent::Abort {
                transaction,
                receipt,
            } => {
                let result = self.shared.broker().abort(connection, &transaction);
                self.finish(result, receipt);
            }
            ServerEvent::Disconnect { receipt } => {
                // Everything before it was processed synchronously: confirm at once.
                self.finish(Ok(()), receipt);
            }
            ServerEvent::TransactionAborted { transaction } => {
                let _ = self.shared.broker().abort(connection, &transaction);
            }
            ServerEvent::Closed { reason } if self.reason.is_none() => {
                self.reason = Some(describe(reason));
            }
            // Events a later session version may add: nothing to do.
            _ => {}
        }
    }

    /// The delivery tags of settled messages (topic messages have none).
    fn tags(&mut self, ids: &[MessageId]) -> Vec<DeliveryTag> {
        ids.iter()
            .filter_map(|id| self.unacked.remove(id))
            .collect()
    }

    /// Confirms a processed frame with its RECEIPT, or answers the failure with ERROR.
    fn finish(&mut self, result: Result<(), BrokerError>, receipt: Option<Bytes>) {
        match result {
            Ok(()) => {
                if let Some(receipt) = receipt {
                    let _ = self.server.receipt(&receipt);
                }
            }
            Err(e) => {
                let message = e.to_string();
                self.reason = Some(format!("ERROR sent: {message}"));
                let _ = self.server.error(&message, receipt.as_deref(), b"");
            }
        }
    }

    /// Writes a MESSAGE for a delivery from the broker.
    fn deliver(&mut self, delivery: Delivery) {
        let current = self.subscriptions.get(&delivery.subscription) == Some(&delivery.key);
        if !current || !self.server.is_connected() {
            // Unsubscribed (or closing) meanwhile: the broker has put queue messages back.
            return;
        }
        let message = &delivery.message;
        let mut out = Message::new(&message.destination, message.body.clone());
        for (name, value) in &message.headers {
            out = out.header(name, value);
        }
        if delivery.redelivered {
            out = out.header("redelivered", "true");
        }
        let auto = self.server.ack_mode(&delivery.subscription) == Some(AckMode::Auto);
        match self.server.deliver(&delivery.subscription, &out) {
            Ok(id) => match delivery.tag {
                Some(tag) if auto => self.auto_written.push(tag),
                Some(tag) => {
                    self.unacked.insert(id, tag);
                }
                None => {}
            },
            Err(e) => {
                // Not encodable for this client (a header 1.0 cannot carry): drop it rather
                // than bounce it between consumers forever.
                println!(
                    "[{}] dropped a message for subscription {:?}: {e}",
                    self.number,
                    String::from_utf8_lossy(&delivery.subscription)
                );
                if let Some(tag) = delivery.tag {
                    let _ = self.shared.broker().ack(self.connection, None, vec![tag]);
                }
            }
        }
    }
}

/// Headers of a SEND that MESSAGE frames carry on: all but those the broker or the session
/// set, decoded, the first of repeated ones only.
pub fn passed_headers(frame: &OwnedFrame) -> Vec<(Bytes, Bytes)> {
    const NOT_PASSED: &[&[u8]] = &[
        b"destination",
        b"transaction",
        b"receipt",
        b"content-length",
        b"message-id",
        b"subscription",
        b"ack",
        b"redelivered",
    ];
    let escaping = frame.escaping();
    let mut headers: Vec<(Bytes, Bytes)> = Vec::new();
    for header in frame.headers() {
        let (Ok(name), Ok(value)) = (
            Value::new(header.name, escaping).decode(),
            Value::new(header.value, escaping).decode(),
        ) else {
            continue;
        };
        if NOT_PASSED.contains(&name.as_ref()) || headers.iter().any(|(n, _)| n[..] == name[..]) {
            continue;
        }
        headers.push((
            Bytes::from(name.into_owned()),
            Bytes::from(value.into_owned()),
        ));
    }
    headers
}

/// A close reason for the log.
pub fn describe(reason: CloseReason) -> String {
    match reason {
        CloseReason::Disconnected => "client sent DISCONNECT".into(),
        CloseReason::Rejected => "CONNECT rejected (bad login)".into(),
        CloseReason::ProtocolError(e) => format!("protocol error, ERROR sent: {e}"),
        CloseReason::Error => "ERROR sent".into(),
        CloseReason::HeartBeatTimeout => "heart-beat timeout".into(),
        CloseReason::TransportClosed => "transport closed".into(),
        other => format!("{other:?}"),
    }
}
