//! The broker core: destinations, subscriptions, queue messages in flight and transactions.
//!
//! Synchronous and runtime-free: connection tasks call it under a mutex, one call per STOMP
//! frame, and it hands messages for any connection (its own included) to that connection's
//! [`Outlet`]. Tests drive it directly with closures as outlets.
//!
//! - `/topic/NAME`: every subscriber gets a copy; nothing is kept.
//! - `/queue/NAME`: each message goes to one subscriber, round robin, and waits while the
//!   queue has none. A message delivered to a `client` or `client-individual` subscription
//!   stays in flight until it is acknowledged; a NACK, an UNSUBSCRIBE or the consumer's
//!   disconnect puts it back at the head of the queue, marked redelivered.
//! - `/app/...`: handled by application code ([`crate::greeting`]), which publishes to the
//!   other two kinds.
//!
//! Inside a transaction, SENDs and ACK/NACKs are kept and take effect at COMMIT; ABORT drops
//! them (the messages whose ACK is dropped are redelivered, since the session has already
//! settled them and no later ACK can name them).

#![allow(dead_code)] // shared with tests/broker.rs: each user takes the parts it needs

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::greeting;

/// One connection, as the broker knows it.
pub type ConnectionId = u64;

/// One SUBSCRIBE, unique across the broker's life: a subscription id can be reused by its
/// connection after UNSUBSCRIBE, a key never is.
pub type SubscriptionKey = u64;

/// One delivery of a queue message: what an ACK or NACK settles. Fresh for every delivery,
/// redeliveries included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryTag(u64);

/// A message as published: destination, the sender's headers (decoded, without the ones the
/// broker sets itself) and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publish {
    /// Where it goes.
    pub destination: Bytes,
    /// Headers passed through to MESSAGE frames, in order.
    pub headers: Vec<(Bytes, Bytes)>,
    /// The body.
    pub body: Bytes,
}

impl Publish {
    /// A message for `destination` without extra headers.
    pub fn new(destination: impl Into<Bytes>, body: impl Into<Bytes>) -> Publish {
        Publish {
            destination: destination.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<Bytes>, value: impl Into<Bytes>) -> Publish {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A message for one subscription of a connection.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The subscription's key: the connection delivers only while its subscription with
    /// this id still has this key.
    pub key: SubscriptionKey,
    /// The subscription id, as the client gave it.
    pub subscription: Bytes,
    /// The message, shared between its copies.
    pub message: Arc<Publish>,
    /// For queue messages: settle it with [`Broker::ack`] or [`Broker::nack`].
    pub tag: Option<DeliveryTag>,
    /// Whether the message was delivered before (NACK, or its consumer left).
    pub redelivered: bool,
}

/// Where a connection's deliveries go (a channel to its task). Returns `false` when the
/// connection is gone or has no room now (its backlog is full): a queue message then stays
/// in its queue (see [`Broker::redispatch`]), a topic message is not delivered.
pub trait Outlet: Send {
    /// Hands over one delivery.
    fn deliver(&mut self, delivery: Delivery) -> bool;
}

impl<F: FnMut(Delivery) -> bool + Send> Outlet for F {
    fn deliver(&mut self, delivery: Delivery) -> bool {
        self(delivery)
    }
}

/// Why the broker could not carry out a frame. The connection answers with ERROR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerError {
    /// Not `/topic/NAME`, `/queue/NAME` or a known `/app/...` destination.
    UnknownDestination(String),
    /// `/app/...` destinations take SENDs only.
    NotSubscribable(String),
    /// The application handler refused the message.
    Application(String),
    /// No such transaction on this connection.
    UnknownTransaction,
    /// No such connection (it was unregistered).
    UnknownConnection,
}

impl fmt::Display for BrokerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokerError::UnknownDestination(d) => write!(
                f,
                "unknown destination {d:?}: use /topic/NAME, /queue/NAME or /app/hello"
            ),
            BrokerError::NotSubscribable(d) => {
                write!(
                    f,
                    "cannot subscribe to {d:?}: /app/ destinations take SEND only"
                )
            }
            BrokerError::Application(e) => write!(f, "{e}"),
            BrokerError::UnknownTransaction => f.write_str("unknown transaction"),
            BrokerError::UnknownConnection => f.write_str("unknown connection"),
        }
    }
}

