//! The log file: `HOME/tcpws-YYYY-MM-DD.log` by UTC date, appended to, a new
//! one each day; files of that pattern older than `daysToKeep` days are
//! deleted when logging starts and at each change of day.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use jiff::tz::Offset;
use jiff::{Span, Timestamp};

const PREFIX: &str = "tcpws-";
const SUFFIX: &str = ".log";

/// An append-only log file that moves to a new file when the UTC date changes.
pub(crate) struct DailyFile {
    dir: PathBuf,
    days_to_keep: u32,
    /// The UTC date of the open file, and the file.
    open: Option<(Date, File)>,
}

impl DailyFile {
    /// Opens today's file in `dir` (created if missing) and prunes old ones.
    pub fn open(dir: &Path, days_to_keep: u32, now: Timestamp) -> io::Result<DailyFile> {
        fs::create_dir_all(dir)?;
        let mut file = DailyFile {
            dir: dir.to_path_buf(),
            days_to_keep,
            open: None,
        };
        file.rotate(utc_date(now))?;
        Ok(file)
    }

    /// The file for the UTC date of `now`.
    pub fn path_for(dir: &Path, now: Timestamp) -> PathBuf {
        file_for(dir, utc_date(now))
    }

    /// Appends `line`, first moving to a new file if `now` is another day.
    pub fn write(&mut self, now: Timestamp, line: &[u8]) -> io::Result<()> {
        let today = utc_date(now);
        match &mut self.open {
            Some((date, file)) if *date == today => file.write_all(line),
            _ => {
                self.rotate(today)?;
                match &mut self.open {
                    Some((_, file)) => file.write_all(line),
                    None => Ok(()),
                }
            }
        }
    }

    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.open {
            Some((_, file)) => file.flush(),
            None => Ok(()),
        }
    }

    fn rotate(&mut self, today: Date) -> io::Result<()> {
        self.open = None;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(file_for(&self.dir, today))?;
        self.open = Some((today, file));
        // Too many days to subtract: every file is younger than that.
        let oldest = Span::new()
            .try_days(self.days_to_keep)
            .and_then(|keep| today.checked_sub(keep))
            .unwrap_or(Date::MIN);
        prune(&self.dir, oldest);
        Ok(())
    }
}

/// The calendar date of `now` in UTC.
fn utc_date(now: Timestamp) -> Date {
    Offset::UTC.to_datetime(now).date()
}

fn file_for(dir: &Path, date: Date) -> PathBuf {
    dir.join(format!("{PREFIX}{date}{SUFFIX}"))
}

/// Deletes `tcpws-YYYY-MM-DD.log` files in `dir` dated before `oldest`.
/// Best effort: a file that cannot be listed or removed stays.
fn prune(dir: &Path, oldest: Date) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_prefix(PREFIX))
            .and_then(|n| n.strip_suffix(SUFFIX))
        else {
            continue;
        };
        if parse_date(date).is_some_and(|date| date < oldest) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `YYYY-MM-DD` exactly (the names this module writes), if it is a real date.
fn parse_date(text: &str) -> Option<Date> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| -> Option<i16> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(&text[0..4])?, num(&text[5..7])?, num(&text[8..10])?);
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_day(day: i64) -> Timestamp {
        Timestamp::from_second(day * 86_400 + 3600).unwrap()
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpws-log-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_files_by_utc_date() {
        let dir = Path::new("/home");
        let t = Timestamp::from_millisecond(20_782 * 86_400_000 + 36_000_123).unwrap();
        assert_eq!(
            DailyFile::path_for(dir, t),
            Path::new("/home/tcpws-2026-11-25.log")
        );
        assert_eq!(
            DailyFile::path_for(dir, Timestamp::UNIX_EPOCH),
            Path::new("/home/tcpws-1970-01-01.log")
        );
        // The last millisecond of a day is still that day.
        let t = Timestamp::from_millisecond(20_783 * 86_400_000 - 1).unwrap();
        assert_eq!(
            DailyFile::path_for(dir, t),
            Path::new("/home/tcpws-2026-11-25.log")
        );
    }

    #[test]
    fn parses_only_real_dates() {
        assert_eq!(parse_date("2026-11-25"), Date::new(2026, 11, 25).ok());
        assert_eq!(parse_date("2024-02-29"), Date::new(2024, 2, 29).ok());
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

    #[test]
    fn rotates_by_day_and_prunes_old_files() {
        let dir = temp_dir("rotate");
        fs::create_dir_all(&dir).unwrap();
        let day0 = 20_000;
        // Old files: 3 days before day0 goes, 2 days before stays (daysToKeep = 2).
        for back in [3, 2] {
            fs::write(DailyFile::path_for(&dir, at_day(day0 - back)), "old\n").unwrap();
        }
        fs::write(dir.join("tcpws-notadate.log"), "x").unwrap();
        fs::write(dir.join("other-2001-01-01.log"), "x").unwrap();

        let mut log = DailyFile::open(&dir, 2, at_day(day0)).unwrap();
        assert!(!DailyFile::path_for(&dir, at_day(day0 - 3)).exists());
        assert!(DailyFile::path_for(&dir, at_day(day0 - 2)).exists());
        assert!(dir.join("tcpws-notadate.log").exists());
        assert!(dir.join("other-2001-01-01.log").exists());

        log.write(at_day(day0), b"a\n").unwrap();
        log.write(at_day(day0 + 1), b"b\n").unwrap();
        log.write(at_day(day0 + 1), b"c\n").unwrap();
        assert_eq!(
            fs::read_to_string(DailyFile::path_for(&dir, at_day(day0))).unwrap(),
            "a\n"
        );
        assert_eq!(
            fs::read_to_string(DailyFile::path_for(&dir, at_day(day0 + 1))).unwrap(),
            "b\nc\n"
        );
        // The change of day pruned the file that is now 3 days old.
        assert!(!DailyFile::path_for(&dir, at_day(day0 - 2)).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
