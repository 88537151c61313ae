//! Epoch-millisecond times as UTC text, written by the `time` crate's format descriptions
//! (checked at compile time) rather than by hand: the R2 log's date path, the equity snapshot's
//! day, and the times alerts and the CLI show.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// `2026-11-28`
pub const DAY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");
/// `2026/11/28`, a date-partitioned object key's folders.
pub const DAY_PATH: &[BorrowedFormatItem<'static>] = format_description!("[year]/[month]/[day]");
/// `2026-11-28 12:00:00`
pub const SECOND: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// The UTC time of an epoch-ms value (the epoch for values out of range).
pub fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `ms` written as `description` says, in UTC (the epoch for values out of range).
pub fn format(ms: i64, description: &[BorrowedFormatItem<'_>]) -> String {
    // Formatting fails only for components an `OffsetDateTime` lacks; these descriptions
    // name none, and a year past 9999 is written with its five digits.
    at(ms).format(description).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_zero_padded_utc() {
        // 2026-03-04 05:06:07.890 UTC
        let ms = 1_772_600_767_890;
        assert_eq!(format(ms, DAY), "2026-03-04");
        assert_eq!(format(ms, DAY_PATH), "2026/03/04");
        assert_eq!(format(ms, SECOND), "2026-03-04 05:06:07");
        assert_eq!(format(0, SECOND), "1970-01-01 00:00:00");
        assert_eq!(format(-1, DAY), "1969-12-31");
        assert_eq!(
            format(i64::MAX, DAY),
            "1970-01-01",
            "out of range: the epoch"
        );
    }
}
