//! The `grpc-timeout` header: `1*8DIGIT` followed by a unit (H M S m u n), per the gRPC
//! HTTP/2 protocol spec.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

/// Header name of the call deadline.
pub const HEADER: &str = "grpc-timeout";

/// Parses a `grpc-timeout` value; `None` when it is malformed (the spec lets a receiver
/// treat a malformed timeout as absent).
pub fn parse(value: &HeaderValue) -> Option<Duration> {
    let bytes = value.as_bytes();
    let (digits, unit) = bytes.split_at(bytes.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b"H" => Duration::from_secs(n * 3600),
        b"M" => Duration::from_secs(n * 60),
        b"S" => Duration::from_secs(n),
        b"m" => Duration::from_millis(n),
        b"u" => Duration::from_micros(n),
        b"n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Encodes a duration as a `grpc-timeout` value, choosing the finest unit that fits in
/// eight digits and rounding up, so a forwarded deadline is never shorter than asked for
/// by more than the time already spent.
fn encode(timeout: Duration) -> HeaderValue {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, &str); 6] = [
        (1, "n"),
        (1_000, "u"),
        (1_000_000, "m"),
        (1_000_000_000, "S"),
        (60_000_000_000, "M"),
        (3_600_000_000_000, "H"),
    ];
    for (per_unit, unit) in units {
        let n = nanos.div_ceil(per_unit);
        if n <= MAX {
            return HeaderValue::from_str(&format!("{n}{unit}"))
                .unwrap_or_else(|_| HeaderValue::from_static("99999999H"));
        }
    }
    HeaderValue::from_static("99999999H")
}

/// Sets `grpc-timeout` to `left`, the time that is left of the call's deadline: each hop
/// forwards what is left, not what the client first asked for. Never below one
/// nanosecond, so a deadline that has just passed still goes out as one that expires at
/// once.
pub fn insert_left(headers: &mut HeaderMap, left: Duration) {
    headers.insert(HEADER, encode(left.max(Duration::from_nanos(1))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        let cases = [
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("3S", Duration::from_secs(3)),
            ("250m", Duration::from_millis(250)),
            ("7u", Duration::from_micros(7)),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(&HeaderValue::from_static(text)), Some(want), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_values() {
        for text in ["", "S", "10", "10x", "123456789S", "-1S", "1.5S"] {
            assert_eq!(
                parse(&HeaderValue::from_str(text).unwrap()),
                None,
                "{text:?}"
            );
        }
    }

    #[test]
    fn encodes_with_finest_unit_that_fits() {
        assert_eq!(encode(Duration::from_millis(1500)), "1500000u");
        assert_eq!(encode(Duration::from_nanos(10)), "10n");
        assert_eq!(encode(Duration::from_secs(200_000)), "200000S");
        assert_eq!(encode(Duration::from_secs(1_000_000_000)), "16666667M");
        let back = parse(&encode(Duration::from_millis(1234))).unwrap();
        assert_eq!(back, Duration::from_millis(1234));
    }

    #[test]
    fn time_left_is_never_zero() {
        let mut headers = HeaderMap::new();
        insert_left(&mut headers, Duration::from_millis(250));
        assert_eq!(headers[HEADER], "250000u");
        insert_left(&mut headers, Duration::ZERO);
        assert_eq!(headers[HEADER], "1n");
    }
}
