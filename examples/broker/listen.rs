//! The listeners: STOMP over TCP on one port, STOMP over WebSocket (and the greeting page) on
//! another, one task per connection, and a clean shutdown.

#![allow(dead_code)] // shared with tests/broker.rs: each user takes the parts it needs

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stomp_proto::session::ServerConfig;
use stomp_proto::{HeartBeat, Limits};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::connection::{self, Settings, Shared, Transport};
use crate::websocket;

/// How to run the broker.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where STOMP over TCP listens.
    pub tcp: String,
    /// Where STOMP over WebSocket and the page listen.
    pub ws: String,
    /// The only login accepted, if any.
    pub login: Option<(String, String)>,
    /// The server's heart-beat offer, both ways, in milliseconds (0: none).
    pub heart_beat_ms: u32,
    /// Frame limits.
    pub limits: Limits,
    /// How long a client may take to send CONNECT.
    pub connect_timeout: Duration,
    /// How long a closing connection keeps reading so its last frame arrives.
    pub linger: Duration,
    /// How many deliveries may wait for a connection's task: past that, a topic subscriber
    /// is too slow and is disconnected (with an ERROR), and queue messages stay in their
    /// queue until it catches up.
    pub delivery_backlog: usize,
    /// How long one write to a client may take before the connection is given up (a client
    /// that stopped reading).
    pub write_timeout: Duration,
    /// Serve connections through this instead of the in-memory broker (the broker relay).
    pub upstream: Option<Arc<dyn connection::Upstream>>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            tcp: "127.0.0.1:61613".into(),
            ws: "127.0.0.1:15674".into(),
            login: None,
            heart_beat_ms: 10_000,
            limits: Limits::DEFAULT,
            connect_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(1),
            delivery_backlog: 1024,
            write_timeout: Duration::from_secs(30),
            upstream: None,
        }
    }
}

/// A running broker.
#[derive(Debug)]
pub struct Running {
    /// Where STOMP over TCP listens.
    pub tcp_addr: SocketAddr,
    /// Where STOMP over WebSocket listens.
    pub ws_addr: SocketAddr,
    /// The state the connections share (tests look at the broker core through it).
    pub shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, closes every session (with an ERROR saying why) and waits for the
    /// connections to finish, at most `grace`.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = async {
            for listener in self.listeners {
                let _ = listener.await;
            }
        };
        let _ = tokio::time::timeout(grace, all).await;
    }
}

/// Binds both ports and starts serving.
pub async fn start(config: Config) -> io::Result<Running> {
    let tcp = TcpListener::bind(&config.tcp).await?;
    let ws = TcpListener::bind(&config.ws).await?;
    let server = ServerConfig::new()
        .server_name(Some(concat!(
            "stomp-proto-demo-broker/",
            env!("CARGO_PKG_VERSION")
        )))
        .heart_beat(HeartBeat::new(config.heart_beat_ms, config.heart_beat_ms))
        .limits(config.limits)
        // Browser clients (stompjs) send no `host` header.
        .require_host(false);
    let shared = Arc::new(Shared::new(Settings {
        server,
        login: config.login.clone(),
        connect_timeout: config.connect_timeout,
        linger: config.linger,
        delivery_backlog: config.delivery_backlog.max(1),
        write_timeout: config.write_timeout,
        upstream: config.upstream.clone(),
    }));
    let (stop, stopped) = watch::channel(false);
    let running = Running {
        tcp_addr: tcp.local_addr()?,
        ws_addr: ws.local_addr()?,
        shared: shared.clone(),
        stop,
        listeners: vec![
            tokio::spawn(accept_loop(tcp, shared.clone(), stopped.clone(), Port::Tcp)),
            tokio::spawn(accept_loop(ws, shared, stopped, Port::WebSocket)),
        ],
    };
    Ok(running)
}

#[derive(Clone, Copy)]
enum Port {
    Tcp,
    WebSocket,
}

/// Accepts until shutdown, then waits for its connections to end.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
    port: Port,
) {
    let mut connections = JoinSet::new();
    let for_connections = stopped.clone();
    loop {
        tokio::select! {
            _ = connection::stopping(&mut stopped) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve(stream, peer, shared.clone(), for_connections.clone(), port));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stopped: watch::Receiver<bool>,
    port: Port,
) {
    match port {
        Port::Tcp => {
            let _ = stream.set_nodelay(true);
            connection::run(shared, Transport::Tcp(stream), peer, None, stopped).await;
        }
        Port::WebSocket => websocket::serve(shared, stream, peer, stopped).await,
    }
}
