//! UTC civil time from `SystemTime`, for log timestamps and daily file names
//! (no date crate needed: days ↔ year/month/day is a few lines of arithmetic).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A UTC instant to the millisecond, split into calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    /// Days since 1970-01-01.
    pub day: i64,
    pub year: i64,
    pub month: u32,
    pub dom: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl Utc {
    /// The current time (a clock before 1970 reads as 1970-01-01).
    pub fn now() -> Utc {
        Utc::from_system_time(SystemTime::now())
    }

    pub fn from_system_time(t: SystemTime) -> Utc {
        let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let day = i64::try_from(secs / 86_400).unwrap_or(0);
        let in_day = u32::try_from(secs % 86_400).unwrap_or(0);
        let (year, month, dom) = civil_from_days(day);
        Utc {
            day,
            year,
            month,
            dom,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
            millis: since.subsec_millis(),
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.dom)
    }
}

impl fmt::Display for Utc {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.dom, self.hour, self.minute, self.second, self.millis
        )
    }
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let dom = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // month is 1..=12 and dom 1..=31 by construction.
    (year, month as u32, dom as u32)
}

/// Days from 1970-01-01 to a date; the inverse of [`civil_from_days`].
pub(crate) fn days_from_civil(year: i64, month: u32, dom: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(dom) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01; `None` unless it is a real date.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<u32> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, dom) = (num(&text[0..4])?, num(&text[5..7])?, num(&text[8..10])?);
    let day = days_from_civil(i64::from(year), month, dom);
    (civil_from_days(day) == (i64::from(year), month, dom)).then_some(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 25), 20_782);
        let t = UNIX_EPOCH + Duration::from_millis(20_782 * 86_400_000 + 36_000_123);
        assert_eq!(
            Utc::from_system_time(t).to_string(),
            "2026-11-25T10:00:00.123Z"
        );
        assert_eq!(Utc::from_system_time(t).date(), "2026-11-25");
    }

    #[test]
    fn days_round_trip() {
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn parses_only_real_dates() {
        assert_eq!(parse_date("2026-11-25"), Some(20_782));
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        for bad in [
            "2023-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-01",
            "20261125xx",
            "+026-11-25",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
