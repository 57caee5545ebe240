//! Sizes and durations as people type them (`10GB`, `512MiB`, `30s`, `5m`)
//! and as the console shows them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A duration written as `"2s"`, `"500ms"`, `"15m"` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

/// Split `"1.5 GB"` into `("1.5", "gb")`.
fn number_and_unit(input: &str) -> (&str, String) {
    let s = input.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    (num, unit.trim().to_ascii_lowercase())
}

/// Parse a duration: a number with `ms`, `s`, `m`, `h` or `d`; a bare number is seconds.
pub fn parse_duration(input: &str) -> Result<Duration> {
    let (num, unit) = number_and_unit(input);
    let bad = || {
        Error::invalid(format!(
            "invalid duration \"{input}\": use a number with ms, s, m, h or d, for example 30s or 5m"
        ))
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    let factor_ms = match unit.as_str() {
        "ms" => 1.0,
        "" | "s" | "sec" | "secs" => 1_000.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        _ => return Err(bad()),
    };
    let ms = value * factor_ms;
    if !ms.is_finite() || !(0.0..=1e13).contains(&ms) {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // reason: bounded and non-negative above
    Ok(Duration::from_millis(ms.round() as u64))
}

/// Parse a size: a number with `B`, `kB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`, `TB`/`TiB`.
/// Like PostgreSQL, `kB`, `MB`... are powers of 1024.
pub fn parse_size(input: &str) -> Result<u64> {
    let (num, unit) = number_and_unit(input);
    let bad = || {
        Error::invalid(format!(
            "invalid size \"{input}\": use a number with B, kB, MB, GB or TB, for example 500MB or 10GB"
        ))
    };
    let value: f64 = num.parse().map_err(|_| bad())?;
    let factor: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(bad()),
    };
    let bytes = value * factor;
    if !bytes.is_finite() || !(0.0..=9.0e18).contains(&bytes) {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // reason: bounded and non-negative above
    Ok(bytes.round() as u64)
}

/// `1.5 GiB`, `320 kiB`, `12 B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// `850ms`, `12s`, `4m05s`, `3h12m`, `2d04h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if s < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 3_600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60)
    } else {
        format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3_600)
    }
}

/// The form PostgreSQL accepts for `statement_timeout` (milliseconds).
pub fn pg_interval_ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").expect("ok"), Duration::from_secs(30));
        assert_eq!(
            parse_duration("250ms").expect("ok"),
            Duration::from_millis(250)
        );
        assert_eq!(parse_duration("5m").expect("ok"), Duration::from_secs(300));
        assert_eq!(
            parse_duration("1.5h").expect("ok"),
            Duration::from_secs(5400)
        );
        assert_eq!(parse_duration("10").expect("ok"), Duration::from_secs(10));
        for bad in ["", "s", "-1s", "10 parsecs", "1e999s", "'; drop table x"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GB").expect("ok"), 10 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("512 MiB").expect("ok"), 512 * 1024 * 1024);
        assert_eq!(parse_size("100").expect("ok"), 100);
        for bad in ["", "GB", "-5MB", "10 XB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(format_size(1536), "1.5 kiB");
        assert_eq!(format_size(12), "12 B");
    }

    #[test]
    fn duration_formats() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(
            format_duration(Duration::from_secs(3 * 3600 + 720)),
            "3h12m"
        );
    }

    proptest! {
        #[test]
        fn size_round_trips_whole_units(n in 0u64..1_000_000) {
            prop_assert_eq!(parse_size(&format!("{n}MB")).expect("ok"), n * 1024 * 1024);
        }
        #[test]
        fn parsers_never_panic(s in "\\PC{0,20}") {
            let _ = parse_size(&s);
            let _ = parse_duration(&s);
        }
    }
}
