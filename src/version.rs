//! Protocol versions and the set of versions a peer accepts.

use core::fmt;

/// A STOMP protocol version.
///
/// The version decides the wire rules: which end-of-line sequences are legal, whether header
/// values are escaped, whether values are trimmed, and which frames may carry a body.
///
/// ```
/// use stomp_proto::Version;
///
/// assert_eq!(Version::parse(b"1.2"), Some(Version::V1_2));
/// assert_eq!(Version::V1_1.as_str(), "1.1");
/// assert!(Version::V1_0 < Version::V1_2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Version {
    /// STOMP 1.0: LF line endings, no escaping, header values trimmed of padding.
    V1_0,
    /// STOMP 1.1: LF line endings, `\n` `\c` `\\` escapes, no trimming.
    V1_1,
    /// STOMP 1.2: optional CR before LF, `\r` `\n` `\c` `\\` escapes, no trimming.
    #[default]
    V1_2,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as it appears in the `version` and `accept-version` headers.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Parses a version number as it appears in the `version` header (`1.0`, `1.1`, `1.2`).
    pub fn parse(value: &[u8]) -> Option<Version> {
        match value {
            b"1.0" => Some(Version::V1_0),
            b"1.1" => Some(Version::V1_1),
            b"1.2" => Some(Version::V1_2),
            _ => None,
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Version::V1_0 => 1,
            Version::V1_1 => 2,
            Version::V1_2 => 4,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Version`]s, as carried by the `accept-version` header.
///
/// ```
/// use stomp_proto::{Version, Versions};
///
/// let client = Versions::parse(b"1.0,1.1,1.2").unwrap();
/// let server = Versions::EMPTY.with(Version::V1_0).with(Version::V1_1);
/// assert_eq!(client.intersection(server).highest(), Some(Version::V1_1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Versions(u8);

impl Versions {
    /// No version at all.
    pub const EMPTY: Versions = Versions(0);
    /// Every version this crate speaks.
    pub const ALL: Versions = Versions(7);

    /// This set plus `version`.
    #[must_use]
    pub const fn with(self, version: Version) -> Versions {
        Versions(self.0 | version.bit())
    }

    /// Whether `version` is in the set.
    pub const fn contains(self, version: Version) -> bool {
        self.0 & version.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The versions in both sets.
    #[must_use]
    pub const fn intersection(self, other: Versions) -> Versions {
        Versions(self.0 & other.0)
    }

    /// The newest version in the set: the one two peers settle on.
    pub fn highest(self) -> Option<Version> {
        self.iter().last()
    }

    /// The versions in the set, oldest first.
    pub fn iter(self) -> impl Iterator<Item = Version> {
        Version::ALL.into_iter().filter(move |v| self.contains(*v))
    }

    /// Parses an `accept-version` value: a comma-separated list of versions.
    ///
    /// Unknown versions (say `2.0`) are ignored, as a server that does not speak them would;
    /// a list that is not well-formed is an error.
    pub fn parse(value: &[u8]) -> Result<Versions, crate::ValueError> {
        crate::value::versions(value)
    }

    /// Writes the set as an `accept-version` value (`1.0,1.1,1.2`) into `out`, returning the
    /// written part. `out` needs at most 11 bytes.
    pub fn write_to(self, out: &mut [u8; 11]) -> &[u8] {
        let mut len = 0;
        for v in self.iter() {
            if len > 0 {
                out[len] = b',';
                len += 1;
            }
            out[len..len + 3].copy_from_slice(v.as_str().as_bytes());
            len += 3;
        }
        &out[..len]
    }
}

impl fmt::Debug for Versions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Version> for Versions {
    fn from_iter<I: IntoIterator<Item = Version>>(iter: I) -> Self {
        iter.into_iter().fold(Versions::EMPTY, Versions::with)
    }
}