impl std::error::Error for BrokerError {}

/// The kinds of destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `/topic/NAME`: fan out.
    Topic,
    /// `/queue/NAME`: one consumer each.
    Queue,
    /// `/app/...`: application code.
    App,
}

/// What kind of destination `destination` is.
pub fn kind(destination: &[u8]) -> Result<Kind, BrokerError> {
    let named = |prefix: &[u8]| {
        destination
            .strip_prefix(prefix)
            .is_some_and(|name| !name.is_empty())
    };
    if named(b"/topic/") {
        Ok(Kind::Topic)
    } else if named(b"/queue/") {
        Ok(Kind::Queue)
    } else if greeting::is_mapped(destination) {
        Ok(Kind::App)
    } else {
        Err(BrokerError::UnknownDestination(
            String::from_utf8_lossy(destination).into_owned(),
        ))
    }
}

/// A frame's effect kept for COMMIT.
#[derive(Debug)]
enum Deferred {
    Send(Publish),
    Ack(Vec<DeliveryTag>),
    Nack(Vec<DeliveryTag>),
}

#[derive(Clone, Debug)]
struct Subscriber {
    connection: ConnectionId,
    key: SubscriptionKey,
    id: Bytes,
}

struct Connection {
    outlet: Box<dyn Outlet>,
    /// Subscription id → (key, destination).
    subscriptions: HashMap<Bytes, (SubscriptionKey, Bytes)>,
    transactions: HashMap<Bytes, Vec<Deferred>>,
}

#[derive(Debug)]
struct Waiting {
    message: Arc<Publish>,
    redelivered: bool,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Waiting>,
    consumers: Vec<Subscriber>,
    /// The consumer that gets the next message.
    next: usize,
}

#[derive(Debug)]
struct InFlight {
    queue: Bytes,
    connection: ConnectionId,
    key: SubscriptionKey,
    message: Arc<Publish>,
}

/// The broker's state. Not thread-safe by itself: share it behind a `Mutex`.
#[derive(Default)]
pub struct Broker {
    connections: HashMap<ConnectionId, Connection>,
    topics: HashMap<Bytes, Vec<Subscriber>>,
    queues: HashMap<Bytes, Queue>,
    /// Ordered, so that messages released together go back in delivery order.
    in_flight: BTreeMap<DeliveryTag, InFlight>,
    next_connection: ConnectionId,
    next_key: SubscriptionKey,
    next_tag: u64,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.connections.len())
            .field("topics", &self.topics.len())
            .field("queues", &self.queues)
            .field("in_flight", &self.in_flight.len())
            .finish()
    }
}

impl Broker {
    /// An empty broker.
    pub fn new() -> Broker {
        Broker::default()
    }

    /// A new connection whose deliveries go to `outlet`.
    pub fn register(&mut self, outlet: Box<dyn Outlet>) -> ConnectionId {
        self.next_connection += 1;
        let id = self.next_connection;
        self.connections.insert(
            id,
            Connection {
                outlet,
                subscriptions: HashMap::new(),
                transactions: HashMap::new(),
            },
        );
        id
    }

    /// The connection is gone: its subscriptions end, its transactions are dropped and its
    /// unacknowledged queue messages (and those still on their way to it) are redelivered.
    pub fn unregister(&mut self, connection: ConnectionId) {
        let Some(conn) = self.connections.remove(&connection) else {
            return;
        };
        for (_, destination) in conn.subscriptions.values() {
            self.remove_subscriber(destination, |s| s.connection == connection);
        }
        // Acks kept in the dropped transactions name in-flight messages: released below.
        self.release(|_, f| f.connection == connection);
    }

