//! The `heart-beat` header and the negotiation of heart-beat intervals.

use crate::time::Duration;

/// A `heart-beat` header value: `cx,cy` in milliseconds.
///
/// `outgoing` is the smallest interval at which the sender can send heart-beats (0: it cannot),
/// `incoming` the interval at which it would like to receive them (0: it does not want any).
///
/// ```
/// use stomp_proto::HeartBeat;
///
/// let client = HeartBeat::new(10_000, 10_000);
/// let server = HeartBeat::parse(b"5000,20000").unwrap();
/// let (send, receive) = client.negotiate(server);
/// // The client sends every max(10 s, 20 s) and expects the server every max(10 s, 5 s).
/// assert_eq!(send.map(|d| d.as_millis()), Some(20_000));
/// assert_eq!(receive.map(|d| d.as_millis()), Some(10_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HeartBeat {
    /// Milliseconds between heart-beats this side can send; 0 means none.
    pub outgoing: u32,
    /// Milliseconds between heart-beats this side wants to receive; 0 means none.
    pub incoming: u32,
}

impl HeartBeat {
    /// No heart-beats either way (`0,0`, the default when the header is absent).
    pub const NONE: HeartBeat = HeartBeat {
        outgoing: 0,
        incoming: 0,
    };

    /// A heart-beat header value from its two numbers, in milliseconds.
    pub const fn new(outgoing: u32, incoming: u32) -> HeartBeat {
        HeartBeat { outgoing, incoming }
    }

    /// Parses `cx,cy`.
    pub fn parse(value: &[u8]) -> Result<HeartBeat, crate::ValueError> {
        crate::value::heart_beat(value)
    }

    /// Writes `cx,cy` into `out` (at most 21 bytes), returning the written part.
    pub fn write_to(self, out: &mut [u8; 21]) -> &[u8] {
        let mut n = crate::serialize::write_decimal(u64::from(self.outgoing), &mut out[..10]);
        out[n] = b',';
        n += 1;
        n += crate::serialize::write_decimal(u64::from(self.incoming), &mut out[n..n + 10]);
        &out[..n]
    }

    /// The intervals that result when this side (`self`) meets the peer's header (`peer`).
    ///
    /// Returns `(send, receive)`: how often this side must send something, and how often it
    /// should hear from the peer; `None` where either side said 0. Each is the larger of the
    /// two sides' values, as the spec defines.
    pub fn negotiate(self, peer: HeartBeat) -> (Option<Duration>, Option<Duration>) {
        let pick = |mine: u32, theirs: u32| {
            (mine != 0 && theirs != 0).then(|| Duration::from_millis(u64::from(mine.max(theirs))))
        };
        (
            pick(self.outgoing, peer.incoming),
            pick(self.incoming, peer.outgoing),
        )
    }
}
