//! Sizes, durations and times as people type them (`10GB`, `512MiB`, `30s`,
//! `1m30s`, `2026-12-01 10:00`, `24h ago`) and as the console shows them:
//! everything tenantctl prints parses back.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
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

/// Milliseconds per duration unit, by every spelling accepted.
fn unit_ms(unit: &str) -> Option<f64> {
    Some(match unit {
        "ns" | "nsec" => 1e-6,
        "us" | "µs" | "usec" => 1e-3,
        "ms" | "msec" | "msecs" | "millis" => 1.0,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000.0,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000.0,
        "d" | "day" | "days" => 86_400_000.0,
        "w" | "week" | "weeks" => 604_800_000.0,
        _ => return None,
    })
}

/// Parse a duration: one or more numbers each with a unit (`ms`, `s`, `m`,
/// `h`, `d`, `w` and their long forms), optionally separated by spaces, as in
/// `30s`, `1m30s`, `2d04h`, `1h 30m`, `1.5h`, `12.0s`; a bare number is
/// seconds. Every duration tenantctl prints parses back.
pub fn parse_duration(input: &str) -> Result<Duration> {
    let bad = || {
        Error::invalid(format!(
            "invalid duration \"{}\": use a number with ms, s, m, h or d, for example 30s, 5m or 1h30m (a bare number is seconds)",
            crate::domain::sanitize::clean_truncate(input.trim(), 40)
        ))
    };
    let s = input.trim();
    let mut total_ms = 0.0_f64;
    let mut rest = s;
    let mut parts = 0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(n_end);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return Err(bad());
        }
        let value: f64 = num.parse().map_err(|_| bad())?;
        let after = after.trim_start();
        let u_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(u_end);
        let factor = if unit.is_empty() {
            // A bare number is seconds, and only on its own.
            if parts > 0 || !after.trim().is_empty() {
                return Err(bad());
            }
            1_000.0
        } else {
            unit_ms(&unit.to_lowercase()).ok_or_else(bad)?
        };
        total_ms += value * factor;
        parts += 1;
        rest = after.trim_start();
    }
    if parts == 0 || !total_ms.is_finite() || !(0.0..=1e13).contains(&total_ms) {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    // reason: bounded and non-negative above
    Ok(Duration::from_millis(total_ms.round() as u64))
}