    /// Registers a subscription and returns its key; a queue subscription gets the messages
    /// waiting there at once.
    pub fn subscribe(
        &mut self,
        connection: ConnectionId,
        id: Bytes,
        destination: &[u8],
    ) -> Result<SubscriptionKey, BrokerError> {
        let kind = kind(destination)?;
        if kind == Kind::App {
            return Err(BrokerError::NotSubscribable(
                String::from_utf8_lossy(destination).into_owned(),
            ));
        }
        self.next_key += 1;
        let key = self.next_key;
        let destination = Bytes::copy_from_slice(destination);
        let conn = self
            .connections
            .get_mut(&connection)
            .ok_or(BrokerError::UnknownConnection)?;
        if let Some((old, old_destination)) = conn
            .subscriptions
            .insert(id.clone(), (key, destination.clone()))
        {
            // The session refuses duplicate ids; this only cleans up after a stale one.
            self.remove_subscriber(&old_destination, |s| s.key == old);
            self.release(|_, f| f.key == old);
        }
        let subscriber = Subscriber {
            connection,
            key,
            id,
        };
        match kind {
            Kind::Topic => self.topics.entry(destination).or_default().push(subscriber),
            Kind::Queue => {
                self.queues
                    .entry(destination.clone())
                    .or_default()
                    .consumers
                    .push(subscriber);
                self.dispatch(&destination);
            }
            Kind::App => unreachable!("refused above"),
        }
        Ok(key)
    }

    /// The connection's outlet has room again after refusing queue messages: the queues it
    /// consumes from hand out what waits there.
    pub fn redispatch(&mut self, connection: ConnectionId) {
        let Some(conn) = self.connections.get(&connection) else {
            return;
        };
        let queues: Vec<Bytes> = conn
            .subscriptions
            .values()
            .filter(|(_, destination)| matches!(kind(destination), Ok(Kind::Queue)))
            .map(|(_, destination)| destination.clone())
            .collect();
        for name in queues {
            self.dispatch(&name);
        }
    }

    /// Ends a subscription; its unacknowledged queue messages are redelivered.
    pub fn unsubscribe(&mut self, connection: ConnectionId, id: &[u8]) {
        let Some(conn) = self.connections.get_mut(&connection) else {
            return;
        };
        let Some((key, destination)) = conn.subscriptions.remove(id) else {
            return;
        };
        self.remove_subscriber(&destination, |s| s.key == key);
        self.release(|_, f| f.key == key);
    }

    /// A SEND: published now, or at COMMIT when it belongs to `transaction`.
    pub fn send(
        &mut self,
        connection: ConnectionId,
        transaction: Option<&[u8]>,
        message: Publish,
    ) -> Result<(), BrokerError> {
        // Refuse a bad destination at SEND, not at COMMIT.
        kind(&message.destination)?;
        match transaction {
            Some(t) => self.defer(connection, t, Deferred::Send(message)),
            None => self.publish(message),
        }
    }

    /// Acknowledged queue deliveries (the tags of the messages an ACK settled): done with.
    pub fn ack(
        &mut self,
        connection: ConnectionId,
        transaction: Option<&[u8]>,
        tags: Vec<DeliveryTag>,
    ) -> Result<(), BrokerError> {
        match transaction {
            Some(t) => self.defer(connection, t, Deferred::Ack(tags)),
            None => {
                self.settle(connection, &tags);
                Ok(())
            }
        }
    }

    /// Refused queue deliveries: back to the head of their queue, marked redelivered.
    pub fn nack(
        &mut self,
        connection: ConnectionId,
        transaction: Option<&[u8]>,
        tags: Vec<DeliveryTag>,
    ) -> Result<(), BrokerError> {
        match transaction {
            Some(t) => self.defer(connection, t, Deferred::Nack(tags)),
            None => {
                let mut tags = tags;
                tags.sort_unstable();
                self.release(|tag, f| {
                    f.connection == connection && tags.binary_search(&tag).is_ok()
                });
                Ok(())
            }
        }
    }

    /// BEGIN.
    pub fn begin(
        &mut self,
        connection: ConnectionId,
        transaction: Bytes,
    ) -> Result<(), BrokerError> {
        let conn = self
            .connections
            .get_mut(&connection)
            .ok_or(BrokerError::UnknownConnection)?;
        conn.transactions.insert(transaction, Vec::new());
        Ok(())
    }

