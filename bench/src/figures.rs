//! How figures read in the report and the verdict: rates, microseconds, ratios and MiB,
//! rounded for reading rather than for precision.

/// Bytes in a MiB.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// `1.81M`, `41.2k`, `950`.
pub(crate) fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2}M", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1}k", per_sec / 1e3)
    } else {
        format!("{per_sec:.0}")
    }
}

/// Whole microseconds from 100 up, one decimal below.
pub(crate) fn us(micros: f64) -> String {
    if micros >= 100.0 {
        format!("{micros:.0}")
    } else {
        format!("{micros:.1}")
    }
}

/// `numerator ÷ denominator` to two decimals; `—` when the denominator is not positive.
pub(crate) fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}", numerator / denominator)
    } else {
        "—".to_owned()
    }
}

/// MiB to one decimal.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_reading() {
        assert_eq!(rate(1_812_345.0), "1.81M");
        assert_eq!(rate(41_234.4), "41.2k");
        assert_eq!(rate(950.4), "950");
        assert_eq!(us(1234.6), "1235");
        assert_eq!(us(12.34), "12.3");
        assert_eq!(ratio(1.0, 4.0), "0.25");
        assert_eq!(ratio(1.0, 0.0), "—");
        assert_eq!(mib(3 << 19), "1.5");
    }
}
