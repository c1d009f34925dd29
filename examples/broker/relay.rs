//! The broker relay: instead of the in-memory broker, broker destinations live on an upstream
//! STOMP broker (RabbitMQ, say), so that many broker processes share them.
//!
//! Each downstream connection keeps its own [`Server`] session on our side and gets its own
//! upstream [`Client`] session, opened when the downstream CONNECT arrives (CONNECTED goes
//! downstream only once the upstream broker sent its CONNECTED; an unreachable upstream
//! gives the CONNECT an ERROR). One task drives both sessions:
//!
//! - SEND, SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT, ABORT for broker destinations
//!   (`/topic/`, `/queue/` and RabbitMQ's `/exchange/`, `/amq/queue/`, `/temp-queue/`) go
//!   upstream; the user's headers go along.
//! - Subscription ids are mapped both ways; upstream MESSAGEs are delivered downstream with
//!   the downstream subscription id, and the downstream ack ids are mapped to the upstream
//!   MESSAGEs, so that ACK and NACK reach the upstream broker (`client` mode acknowledges
//!   cumulatively on both sides).
//! - A downstream `receipt` becomes an upstream `receipt`; the downstream RECEIPT is written
//!   only when the upstream RECEIPT arrived.
//! - A SEND to an application destination (`/app/hello`) is handled here, by
//!   [`crate::greeting`]; its replies are published upstream through the shared "system"
//!   connection, and the downstream RECEIPT waits for the upstream RECEIPTs of those.
//! - Heart-beats run on each leg on their own (each session's own). An upstream ERROR,
//!   heart-beat timeout or lost connection gives the downstream client an ERROR (with a
//!   `message` header) and closes it; a downstream close disconnects the upstream session.
//!
//! The system connection reconnects with exponential backoff; while it is down, application
//! messages are answered with an ERROR.

#![allow(dead_code)] // shared with the relay tests: each user takes the parts it needs

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stomp_proto::session::client::{Message as UpMessage, Receipt, SendOptions, SubscribeOptions};
use stomp_proto::session::{
    Client, ClientConfig, ClientEvent, Message, MessageId, Server, ServerEvent, SessionError,
};
use stomp_proto::time::Instant;
use stomp_proto::{AckMode, HeartBeat, Value, Version, Versions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::broker::Publish;
use crate::connection::{self, Shared, Transport, Upstream};
use crate::greeting;

/// Where the relay forwards to, and how.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// The upstream broker's STOMP address (`host:port`).
    pub addr: String,
    /// The upstream `login`.
    pub login: String,
    /// The upstream `passcode`.
    pub passcode: String,
    /// The upstream virtual host (`host` header).
    pub host: String,
    /// The heart-beats asked of the upstream broker, both ways, in milliseconds (0: none).
    pub heart_beat_ms: u32,
    /// How long opening an upstream connection (TCP and CONNECTED) may take.
    pub connect_timeout: Duration,
    /// The first delay before the system connection reconnects; it doubles up to
    /// `max_backoff`.
    pub min_backoff: Duration,
    /// The longest delay between reconnection attempts.
    pub max_backoff: Duration,
}

impl RelayConfig {
    /// RabbitMQ's defaults: guest/guest, virtual host `/`, 10 s heart-beats.
    pub fn new(addr: impl Into<String>) -> RelayConfig {
        RelayConfig {
            addr: addr.into(),
            login: "guest".into(),
            passcode: "guest".into(),
            host: "/".into(),
            heart_beat_ms: 10_000,
            connect_timeout: Duration::from_secs(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig::new(&self.host)
            .login(&self.login, &self.passcode)
            .accept_versions(Versions::EMPTY.with(Version::V1_1).with(Version::V1_2))
            .heart_beat(HeartBeat::new(self.heart_beat_ms, self.heart_beat_ms))
            .connect_timeout(self.connect_timeout)
    }
}

/// Whether `destination` lives on the upstream broker.
pub fn is_broker_destination(destination: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"/topic/",
        b"/queue/",
        b"/exchange/",
        b"/amq/queue/",
        b"/temp-queue/",
    ];
    PREFIXES.iter().any(|p| destination.starts_with(p))
}

/// The relay: its configuration and the system connection. Put it in
/// [`crate::listen::Config::upstream`] to serve connections through it.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    system: mpsc::UnboundedSender<SystemRequest>,
    system_state: watch::Receiver<bool>,
}

