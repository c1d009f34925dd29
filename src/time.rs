//! Time for the sans-IO layers: the crate never reads a clock, the caller passes `now` in.
//!
//! [`Instant`] is a point on the caller's own monotonic timeline, counted in microseconds from
//! an origin the caller picks (boot, the start of the program, zero in tests). [`Duration`] is
//! `core::time::Duration`. Both work without `std`; under `std`,
//! [`Instant::from_std`] converts from `std::time::Instant`.
//!
//! ```
//! use stomp_proto::time::{Duration, Instant};
//!
//! let t0 = Instant::from_millis(1_000);
//! let t1 = t0 + Duration::from_millis(250);
//! assert_eq!(t1 - t0, Duration::from_millis(250));
//! assert_eq!(t1.total_millis(), 1_250);
//! ```

use core::ops::{Add, AddAssign, Sub};

pub use core::time::Duration;

/// A point in time, in microseconds since an origin of the caller's choosing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin of the timeline.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }

    /// `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the origin.
    pub const fn total_micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds since the origin.
    pub const fn total_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + duration`, or `None` past the end of the timeline.
    pub fn checked_add(self, duration: Duration) -> Option<Instant> {
        let micros = u64::try_from(duration.as_micros()).ok()?;
        self.micros.checked_add(micros).map(Instant::from_micros)
    }

    /// Converts a `std::time::Instant` into this timeline, taking `origin` as zero.
    /// Instants before `origin` map to zero.
    ///
    /// ```
    /// use stomp_proto::time::Instant;
    ///
    /// let origin = std::time::Instant::now();
    /// let now = Instant::from_std(origin, origin + std::time::Duration::from_millis(5));
    /// assert_eq!(now.total_millis(), 5);
    /// ```
    #[cfg(feature = "std")]
    pub fn from_std(origin: std::time::Instant, instant: std::time::Instant) -> Instant {
        let since = instant.saturating_duration_since(origin);
        Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// Saturates at the end of the timeline.
    fn add(self, rhs: Duration) -> Instant {
        self.checked_add(rhs)
            .unwrap_or(Instant::from_micros(u64::MAX))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}
