//! The windows reports cover, all in UTC: a day, an ISO week (Monday to Sunday, labelled by its
//! ISO year and week number, `2026-W03`), a calendar month (`2026-01`); each half-open,
//! `[start, end)`. A period is named by any date inside it, so `POST /reports {"date": ...}`
//! and the cron agree on which report a day belongs to, and a rerun of the same period writes
//! the same R2 keys (`reports/{daily|weekly|monthly}/{label}.{pdf|html|json}`): it replaces,
//! never duplicates.
//!
//! The cron asks [`due`] which reports are due at a time: for each kind, the last period that
//! has ended, once the UTC hour has reached the configured report hour. The worker skips a
//! period whose report is already stored, so one hourly cron expression serves all three kinds
//! and a missed run is caught up by the next.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month};

const DAY_MS: i64 = 86_400_000;

/// Which kind of report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Daily,
    Weekly,
    Monthly,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Daily, Kind::Weekly, Kind::Monthly];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }

    pub fn parse(s: &str) -> Result<Self, PeriodError> {
        match s {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            "monthly" => Ok(Self::Monthly),
            other => Err(PeriodError::Kind(other.chars().take(40).collect())),
        }
    }

    /// `Daily report`, `Weekly report`, ...
    pub fn title(self) -> &'static str {
        match self {
            Self::Daily => "Daily report",
            Self::Weekly => "Weekly report",
            Self::Monthly => "Monthly report",
        }
    }
}

/// What a period or key could not be read from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("period must be daily, weekly or monthly, not {0:?}")]
    Kind(String),
    #[error("date must be YYYY-MM-DD, not {0:?}")]
    Date(String),
    #[error("not a report key: {0:?} (reports/<daily|weekly|monthly>/<period>.<pdf|html|json>)")]
    Key(String),
}

/// The files one report is stored as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Html,
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Pdf, Format::Html, Format::Json];

    pub fn ext(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Html => "html",
            Self::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Html => "text/html; charset=utf-8",
            Self::Json => "application/json",
        }
    }
}

/// One report window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    pub kind: Kind,
    /// Its first day (`YYYY-MM-DD` in JSON).
    #[serde(with = "day_text")]
    pub start: Date,
}

mod day_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use time::Date;

    pub fn serialize<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.format(ops::utc::DAY).unwrap_or_default())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_date(&text).map_err(D::Error::custom)
    }
}

/// `YYYY-MM-DD` as a date.
pub fn parse_date(s: &str) -> Result<Date, PeriodError> {
    Date::parse(s, ops::utc::DAY).map_err(|_| PeriodError::Date(s.chars().take(40).collect()))
}

/// The UTC date of an epoch-ms time.
pub fn date_of(ms: i64) -> Date {
    ops::utc::at(ms).date()
}

fn ms_of(d: Date) -> i64 {
    let secs = d.midnight().assume_utc().unix_timestamp();
    secs.saturating_mul(1000)
}

fn first_of_month(d: Date) -> Date {
    d.replace_day(1).unwrap_or(d)
}

