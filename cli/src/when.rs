//! Times on the command line: `--since 2h`, `--since 2026-11-28`, `--until
//! 2026-11-28T12:00:00Z`, or epoch milliseconds, all turned into the epoch ms the API takes.

use crate::CliError;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Parses `value` relative to `now_ms`: `<n>s|m|h|d` ago, an RFC 3339 time, a `YYYY-MM-DD` date
/// (midnight UTC), or epoch milliseconds.
pub fn parse(value: &str, now_ms: i64) -> Result<i64, CliError> {
    let v = value.trim();
    let bad = || {
        CliError::Usage(format!(
            "{value:?} is not a time: use 30m, 2h, 7d, 2026-11-28, 2026-11-28T12:00:00Z or epoch ms"
        ))
    };
    if let Some(unit) = v.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = v[..v.len() - 1].parse::<i64>() {
            let ms = match unit {
                's' => 1_000,
                'm' => 60_000,
                'h' => 3_600_000,
                _ => 86_400_000,
            };
            return n.checked_mul(ms).map(|d| now_ms - d).ok_or_else(bad);
        }
    }
    if v.len() > 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().map_err(|_| bad());
    }
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = Date::parse(v, &date_format) {
        return Ok(d.midnight().assume_utc().unix_timestamp() * 1000);
    }
    Err(bad())
}

/// `2026-11-28 12:00:00` (UTC) for tables.
pub fn show(ms: i64) -> String {
    ops::utc::format(ms, ops::utc::SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_867_200_000; // 2026-11-28T12:00:00Z

    #[test]
    fn every_accepted_form() {
        assert_eq!(parse("2h", NOW).unwrap(), NOW - 7_200_000);
        assert_eq!(parse("30m", NOW).unwrap(), NOW - 1_800_000);
        assert_eq!(parse("1d", NOW).unwrap(), NOW - 86_400_000);
        assert_eq!(parse("2026-11-28T12:00:00Z", NOW).unwrap(), NOW);
        assert_eq!(parse("2026-11-28", NOW).unwrap(), NOW - 43_200_000);
        assert_eq!(parse("1795867200000", NOW).unwrap(), NOW);
        assert_eq!(show(NOW), "2026-11-28 12:00:00");
        for bad in ["", "yesterday", "2h ago", "12", "2026-13-01"] {
            assert!(parse(bad, NOW).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,40}") {
            let _ = parse(&s, NOW);
        }
    }
}