impl Relay {
    /// Starts the system connection (on the current tokio runtime) and returns the relay.
    pub fn start(config: RelayConfig) -> Arc<Relay> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(false);
        tokio::spawn(system_task(config.clone(), rx, state_tx));
        Arc::new(Relay {
            config,
            system: tx,
            system_state: state_rx,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// Whether the system connection is connected now.
    pub fn system_connected(&self) -> bool {
        *self.system_state.borrow()
    }

    /// Waits until the system connection is connected, at most `wait`.
    pub async fn wait_system(&self, wait: Duration) -> bool {
        let mut state = self.system_state.clone();
        tokio::time::timeout(wait, state.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Publishes application messages through the system connection; resolves once the
    /// upstream broker confirmed every one with a RECEIPT.
    pub async fn publish(&self, messages: Vec<Publish>) -> Result<(), String> {
        let (done, wait) = oneshot::channel();
        self.system
            .send(SystemRequest { messages, done })
            .map_err(|_| "the relay's system connection is gone".to_string())?;
        wait.await
            .unwrap_or_else(|_| Err("the relay's system connection is gone".into()))
    }
}

impl Upstream for Relay {
    fn serve(
        self: Arc<Self>,
        shared: Arc<Shared>,
        transport: Transport,
        peer: SocketAddr,
        versions: Option<Versions>,
        shutdown: watch::Receiver<bool>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(serve(self, shared, transport, peer, versions, shutdown))
    }
}

// ---- one upstream leg ------------------------------------------------------------------------

/// The upstream TCP connection of a client session.
struct Leg {
    stream: TcpStream,
    buf: BytesMut,
}

impl Leg {
    async fn connect(config: &RelayConfig) -> Result<Leg, String> {
        let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&config.addr))
            .await
            .map_err(|_| format!("connecting to {} timed out", config.addr))?
            .map_err(|e| format!("cannot connect to {}: {e}", config.addr))?;
        let _ = stream.set_nodelay(true);
        Ok(Leg {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// The next bytes from upstream; `None` once it closed. Cancel-safe.
    async fn read(&mut self) -> io::Result<Option<Bytes>> {
        self.buf.reserve(16 * 1024);
        match self.stream.read_buf(&mut self.buf).await? {
            0 => Ok(None),
            _ => Ok(Some(self.buf.split().freeze())),
        }
    }

    async fn write(&mut self, chunks: &[Bytes]) -> io::Result<()> {
        for chunk in chunks {
            self.stream.write_all(chunk).await?;
        }
        self.stream.flush().await
    }
}

/// Reads from the leg if there is one; pends forever otherwise.
async fn read_leg(leg: &mut Option<Leg>) -> io::Result<Option<Bytes>> {
    match leg {
        Some(leg) => leg.read().await,
        None => std::future::pending().await,
    }
}

fn earliest(deadlines: &[Option<tokio::time::Instant>]) -> Option<tokio::time::Instant> {
    deadlines.iter().flatten().min().copied()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The headers of a frame, decoded, except those named in `skip` (and the first of repeated
/// ones only); pairs that are not UTF-8 are dropped, as the client session takes `&str`.
fn user_headers(frame: &stomp_proto::codec::OwnedFrame, skip: &[&str]) -> Vec<(String, String)> {
    let escaping = frame.escaping();
    let mut out: Vec<(String, String)> = Vec::new();
    for header in frame.headers() {
        let (Ok(name), Ok(value)) = (
            Value::new(header.name, escaping).decode(),
            Value::new(header.value, escaping).decode(),
        ) else {
            continue;
        };
        let (Ok(name), Ok(value)) = (std::str::from_utf8(&name), std::str::from_utf8(&value))
        else {
            continue;
        };
        if skip.contains(&name) || out.iter().any(|(n, _)| n == name) {
            continue;
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    out
}

fn as_pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// `Client::begin`, `Client::commit` or `Client::abort`.
type TransactionFrame =
    fn(&mut Client, Instant, &str, Receipt<'_>) -> Result<Option<String>, SessionError>;

fn receipt_wanted(receipt: &Option<Bytes>) -> Receipt<'static> {
    if receipt.is_some() {
        Receipt::Generated
    } else {
        Receipt::None
    }
}

// ---- the downstream connection ----------------------------------------------------------------

/// How many application messages of one connection may wait for the upstream broker before
/// the relay stops reading that connection.
const MAX_APP_IN_FLIGHT: usize = 64;

/// An application message handled: the downstream receipt to confirm, or the failure.
struct AppDone {
    receipt: Option<Bytes>,
    result: Result<(), String>,
}

/// The state of one relayed connection.
struct Relayed {
    shared: Arc<Shared>,
    relay: Arc<Relay>,
    number: u64,
    server: Server,
    /// The upstream session, from the downstream CONNECT on.
    client: Option<Client>,
    /// The downstream CONNECT waits for an upstream connection to be opened.
    connect_requested: bool,
    accepted: bool,
    /// Downstream subscription id → upstream id, and back.
    up_subscription: HashMap<Bytes, String>,
    down_subscription: HashMap<String, Bytes>,
    /// Downstream message id → the upstream MESSAGE, for ACK and NACK.
    unacked: HashMap<MessageId, UpMessage>,
    /// Upstream receipt id → downstream receipt id.
    receipts: HashMap<String, Bytes>,
    /// Bytes for the downstream transport and for the upstream one.
    down_out: Vec<Bytes>,
    up_out: Vec<Bytes>,
    /// Application messages in flight on the system connection report here.
    app_done: mpsc::UnboundedSender<AppDone>,
    /// Application messages handed to the system connection and not answered yet.
    app_in_flight: usize,
    /// A DISCONNECT (with its receipt, if any) waiting for those to be answered first.
    disconnect_after_app: Option<Option<Bytes>>,
    reason: Option<String>,
}

async fn serve(
    relay: Arc<Relay>,
    shared: Arc<Shared>,
    mut transport: Transport,
    peer: SocketAddr,
    versions: Option<Versions>,
    mut shutdown: watch::Receiver<bool>,
) {
    let number = shared.next_session.fetch_add(1, Ordering::Relaxed);
    let kind = transport.name();
    println!(
        "[{number}] open: {peer} over {kind} (relayed to {})",
        relay.config.addr
    );
    let mut config = shared.settings.server.clone();
    if let Some(versions) = versions {
        config = config.versions(versions);
    }
    let (app_done, mut app_results) = mpsc::unbounded_channel();
    let mut conn = Relayed {
        server: Server::new(config, shared.now()),
        shared: shared.clone(),
        relay: relay.clone(),
        number,
        client: None,
        connect_requested: false,
        accepted: false,
        up_subscription: HashMap::new(),
        down_subscription: HashMap::new(),
        unacked: HashMap::new(),
        receipts: HashMap::new(),
        down_out: Vec::new(),
        up_out: Vec::new(),
        app_done,
        app_in_flight: 0,
        disconnect_after_app: None,
        reason: None,
    };
    let connect_deadline = tokio::time::Instant::now() + shared.settings.connect_timeout;
    let mut leg: Option<Leg> = None;
    let mut read_buf = BytesMut::new();
    loop {
        conn.drain();
        if conn.connect_requested {
            conn.connect_requested = false;
            match Leg::connect(&relay.config).await {
                Ok(opened) => {
                    let mut client = Client::new(relay.config.client_config());
                    match client.connect(shared.now()) {
                        Ok(()) => {
                            leg = Some(opened);
                            conn.client = Some(client);
                        }
                        Err(e) => conn.fail(&format!("cannot connect upstream: {e}"), None),
                    }
                }
                Err(e) => conn.fail(&format!("upstream broker unavailable: {e}"), None),
            }
            continue;
        }
        if !conn.up_out.is_empty() {
            let out = std::mem::take(&mut conn.up_out);
            let written = match &mut leg {
                Some(leg) => leg.write(&out).await,
                None => Ok(()),
            };
            if let Err(e) = written {
                conn.upstream_lost(&format!("write failed: {e}"));
                leg = None;
                continue;
            }
        }
        if conn.client.as_ref().is_some_and(|c| c.is_closed()) {
            leg = None;
        }
        if !conn.down_out.is_empty() {
            let out = std::mem::take(&mut conn.down_out);
            let timeout = shared.settings.write_timeout;
            if let Err(why) = transport.write_within(&out, timeout).await {
                conn.transport_closed(why);
                continue;
            }
        }
        if conn.server.is_closed() {
            break;
        }
        let mut deadlines = vec![
            conn.server.poll_timeout().map(|at| shared.deadline(at)),
            conn.client
                .as_ref()
                .and_then(|c| c.poll_timeout())
                .map(|at| shared.deadline(at)),
        ];
        if !conn.accepted {
            deadlines.push(Some(connect_deadline));
        }
        let deadline = earliest(&deadlines);
        tokio::select! {
            biased;
            _ = connection::stopping(&mut shutdown) => {
                conn.reason = Some("broker shutting down".into());
                if conn.server.error("the broker is shutting down", None, b"").is_err() {
                    conn.server.handle_close(shared.now());
                }
            }
            // Backpressure: a client whose application messages wait for the upstream broker
            // is not read from meanwhile, so a flood cannot pile up in memory.
            read = transport.read(&mut read_buf), if conn.app_in_flight < MAX_APP_IN_FLIGHT => match read {
                Ok(Some(bytes)) => conn.server.handle_input(shared.now(), &bytes),
                Ok(None) => conn.transport_closed("peer closed the connection".into()),
                Err(e) => conn.transport_closed(format!("read failed: {e}")),
            },
            read = read_leg(&mut leg) => match read {
                Ok(Some(bytes)) => {
                    if let Some(client) = &mut conn.client {
                        client.handle_input(shared.now(), &bytes);
                    }
                }
                Ok(None) => {
                    leg = None;
                    conn.upstream_lost("the upstream broker closed the connection");
                }
                Err(e) => {
                    leg = None;
                    conn.upstream_lost(&format!("read failed: {e}"));
                }
            },
            Some(done) = app_results.recv() => conn.app_done(done),
            _ = connection::sleep_until(deadline) => {
                let now = shared.now();
                let clock = tokio::time::Instant::now();
                if !conn.accepted && clock >= connect_deadline {
                    conn.transport_closed("no CONNECT in time".into());
                } else {
                    conn.server.handle_timeout(now);
                    if let Some(client) = &mut conn.client {
                        client.handle_timeout(now);
                    }
                }
            }
        }
    }
    conn.drain();
    // The downstream side is over: leave the upstream broker politely (it redelivers what
    // was not acknowledged).
    if let (Some(client), Some(mut up)) = (conn.client.as_mut(), leg.take()) {
        if client.disconnect(shared.now()).is_ok() {
            let mut out = Vec::new();
            while let Some(bytes) = client.poll_transmit() {
                out.push(bytes);
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), up.write(&out)).await;
        }
    }
    transport.close(shared.settings.linger).await;
    let reason = conn.reason.unwrap_or_else(|| "closed".into());
    println!("[{number}] close: {peer} over {kind}: {reason}");
}

impl Relayed {
    /// Drains both sessions until neither has anything more: each one's events may make the
    /// other write.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(bytes) = self.server.poll_transmit() {
                self.down_out.push(bytes);
                progressed = true;
            }
            while let Some(event) = self.server.poll_event() {
                self.on_downstream(event);
                progressed = true;
            }
            if let Some(client) = &mut self.client {
                while let Some(bytes) = client.poll_transmit() {
                    self.up_out.push(bytes);
                    progressed = true;
                }
            }
            while let Some(event) = self.client.as_mut().and_then(|c| c.poll_event()) {
                self.on_upstream(event);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
    }

    fn transport_closed(&mut self, why: String) {
        if self.reason.is_none() {
            self.reason = Some(why);
        }
        self.server.handle_close(self.shared.now());
    }

    /// Ends the downstream session with an ERROR saying `message`.
    fn fail(&mut self, message: &str, receipt: Option<&[u8]>) {
        if self.reason.is_none() {
            self.reason = Some(format!("ERROR sent: {message}"));
        }
        if self.server.error(message, receipt, b"").is_err() {
            self.server.handle_close(self.shared.now());
        }
    }

    /// The upstream connection is gone: the downstream client gets an ERROR and a close.
    fn upstream_lost(&mut self, why: &str) {
        self.client = None;
        self.fail(&format!("upstream broker connection lost: {why}"), None);
    }

    fn app_done(&mut self, done: AppDone) {
        self.app_in_flight -= 1;
        match done.result {
            Ok(()) => {
                if let Some(receipt) = done.receipt {
                    let _ = self.server.receipt(&receipt);
                }
            }
            Err(e) => self.fail(&e, done.receipt.as_deref()),
        }
        if self.app_in_flight == 0 {
            if let Some(receipt) = self.disconnect_after_app.take() {
                self.disconnect(receipt);
            }
        }
    }

    /// DISCONNECT: confirmed once the upstream broker confirmed its own DISCONNECT, which says
    /// it has everything before it.
    fn disconnect(&mut self, receipt: Option<Bytes>) {
        let now = self.shared.now();
        let Some(client) = self.client.as_mut().filter(|c| c.is_connected()) else {
            if let Some(receipt) = receipt {
                let _ = self.server.receipt(&receipt);
            }
            return;
        };
        match client.disconnect(now) {
            Ok(up) => self.track(Some(up), receipt),
            Err(e) => self.refused(e, &receipt),
        }
    }

    /// The upstream session, connected; else the downstream client gets an ERROR.
    fn upstream(&mut self, receipt: &Option<Bytes>) -> Option<&mut Client> {
        if self.client.as_ref().is_some_and(|c| c.is_connected()) {
            return self.client.as_mut();
        }
        self.fail("upstream broker not connected", receipt.as_deref());
        None
    }

    /// Maps an upstream receipt (if one was asked for) to the downstream one.
    fn track(&mut self, upstream: Option<String>, downstream: Option<Bytes>) {
        if let (Some(up), Some(down)) = (upstream, downstream) {
            self.receipts.insert(up, down);
        }
    }

    /// A call on the upstream session failed: tell the downstream client.
    /// BEGIN, COMMIT or ABORT (`frame`: the client session's method for it), forwarded upstream
    /// with the downstream receipt mapped.
    fn transaction(
        &mut self,
        now: Instant,
        frame: TransactionFrame,
        transaction: &[u8],
        receipt: Option<Bytes>,
    ) {
        let transaction = text(transaction);
        let Some(client) = self.upstream(&receipt) else {
            return;
        };
        match frame(client, now, &transaction, receipt_wanted(&receipt)) {
            Ok(up) => self.track(up, receipt),
            Err(e) => self.refused(e, &receipt),
        }
    }

    fn refused(&mut self, e: impl std::fmt::Display, receipt: &Option<Bytes>) {
        self.fail(&format!("relay: {e}"), receipt.as_deref());
    }

    fn on_downstream(&mut self, event: ServerEvent) {
        let now = self.shared.now();
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
                    self.connect_requested = true;
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
                if greeting::is_mapped(&destination) {
                    match greeting::handle(&destination, frame.body()) {
                        Ok(replies) => {
                            let relay = self.relay.clone();
                            let done = self.app_done.clone();
                            self.app_in_flight += 1;
                            tokio::spawn(async move {
                                let result = relay.publish(replies).await;
                                let _ = done.send(AppDone { receipt, result });
                            });
                        }
                        Err(e) => self.fail(&e, receipt.as_deref()),
                    }
                    return;
                }
                if !is_broker_destination(&destination) {
                    let message = format!(
                        "unknown destination {:?}: use /topic/NAME, /queue/NAME or /app/hello",
                        text(&destination)
                    );
                    self.fail(&message, receipt.as_deref());
                    return;
                }
                let headers = user_headers(
                    &frame,
                    &[
                        "destination",
                        "transaction",
                        "receipt",
                        "content-length",
                        "message-id",
                        "subscription",
                        "ack",
                    ],
                );
                let pairs = as_pairs(&headers);
                let destination = text(&destination);
                let transaction = transaction.map(|t| text(&t));
                let mut options = SendOptions::new()
                    .with_receipt(receipt_wanted(&receipt))
                    .headers(&pairs);
                if let Some(t) = &transaction {
                    options = options.transaction(t);
                }
                let Some(client) = self.upstream(&receipt) else {
                    return;
                };
                match client.send(now, &destination, frame.body(), options) {
                    Ok(up) => self.track(up, receipt),
                    Err(e) => self.refused(e, &receipt),
                }
            }
            ServerEvent::Subscribe {
                subscription,
                destination,
                ack,
                receipt,
                frame,
            } => {
                if !is_broker_destination(&destination) {
                    let message = format!(
                        "cannot subscribe to {:?}: use /topic/NAME or /queue/NAME",
                        text(&destination)
                    );
                    self.fail(&message, receipt.as_deref());
                    return;
                }
                // Broker-specific headers (`prefetch-count`, `durable`, `selector`, …) go along.
                let headers = user_headers(&frame, &["destination", "id", "ack", "receipt"]);
                let pairs = as_pairs(&headers);
                let destination = text(&destination);
                let options = SubscribeOptions::new()
                    .ack(ack)
                    .with_receipt(receipt_wanted(&receipt))
                    .headers(&pairs);
                let Some(client) = self.upstream(&receipt) else {
                    return;
                };
                match client.subscribe(now, &destination, options) {
                    Ok(sub) => {
                        self.down_subscription
                            .insert(sub.id.clone(), subscription.clone());
                        self.up_subscription.insert(subscription, sub.id);
                        self.track(sub.receipt, receipt);
                    }
                    Err(e) => self.refused(e, &receipt),
                }
            }
            ServerEvent::Unsubscribe {
                subscription,
                unacknowledged,
                receipt,
            } => {
                for id in unacknowledged {
                    self.unacked.remove(&id);
                }
                let Some(up_id) = self.up_subscription.remove(&subscription) else {
                    // Never reached upstream: nothing to undo there.
                    if let Some(receipt) = receipt {
                        let _ = self.server.receipt(&receipt);
                    }
                    return;
                };
                self.down_subscription.remove(&up_id);
                let Some(client) = self.upstream(&receipt) else {
                    return;
                };
                match client.unsubscribe(now, &up_id, receipt_wanted(&receipt)) {
                    Ok(up) => self.track(up, receipt),
                    Err(e) => self.refused(e, &receipt),
                }
            }
            ServerEvent::Ack {
                message_ids,
                transaction,
                receipt,
                ..
            } => self.acknowledge(true, message_ids, transaction, receipt),
            ServerEvent::Nack {
                message_ids,
                transaction,
                receipt,
                ..
            } => self.acknowledge(false, message_ids, transaction, receipt),
            ServerEvent::Begin {
                transaction,
                receipt,
            } => self.transaction(now, Client::begin, &transaction, receipt),
            ServerEvent::Commit {
                transaction,
                receipt,
            } => self.transaction(now, Client::commit, &transaction, receipt),
            ServerEvent::Abort {
                transaction,
                receipt,
            } => self.transaction(now, Client::abort, &transaction, receipt),
            ServerEvent::Disconnect { receipt } => {
                // Application messages sent before it are confirmed first.
                if self.app_in_flight > 0 {
                    self.disconnect_after_app = Some(receipt);
                } else {
                    self.disconnect(receipt);
                }
            }
            ServerEvent::TransactionAborted { transaction } => {
                let transaction = text(&transaction);
                if let Some(client) = self.client.as_mut().filter(|c| c.is_connected()) {
                    let _ = client.abort(now, &transaction, Receipt::None);
                }
            }
            ServerEvent::Closed { reason } if self.reason.is_none() => {
                self.reason = Some(connection::describe(reason));
            }
            _ => {}
        }
    }

    /// ACK (`ack`) or NACK of downstream messages, passed on for their upstream MESSAGEs:
    /// in `client` mode the newest one stands for all (cumulative on both sides), in
    /// `client-individual` mode each is passed on.
    fn acknowledge(
        &mut self,
        ack: bool,
        message_ids: Vec<MessageId>,
        transaction: Option<Bytes>,
        receipt: Option<Bytes>,
    ) {
        let now = self.shared.now();
        let mut messages: Vec<UpMessage> = message_ids
            .iter()
            .filter_map(|id| self.unacked.remove(id))
            .collect();
        if messages
            .last()
            .is_some_and(|m| m.ack_mode() == AckMode::Client)
        {
            messages.drain(..messages.len() - 1);
        }
        if messages.is_empty() {
            if let Some(receipt) = receipt {
                let _ = self.server.receipt(&receipt);
            }
            return;
        }
        let transaction = transaction.map(|t| text(&t));
        let Some(client) = self.upstream(&receipt) else {
            return;
        };
        let last = messages.len() - 1;
        let mut result = Ok(None);
        for (i, message) in messages.iter().enumerate() {
            let wanted = if i == last {
                receipt_wanted(&receipt)
            } else {
                Receipt::None
            };
            result = if ack {
                client.ack(now, message, transaction.as_deref(), wanted)
            } else {
                client.nack(now, message, transaction.as_deref(), wanted)
            };
            if result.is_err() {
                break;
            }
        }
        match result {
            Ok(up) => self.track(up, receipt),
            Err(e) => self.refused(e, &receipt),
        }
    }

    fn on_upstream(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected(_) => {
                let session = format!("session-{}", self.number);
                if self.server.accept(Some(&session)).is_ok() {
                    self.accepted = true;
                }
            }
            ClientEvent::Message(message) => self.deliver(message),
            ClientEvent::Receipt { receipt_id, .. } => {
                if let Some(down) = self.receipts.remove(&receipt_id) {
                    let _ = self.server.receipt(&down);
                }
            }
            ClientEvent::Disconnected { receipt_id } => {
                match self.receipts.remove(&receipt_id) {
                    Some(down) => {
                        let _ = self.server.receipt(&down);
                    }
                    None => self.upstream_lost("the upstream session ended"),
                }
                self.client = None;
            }
            ClientEvent::Error(error) => {
                let message = error
                    .message()
                    .and_then(|m| m.decode().ok().map(|m| text(&m)))
                    .unwrap_or_else(|| "(no message)".into());
                let receipt = error
                    .receipt_id()
                    .and_then(|r| r.decode().ok().map(|r| text(&r)))
                    .and_then(|r| self.receipts.remove(&r));
                let body = error.body().to_vec();
                self.client = None;
                if self.reason.is_none() {
                    self.reason = Some(format!("upstream ERROR: {message}"));
                }
                let message = format!("upstream broker: {message}");
                if self
                    .server
                    .error(&message, receipt.as_deref(), &body)
                    .is_err()
                {
                    self.server.handle_close(self.shared.now());
                }
            }
            ClientEvent::HeartBeatTimeout => self.upstream_lost("heart-beat timeout"),
            ClientEvent::ConnectTimeout => {
                self.upstream_lost("no CONNECTED from the upstream broker in time")
            }
            ClientEvent::ProtocolError(e) => {
                self.upstream_lost(&format!("protocol error from the upstream broker: {e:?}"))
            }
            ClientEvent::UnexpectedMessage(_) | ClientEvent::UnexpectedReceipt(_) => {}
            _ => {}
        }
    }

    /// An upstream MESSAGE, delivered on the downstream subscription it belongs to.
    fn deliver(&mut self, message: UpMessage) {
        let Some(subscription) = self.down_subscription.get(message.subscription()).cloned() else {
            return;
        };
        if !self.server.is_connected() {
            return;
        }
        let destination = message
            .destination()
            .and_then(|d| d.decode().ok().map(|d| d.into_owned()))
            .unwrap_or_default();
        let headers = user_headers(
            message.frame(),
            // RabbitMQ copies the SEND's `receipt` onto the MESSAGE: it is the relay's own
            // upstream receipt id, meaningless downstream.
            &[
                "subscription",
                "message-id",
                "destination",
                "ack",
                "content-length",
                "receipt",
            ],
        );
        let mut out = Message::new(&destination, message.body_bytes());
        for (name, value) in &headers {
            out = out.header(name.as_str(), value.as_str());
        }
        let auto = message.ack_mode() == AckMode::Auto;
        match self.server.deliver(&subscription, &out) {
            Ok(id) if !auto => {
                self.unacked.insert(id, message);
            }
            Ok(_) => {}
            Err(e) => {
                // Not encodable for this client: refuse it upstream rather than lose it.
                println!(
                    "[{}] could not deliver a message for subscription {:?}: {e}",
                    self.number,
                    text(&subscription)
                );
                if !auto {
                    if let Some(client) = self.client.as_mut().filter(|c| c.is_connected()) {
                        let _ = client.nack(self.shared.now(), &message, None, Receipt::None);
                    }
                }
            }
        }
    }
}

// ---- the system connection ---------------------------------------------------------------------

/// Application messages to publish upstream, and who waits for their receipts.
struct SystemRequest {
    messages: Vec<Publish>,
    done: oneshot::Sender<Result<(), String>>,
}

/// A request in flight: how many receipts are still due.
struct InFlight {
    remaining: usize,
    done: oneshot::Sender<Result<(), String>>,
}

/// The shared upstream connection for application messages.
struct System {
    config: RelayConfig,
    origin: std::time::Instant,
    state: watch::Sender<bool>,
    backoff: Duration,
    /// When to try connecting again (while down).
    retry_at: Option<tokio::time::Instant>,
    leg: Option<Leg>,
    client: Option<Client>,
    /// CONNECTED must arrive by then.
    /// Requests that arrived while the session was being opened.
    waiting: VecDeque<SystemRequest>,
    in_flight: HashMap<u64, InFlight>,
    /// Upstream receipt id → the request it belongs to.
    receipts: HashMap<String, u64>,
    next_request: u64,
}

impl System {
    fn now(&self) -> Instant {
        Instant::from_std(self.origin, std::time::Instant::now())
    }

    /// The session is gone: fail what waits, reconnect after the backoff.
    fn lost(&mut self, why: &str) {
        println!(
            "relay: system connection to {} lost ({why}); reconnecting in {} ms",
            self.config.addr,
            self.backoff.as_millis()
        );
        let _ = self.state.send(false);
        self.client = None;
        self.leg = None;
        let message =
            format!("the relay's system connection to the upstream broker was lost: {why}");
        for (_, flight) in self.in_flight.drain() {
            let _ = flight.done.send(Err(message.clone()));
        }
        for request in self.waiting.drain(..) {
            let _ = request.done.send(Err(message.clone()));
        }
        self.receipts.clear();
        self.schedule_retry();
    }

    fn schedule_retry(&mut self) {
        self.retry_at = Some(tokio::time::Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.config.max_backoff);
    }

    /// Queues the SENDs of a request, each with a receipt.
    fn publish(&mut self, request: SystemRequest) {
        let now = self.now();
        let Some(client) = &mut self.client else {
            let _ = request
                .done
                .send(Err("the relay's system connection is down".into()));
            return;
        };
        let n = self.next_request;
        self.next_request += 1;
        let mut remaining = 0;
        for message in &request.messages {
            let headers: Vec<(String, String)> = message
                .headers
                .iter()
                .filter_map(|(n, v)| {
                    Some((
                        String::from_utf8(n.to_vec()).ok()?,
                        String::from_utf8(v.to_vec()).ok()?,
                    ))
                })
                .collect();
            let pairs = as_pairs(&headers);
            let options = SendOptions::new().receipt().headers(&pairs);
            match client.send(now, &text(&message.destination), &message.body, options) {
                Ok(Some(receipt)) => {
                    self.receipts.insert(receipt, n);
                    remaining += 1;
                }
                Ok(None) => {}
                Err(e) => {
                    // Those already queued go out; this one and the rest do not.
                    self.receipts.retain(|_, r| *r != n);
                    let _ = request
                        .done
                        .send(Err(format!("cannot publish upstream: {e}")));
                    return;
                }
            }
        }
        if remaining == 0 {
            let _ = request.done.send(Ok(()));
        } else {
            self.in_flight.insert(
                n,
                InFlight {
                    remaining,
                    done: request.done,
                },
            );
        }
    }

    /// Drains the session: events handled, bytes written. Returns why the session was lost,
    /// if it was.
    async fn drain(&mut self) -> Option<String> {
        let client = self.client.as_mut()?;
        let mut lost = None;
        let mut connected = false;
        let mut confirmed = Vec::new();
        while let Some(event) = client.poll_event() {
            match event {
                ClientEvent::Connected(_) => connected = true,
                ClientEvent::Receipt { receipt_id, .. } => confirmed.push(receipt_id),
                ClientEvent::Error(e) => {
                    let message = e
                        .message()
                        .and_then(|m| m.decode().ok().map(|m| text(&m)))
                        .unwrap_or_default();
                    lost = Some(format!("upstream ERROR: {message}"));
                }
                ClientEvent::HeartBeatTimeout => lost = Some("heart-beat timeout".into()),
                ClientEvent::ConnectTimeout => lost = Some("no CONNECTED in time".into()),
                ClientEvent::ProtocolError(e) => lost = Some(format!("protocol error: {e:?}")),
                ClientEvent::Disconnected { .. } => lost = Some("disconnected".into()),
                _ => {}
            }
        }
        if connected {
            println!("relay: system connection to {} up", self.config.addr);
            self.backoff = self.config.min_backoff;
            let _ = self.state.send(true);
        }
        for receipt_id in confirmed {
            let Some(n) = self.receipts.remove(&receipt_id) else {
                continue;
            };
            let Some(flight) = self.in_flight.get_mut(&n) else {
                continue;
            };
            flight.remaining -= 1;
            if flight.remaining == 0 {
                if let Some(flight) = self.in_flight.remove(&n) {
                    let _ = flight.done.send(Ok(()));
                }
            }
        }
        if lost.is_none() && self.client.as_ref().is_some_and(|c| c.is_connected()) {
            while let Some(request) = self.waiting.pop_front() {
                self.publish(request);
            }
        }
        let client = self.client.as_mut()?;
        let mut out = Vec::new();
        while let Some(bytes) = client.poll_transmit() {
            out.push(bytes);
        }
        if lost.is_none() && client.is_closed() {
            lost = Some("session closed".into());
        }
        if lost.is_none() && !out.is_empty() {
            if let Some(leg) = &mut self.leg {
                if let Err(e) = leg.write(&out).await {
                    lost = Some(format!("write failed: {e}"));
                }
            }
        }
        lost
    }

    async fn connect(&mut self) {
        match Leg::connect(&self.config).await {
            Ok(leg) => {
                let mut client = Client::new(self.config.client_config());
                match client.connect(self.now()) {
                    Ok(()) => {
                        self.leg = Some(leg);
                        self.client = Some(client);
                    }
                    Err(e) => {
                        println!("relay: system connection: {e}");
                        self.schedule_retry();
                    }
                }
            }
            Err(e) => {
                println!(
                    "relay: system connection: {e}; retrying in {} ms",
                    self.backoff.as_millis()
                );
                self.schedule_retry();
            }
        }
    }
}

/// Drives the system connection: connects, reconnects with exponential backoff, publishes
/// application messages with receipts. Ends when the relay is dropped.
async fn system_task(
    config: RelayConfig,
    mut requests: mpsc::UnboundedReceiver<SystemRequest>,
    state: watch::Sender<bool>,
) {
    let mut system = System {
        backoff: config.min_backoff,
        config,
        origin: std::time::Instant::now(),
        state,
        retry_at: Some(tokio::time::Instant::now()),
        leg: None,
        client: None,
        waiting: VecDeque::new(),
        in_flight: HashMap::new(),
        receipts: HashMap::new(),
        next_request: 0,
    };
    loop {
        if let Some(why) = system.drain().await {
            system.lost(&why);
            continue;
        }
        let origin = system.origin;
        let deadline = earliest(&[
            system
                .client
                .as_ref()
                .and_then(|c| c.poll_timeout())
                .map(|i| {
                    tokio::time::Instant::from_std(origin + Duration::from_micros(i.total_micros()))
                }),
            system.retry_at,
        ]);
        tokio::select! {
            request = requests.recv() => match request {
                Some(request) if system.client.is_some() => system.waiting.push_back(request),
                Some(request) => {
                    let _ = request.done.send(Err(
                        "the relay's system connection to the upstream broker is down; \
                         reconnecting"
                            .into(),
                    ));
                }
                // The relay is gone.
                None => return,
            },
            read = read_leg(&mut system.leg) => match read {
                Ok(Some(bytes)) => {
                    let now = system.now();
                    if let Some(client) = &mut system.client {
                        client.handle_input(now, &bytes);
                    }
                }
                Ok(None) => system.lost("the upstream broker closed the connection"),
                Err(e) => system.lost(&format!("read failed: {e}")),
            },
            _ = connection::sleep_until(deadline) => {
                let clock = tokio::time::Instant::now();
                if system.retry_at.is_some_and(|r| clock >= r) {
                    system.retry_at = None;
                    system.connect().await;
                } else {
                    let now = system.now();
                    if let Some(client) = &mut system.client {
                        client.handle_timeout(now);
                    }
                }
            }
        }
    }
}