    /// COMMIT: the transaction's frames take effect, in order. Stops at the first that fails
    /// (an application error), the rest being dropped as by ABORT.
    pub fn commit(
        &mut self,
        connection: ConnectionId,
        transaction: &[u8],
    ) -> Result<(), BrokerError> {
        let frames = self.take_transaction(connection, transaction)?;
        let mut frames = frames.into_iter();
        for frame in frames.by_ref() {
            let done = match frame {
                Deferred::Send(message) => self.publish(message),
                Deferred::Ack(tags) => {
                    self.settle(connection, &tags);
                    Ok(())
                }
                Deferred::Nack(tags) => self.nack(connection, None, tags),
            };
            if let Err(e) = done {
                self.drop_deferred(connection, frames);
                return Err(e);
            }
        }
        Ok(())
    }

    /// ABORT (or the connection ended with the transaction open): its frames are dropped;
    /// the messages its ACKs and NACKs named are redelivered.
    pub fn abort(
        &mut self,
        connection: ConnectionId,
        transaction: &[u8],
    ) -> Result<(), BrokerError> {
        let frames = self.take_transaction(connection, transaction)?;
        self.drop_deferred(connection, frames.into_iter());
        Ok(())
    }

    /// How many messages wait in a queue (not counting those in flight).
    pub fn waiting(&self, queue: &[u8]) -> usize {
        self.queues.get(queue).map_or(0, |q| q.waiting.len())
    }

    /// How many queue messages are delivered and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// How many connections are registered.
    pub fn connections(&self) -> usize {
        self.connections.len()
    }

    // ---- internals -------------------------------------------------------------------------

    fn defer(
        &mut self,
        connection: ConnectionId,
        transaction: &[u8],
        frame: Deferred,
    ) -> Result<(), BrokerError> {
        self.connections
            .get_mut(&connection)
            .ok_or(BrokerError::UnknownConnection)?
            .transactions
            .get_mut(transaction)
            .ok_or(BrokerError::UnknownTransaction)?
            .push(frame);
        Ok(())
    }

    fn take_transaction(
        &mut self,
        connection: ConnectionId,
        transaction: &[u8],
    ) -> Result<Vec<Deferred>, BrokerError> {
        self.connections
            .get_mut(&connection)
            .ok_or(BrokerError::UnknownConnection)?
            .transactions
            .remove(transaction)
            .ok_or(BrokerError::UnknownTransaction)
    }

    fn drop_deferred(&mut self, connection: ConnectionId, frames: impl Iterator<Item = Deferred>) {
        let mut tags: Vec<DeliveryTag> = frames
            .flat_map(|frame| match frame {
                Deferred::Send(_) => Vec::new(),
                Deferred::Ack(tags) | Deferred::Nack(tags) => tags,
            })
            .collect();
        tags.sort_unstable();
        self.release(|tag, f| f.connection == connection && tags.binary_search(&tag).is_ok());
    }

