//! Grammars of the standard header values, written with nom.
//!
//! The frame grammar itself is scanned with memchr in [`crate::parse`]; nom handles the small
//! languages inside values (`content-length`, `heart-beat`, `accept-version`, `ack`).
//! nom stays private: callers see only [`ValueError`].

use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::digit1;
use nom::combinator::all_consuming;
use nom::multi::fold_many0;
use nom::sequence::{preceded, separated_pair};
use nom::{IResult, Parser};

use crate::error::ValueError;
use crate::{HeartBeat, Version, Versions};

type NomError<'a> = nom::Err<nom::error::Error<&'a [u8]>>;

fn malformed(_: NomError<'_>) -> ValueError {
    ValueError::Malformed
}

/// Folds ASCII digits into a `u64`, failing on overflow.
fn fold_digits(digits: &[u8]) -> Result<u64, ValueError> {
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ValueError::Overflow)
    })
}

/// `content-length = 1*DIGIT`, fitting in `usize`.
pub(crate) fn content_length(value: &[u8]) -> Result<usize, ValueError> {
    let (_, digits) = all_consuming(digit1).parse(value).map_err(malformed)?;
    let n = fold_digits(digits)?;
    usize::try_from(n).map_err(|_| ValueError::Overflow)
}

/// `heart-beat = 1*DIGIT "," 1*DIGIT`, each in milliseconds fitting in `u32`.
pub(crate) fn heart_beat(value: &[u8]) -> Result<HeartBeat, ValueError> {
    let (_, (cx, cy)) = all_consuming(separated_pair(digit1, tag(","), digit1))
        .parse(value)
        .map_err(malformed)?;
    let ms = |d| fold_digits(d).and_then(|n| u32::try_from(n).map_err(|_| ValueError::Overflow));
    Ok(HeartBeat {
        outgoing: ms(cx)?,
        incoming: ms(cy)?,
    })
}

fn version_token(input: &[u8]) -> IResult<&[u8], &[u8]> {
    take_while1(|b: u8| b.is_ascii_digit() || b == b'.').parse(input)
}

/// `accept-version = version *( "," version )`; unknown version numbers are skipped.
pub(crate) fn versions(value: &[u8]) -> Result<Versions, ValueError> {
    let add = |set: Versions, token: &[u8]| match Version::parse(token) {
        Some(v) => set.with(v),
        None => set,
    };
    let (_, (first, set)) = all_consuming((
        version_token,
        fold_many0(preceded(tag(","), version_token), || Versions::EMPTY, add),
    ))
    .parse(value)
    .map_err(malformed)?;
    Ok(add(set, first))
}