/// Parse a point in time, given the current time: `now`; RFC 3339
/// (`2026-12-01T10:00:00Z`); `YYYY-MM-DD HH:MM[:SS[.fff]]` or with `T`, in UTC,
/// optionally followed by ` UTC` (as tenantctl prints times); a date
/// (`2026-12-01`, midnight UTC); or a duration ago (`24h ago`, or just `24h`).
pub fn parse_time(input: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let t = input.trim();
    let bad = || {
        Error::invalid(format!(
            "invalid time \"{}\": use now, a date (2026-12-01), a UTC time (2026-12-01 10:00), RFC 3339 (2026-12-01T10:00:00Z) or a duration ago (24h ago)",
            crate::domain::sanitize::clean_truncate(t, 40)
        ))
    };
    if t.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    let naive = t
        .strip_suffix(" UTC")
        .or_else(|| t.strip_suffix('Z'))
        .unwrap_or(t)
        .trim();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(naive, f) {
            return Ok(d.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(naive, "%Y-%m-%d") {
        return Ok(d.and_time(NaiveTime::MIN).and_utc());
    }
    let age = t.strip_suffix("ago").map_or(t, str::trim_end);
    let age = parse_duration(age).map_err(|_| bad())?;
    let age = chrono::Duration::from_std(age).map_err(|_| bad())?;
    now.checked_sub_signed(age).ok_or_else(bad)
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
    if bytes > 0.0 && bytes < 1.0 {
        return Err(Error::invalid(format!(
            "size \"{}\" is less than one byte: give a whole number of bytes or a unit, for example 500MB",
            crate::domain::sanitize::clean_truncate(input.trim(), 40)
        )));
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
        for bad in [
            "",
            "s",
            "-1s",
            "10 parsecs",
            "1e999s",
            "'; drop table x",
            "1m30",
            "5 5s",
            ".5s",
            "1..2s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("1m30s").expect("ok"),
            Duration::from_secs(90)
        );
        assert_eq!(
            parse_duration("1h30m").expect("ok"),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("1h 30m").expect("ok"),
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_duration("2d04h").expect("ok"),
            Duration::from_secs(2 * 86_400 + 4 * 3600)
        );
        assert_eq!(
            parse_duration("12.0s").expect("ok"),
            Duration::from_secs(12)
        );
        assert_eq!(
            parse_duration("2 minutes").expect("ok"),
            Duration::from_secs(120)
        );
    }

    #[test]
    fn times() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .expect("t")
            .with_timezone(&Utc);
        let at = |s: &str| parse_time(s, now).expect(s).to_rfc3339();
        assert_eq!(at("now"), "2026-12-01T12:00:00+00:00");
        assert_eq!(at("2026-12-01 10:00"), "2026-12-01T10:00:00+00:00");
        assert_eq!(at("2026-12-01 10:00:05"), "2026-12-01T10:00:05+00:00");
        assert_eq!(at("2026-12-01T10:00"), "2026-12-01T10:00:00+00:00");
        assert_eq!(at("2026-11-30"), "2026-11-30T00:00:00+00:00");
        assert_eq!(at("2026-12-01T11:00:00+01:00"), "2026-12-01T10:00:00+00:00");
        assert_eq!(at("24h ago"), "2026-11-30T12:00:00+00:00");
        assert_eq!(at("24h"), "2026-11-30T12:00:00+00:00");
        assert_eq!(at("1h30m ago"), "2026-12-01T10:30:00+00:00");
        // What chrono's Display prints (tenantctl show) parses back.
        let printed = (now - chrono::Duration::milliseconds(1500)).to_string();
        assert_eq!(
            parse_time(&printed, now).expect("display form"),
            now - chrono::Duration::milliseconds(1500)
        );
        for bad in ["yesterday-ish", "", "ago", "2026-13-01"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn printed_durations_parse_back() {
        for secs in [
            0u64, 1, 59, 60, 90, 245, 3599, 3600, 5400, 11_520, 86_399, 86_400, 187_200,
        ] {
            let d = Duration::from_secs(secs);
            let printed = format_duration(d);
            let back = parse_duration(&printed).expect(&printed);
            // The printed form rounds to its last unit; the round trip keeps it.
            assert_eq!(format_duration(back), printed, "{secs}s");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GB").expect("ok"), 10 * 1024 * 1024 * 1024);
        assert_eq!(parse_size("512 MiB").expect("ok"), 512 * 1024 * 1024);
        assert_eq!(parse_size("100").expect("ok"), 100);
        for bad in ["", "GB", "-5MB", "10 XB", "0.5", "0.9B"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert!(
            parse_size("0.5")
                .expect_err("half a byte")
                .message
                .contains("less than one byte")
        );
        assert_eq!(parse_size("0.5kB").expect("ok"), 512);
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
            let _ = parse_time(&s, Utc::now());
        }
    }

    #[test]
    fn the_smallest_and_largest_duration_units_parse() {
        assert_eq!(
            parse_duration("1w").expect("w"),
            Duration::from_secs(604_800)
        );
        assert_eq!(
            parse_duration("2 weeks").expect("weeks"),
            Duration::from_secs(1_209_600)
        );
        assert_eq!(
            parse_duration("2000us").expect("us"),
            Duration::from_millis(2)
        );
        assert_eq!(
            parse_duration("3000000ns").expect("ns"),
            Duration::from_millis(3)
        );
    }

    #[test]
    fn sizes_and_durations_at_their_unit_boundaries() {
        assert_eq!(parse_size("2TB").expect("tb"), 2 << 40);
        assert_eq!(parse_size("1tib").expect("tib"), 1 << 40);
        assert_eq!(parse_size("0").expect("zero"), 0);
        assert_eq!(parse_size("1").expect("one byte"), 1);
        assert!(parse_size("0.5").is_err(), "less than a byte");
        assert!(parse_size("-1MB").is_err());
        assert!(parse_size("9000000TB").is_err(), "beyond 9e18 bytes");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 kiB");
        assert_eq!(format_size(5 << 40), "5.0 TiB");
        assert_eq!(
            format_size(2048 << 40),
            "2048 TiB",
            "TiB is the largest unit"
        );
        assert_eq!(format_duration(Duration::from_millis(999)), "999ms");
        assert_eq!(format_duration(Duration::from_secs(1)), "1.0s");
        assert_eq!(format_duration(Duration::from_secs(60)), "1m00s");
        assert_eq!(format_duration(Duration::from_secs(3_600)), "1h00m");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d00h");
        assert_eq!(pg_interval_ms(Duration::from_millis(1500)), "1500ms");
        assert!(parse_duration("").is_err(), "no parts");
        assert!(
            parse_duration("100000000000000ms").is_err(),
            "beyond 1e13 ms"
        );
    }
}