    /// Routes a message now.
    fn publish(&mut self, message: Publish) -> Result<(), BrokerError> {
        match kind(&message.destination)? {
            Kind::Topic => {
                let message = Arc::new(message);
                let Some(subscribers) = self.topics.get(&message.destination) else {
                    return Ok(());
                };
                for s in subscribers {
                    if let Some(conn) = self.connections.get_mut(&s.connection) {
                        conn.outlet.deliver(Delivery {
                            key: s.key,
                            subscription: s.id.clone(),
                            message: message.clone(),
                            tag: None,
                            redelivered: false,
                        });
                    }
                }
                Ok(())
            }
            Kind::Queue => {
                let name = message.destination.clone();
                self.queues
                    .entry(name.clone())
                    .or_default()
                    .waiting
                    .push_back(Waiting {
                        message: Arc::new(message),
                        redelivered: false,
                    });
                self.dispatch(&name);
                Ok(())
            }
            Kind::App => {
                let replies = greeting::handle(&message.destination, &message.body)
                    .map_err(BrokerError::Application)?;
                for reply in replies {
                    // Application replies go to topics and queues only: no loops.
                    if kind(&reply.destination)? != Kind::App {
                        self.publish(reply)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Hands waiting messages of a queue to its consumers, round robin.
    fn dispatch(&mut self, name: &Bytes) {
        let Broker {
            queues,
            connections,
            in_flight,
            next_tag,
            ..
        } = self;
        let Some(queue) = queues.get_mut(name) else {
            return;
        };
        'messages: while !queue.consumers.is_empty() {
            let Some(waiting) = queue.waiting.pop_front() else {
                break;
            };
            for _ in 0..queue.consumers.len() {
                let index = queue.next % queue.consumers.len();
                queue.next = (index + 1) % queue.consumers.len();
                let consumer = &queue.consumers[index];
                let Some(conn) = connections.get_mut(&consumer.connection) else {
                    continue;
                };
                *next_tag += 1;
                let tag = DeliveryTag(*next_tag);
                let delivered = conn.outlet.deliver(Delivery {
                    key: consumer.key,
                    subscription: consumer.id.clone(),
                    message: waiting.message.clone(),
                    tag: Some(tag),
                    redelivered: waiting.redelivered,
                });
                if delivered {
                    // Auto-acknowledged deliveries are settled by the connection once
                    // written: until then they are in flight like the others.
                    in_flight.insert(
                        tag,
                        InFlight {
                            queue: name.clone(),
                            connection: consumer.connection,
                            key: consumer.key,
                            message: waiting.message.clone(),
                        },
                    );
                    continue 'messages;
                }
            }
            // No consumer took it.
            queue.waiting.push_front(waiting);
            break;
        }
        self.forget_if_idle(name);
    }

    /// Drops a queue that holds nothing and has no consumer.
    fn forget_if_idle(&mut self, name: &Bytes) {
        let idle = self
            .queues
            .get(name)
            .is_some_and(|q| q.waiting.is_empty() && q.consumers.is_empty());
        if idle && !self.in_flight.values().any(|f| f.queue == *name) {
            self.queues.remove(name);
        }
    }

    fn remove_subscriber(&mut self, destination: &Bytes, which: impl Fn(&Subscriber) -> bool) {
        if let Some(subscribers) = self.topics.get_mut(destination) {
            subscribers.retain(|s| !which(s));
            if subscribers.is_empty() {
                self.topics.remove(destination);
            }
        }
        if let Some(queue) = self.queues.get_mut(destination) {
            queue.consumers.retain(|s| !which(s));
            if queue.next >= queue.consumers.len() {
                queue.next = 0;
            }
            self.forget_if_idle(destination);
        }
    }

    /// Acknowledged: forgets the deliveries (those of this connection only).
    fn settle(&mut self, connection: ConnectionId, tags: &[DeliveryTag]) {
        let mut queues = Vec::new();
        for tag in tags {
            if self
                .in_flight
                .get(tag)
                .is_some_and(|f| f.connection == connection)
            {
                if let Some(f) = self.in_flight.remove(tag) {
                    queues.push(f.queue);
                }
            }
        }
        for queue in queues {
            self.forget_if_idle(&queue);
        }
    }

    /// Puts the matching in-flight messages back at the head of their queues, in delivery
    /// order, marked redelivered, and dispatches them again.
    fn release(&mut self, which: impl Fn(DeliveryTag, &InFlight) -> bool) {
        let tags: Vec<DeliveryTag> = self
            .in_flight
            .iter()
            .filter(|(tag, f)| which(**tag, f))
            .map(|(tag, _)| *tag)
            .collect();
        if tags.is_empty() {
            return;
        }
        let mut touched = Vec::new();
        // Newest first, each pushed to the front: the oldest ends up first.
        for tag in tags.iter().rev() {
            let Some(f) = self.in_flight.remove(tag) else {
                continue;
            };
            self.queues
                .entry(f.queue.clone())
                .or_default()
                .waiting
                .push_front(Waiting {
                    message: f.message,
                    redelivered: true,
                });
            if !touched.contains(&f.queue) {
                touched.push(f.queue);
            }
        }
        for queue in touched {
            self.dispatch(&queue);
        }
    }
}