fn next_month(d: Date) -> Date {
    let (y, m) = match d.month() {
        Month::December => (d.year() + 1, Month::January),
        m => (d.year(), m.next()),
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(d)
}

impl Period {
    /// The period of `kind` that holds `day`.
    pub fn containing(kind: Kind, day: Date) -> Self {
        let start = match kind {
            Kind::Daily => day,
            Kind::Weekly => {
                let back = i64::from(day.weekday().number_days_from_monday());
                day.checked_sub(Duration::days(back)).unwrap_or(day)
            }
            Kind::Monthly => first_of_month(day),
        };
        Self { kind, start }
    }

    /// The period running at `now_ms`.
    pub fn current(kind: Kind, now_ms: i64) -> Self {
        Self::containing(kind, date_of(now_ms))
    }

    /// The first day after it.
    pub fn end(&self) -> Date {
        match self.kind {
            Kind::Daily => self.start.next_day().unwrap_or(self.start),
            Kind::Weekly => self
                .start
                .checked_add(Duration::days(7))
                .unwrap_or(self.start),
            Kind::Monthly => next_month(self.start),
        }
    }

    /// The period before it.
    pub fn previous(&self) -> Self {
        let day_before = self.start.previous_day().unwrap_or(self.start);
        Self::containing(self.kind, day_before)
    }

    pub fn start_ms(&self) -> i64 {
        ms_of(self.start)
    }

    pub fn end_ms(&self) -> i64 {
        ms_of(self.end())
    }

    /// Its last day.
    pub fn last_day(&self) -> Date {
        self.end().previous_day().unwrap_or(self.start)
    }

    /// How many days it spans.
    pub fn days(&self) -> u32 {
        ((self.end_ms() - self.start_ms()) / DAY_MS) as u32
    }

    /// `2026-01-14`, `2026-W03`, `2026-01`.
    pub fn label(&self) -> String {
        match self.kind {
            Kind::Daily => self.start.format(ops::utc::DAY).unwrap_or_default(),
            Kind::Weekly => {
                let (year, week, _) = self.start.to_iso_week_date();
                format!("{year}-W{week:02}")
            }
            Kind::Monthly => format!("{}-{:02}", self.start.year(), self.start.month() as u8),
        }
    }

    /// `2026-01-12 – 2026-01-18` (a day: the day itself).
    pub fn span(&self) -> String {
        let first = self.start.format(ops::utc::DAY).unwrap_or_default();
        if self.kind == Kind::Daily {
            return first;
        }
        let last = self.last_day().format(ops::utc::DAY).unwrap_or_default();
        format!("{first} – {last}")
    }

    /// Its R2 key for `format`.
    pub fn key(&self, format: Format) -> String {
        format!(
            "{PREFIX}{}/{}.{}",
            self.kind.as_str(),
            self.label(),
            format.ext()
        )
    }

    /// Whether it has ended at `now_ms`.
    pub fn ended(&self, now_ms: i64) -> bool {
        self.end_ms() <= now_ms
    }
}

/// Every report key starts with this.
pub const PREFIX: &str = "reports/";

/// Checks a key a caller asks for: `reports/<kind>/<label>.<ext>` with a label of the kind's
/// shape. Returns the kind and format; the label is kept as given.
pub fn parse_key(key: &str) -> Result<(Kind, Format), PeriodError> {
    let bad = || PeriodError::Key(key.chars().take(80).collect());
    let rest = key.strip_prefix(PREFIX).ok_or_else(bad)?;
    let (kind, file) = rest.split_once('/').ok_or_else(bad)?;
    let kind = Kind::parse(kind).map_err(|_| bad())?;
    let (label, ext) = file.rsplit_once('.').ok_or_else(bad)?;
    let format = Format::ALL
        .into_iter()
        .find(|f| f.ext() == ext)
        .ok_or_else(bad)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = match kind {
        Kind::Daily => parse_date(label).is_ok(),
        Kind::Weekly => label
            .split_once("-W")
            .is_some_and(|(y, w)| y.len() == 4 && digits(y) && w.len() == 2 && digits(w)),
        Kind::Monthly => label
            .split_once('-')
            .is_some_and(|(y, m)| y.len() == 4 && digits(y) && m.len() == 2 && digits(m)),
    };
    if !shaped {
        return Err(bad());
    }
    Ok((kind, format))
}

/// The reports due at `now_ms`: each kind's last ended period, once the UTC hour is at least
/// `report_hour` (0–23; the daily report of a day is made that many hours after it ends, the
/// weekly on Monday and the monthly on the 1st at the same hour, or by any later run).
pub fn due(now_ms: i64, report_hour: u8) -> Vec<Period> {
    let now = ops::utc::at(now_ms);
    if now.hour() < report_hour {
        return Vec::new();
    }
    Kind::ALL
        .into_iter()
        .map(|k| Period::current(k, now_ms).previous())
        .collect()
}

#[cfg(test)]
fn is_monday(day: Date) -> bool {
    day.weekday() == time::Weekday::Monday
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Date {
        parse_date(s).unwrap()
    }

    #[test]
    fn periods_are_utc_days_iso_weeks_and_months() {
        // 2026-01-14 is a Wednesday of ISO week 3.
        let day = Period::containing(Kind::Daily, d("2026-01-14"));
        assert_eq!((day.label(), day.days()), ("2026-01-14".into(), 1));
        assert_eq!(day.start_ms(), 1_768_348_800_000);
        assert_eq!(day.end_ms() - day.start_ms(), DAY_MS);
        let week = Period::containing(Kind::Weekly, d("2026-01-14"));
        assert_eq!(week.start, d("2026-01-12"));
        assert_eq!(week.end(), d("2026-01-19"));
        assert_eq!(week.label(), "2026-W03");
        assert_eq!(week.span(), "2026-01-12 – 2026-01-18");
        let month = Period::containing(Kind::Monthly, d("2026-02-28"));
        assert_eq!((month.label(), month.days()), ("2026-02".into(), 28));
        assert_eq!(
            Period::containing(Kind::Monthly, d("2025-12-31")).end(),
            d("2026-01-01")
        );
        // ISO week 1 of 2026 starts on Monday 2025-12-29.
        let w1 = Period::containing(Kind::Weekly, d("2026-01-01"));
        assert_eq!((w1.start, w1.label()), (d("2025-12-29"), "2026-W01".into()));
        assert_eq!(w1.previous().label(), "2025-W52");
        assert_eq!(month.previous().label(), "2026-01");
    }

    #[test]
    fn keys_name_the_kind_and_label_and_parse_back() {
        let week = Period::containing(Kind::Weekly, d("2026-01-14"));
        assert_eq!(week.key(Format::Pdf), "reports/weekly/2026-W03.pdf");
        assert_eq!(
            parse_key("reports/weekly/2026-W03.pdf"),
            Ok((Kind::Weekly, Format::Pdf))
        );
        assert_eq!(
            parse_key("reports/daily/2026-01-14.html"),
            Ok((Kind::Daily, Format::Html))
        );
        assert_eq!(
            parse_key("reports/monthly/2026-01.json"),
            Ok((Kind::Monthly, Format::Json))
        );
        for bad in [
            "reports/daily/2026-13-01.pdf",
            "reports/daily/../x.pdf",
            "reports/hourly/2026-01-14.pdf",
            "reports/weekly/2026-01.pdf",
            "reports/monthly/2026-01.exe",
            "other/daily/2026-01-14.pdf",
            "reports/daily/2026-01-14",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_cron_asks_for_each_kinds_last_ended_period_after_the_hour() {
        // 2026-02-02 (a Monday) 00:10 UTC.
        let at = ms_of(d("2026-02-02")) + 10 * 60_000;
        let labels: Vec<String> = due(at, 0).iter().map(Period::label).collect();
        assert_eq!(labels, ["2026-02-01", "2026-W05", "2026-01"]);
        assert!(due(at, 1).is_empty(), "before the report hour");
        assert_eq!(due(at + 3_600_000, 1).len(), 3);
    }

    proptest! {
        /// Every day lies in exactly the period `containing` gives, and the periods of a kind
        /// tile time: each ends where the next begins.
        #[test]
        fn periods_tile_time(days in 0i64..40_000) {
            let day = d("1970-01-01") + Duration::days(days);
            for kind in Kind::ALL {
                let p = Period::containing(kind, day);
                prop_assert!(p.start <= day && day < p.end());
                prop_assert_eq!(Period::containing(kind, p.end()).previous(), p);
                prop_assert_eq!(parse_key(&p.key(Format::Pdf)), Ok((kind, Format::Pdf)));
                if kind == Kind::Weekly {
                    prop_assert!(is_monday(p.start));
                }
            }
        }
    }
}
