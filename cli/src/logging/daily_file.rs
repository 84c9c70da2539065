//! The log file: `HOME/tcpws-YYYY-MM-DD.log` by UTC date, appended to, a new
//! one each day; files of that pattern older than `daysToKeep` days are
//! deleted when logging starts and at each change of day.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::utc::{parse_date, Utc};

const PREFIX: &str = "tcpws-";
const SUFFIX: &str = ".log";

/// An append-only log file that moves to a new file when the UTC date changes.
pub(crate) struct DailyFile {
    dir: PathBuf,
    days_to_keep: u32,
    /// The day (since 1970-01-01) of the open file, and the file.
    open: Option<(i64, File)>,
}

impl DailyFile {
    /// Opens today's file in `dir` (created if missing) and prunes old ones.
    pub fn open(dir: &Path, days_to_keep: u32, now: &Utc) -> io::Result<DailyFile> {
        fs::create_dir_all(dir)?;
        let mut file = DailyFile {
            dir: dir.to_path_buf(),
            days_to_keep,
            open: None,
        };
        file.rotate(now)?;
        Ok(file)
    }

    /// The file name for the UTC date of `now`.
    pub fn path_for(dir: &Path, now: &Utc) -> PathBuf {
        dir.join(format!("{PREFIX}{}{SUFFIX}", now.date()))
    }

    /// Appends `line`, first moving to a new file if `now` is another day.
    pub fn write(&mut self, now: &Utc, line: &[u8]) -> io::Result<()> {
        match &mut self.open {
            Some((day, file)) if *day == now.day => file.write_all(line),
            _ => {
                self.rotate(now)?;
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

    fn rotate(&mut self, now: &Utc) -> io::Result<()> {
        self.open = None;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::path_for(&self.dir, now))?;
        self.open = Some((now.day, file));
        prune(&self.dir, now.day - i64::from(self.days_to_keep));
        Ok(())
    }
}

/// Deletes `tcpws-YYYY-MM-DD.log` files in `dir` dated before `oldest_day`.
/// Best effort: a file that cannot be listed or removed stays.
fn prune(dir: &Path, oldest_day: i64) {
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
        if parse_date(date).is_some_and(|day| day < oldest_day) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn at_day(day: u64) -> Utc {
        Utc::from_system_time(UNIX_EPOCH + Duration::from_secs(day * 86_400 + 3600))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tcpws-log-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn rotates_by_day_and_prunes_old_files() {
        let dir = temp_dir("rotate");
        fs::create_dir_all(&dir).unwrap();
        let day0 = 20_000;
        // Old files: 3 days before day0 goes, 2 days before stays (daysToKeep = 2).
        for back in [3, 2] {
            fs::write(DailyFile::path_for(&dir, &at_day(day0 - back)), "old\n").unwrap();
        }
        fs::write(dir.join("tcpws-notadate.log"), "x").unwrap();
        fs::write(dir.join("other-2001-01-01.log"), "x").unwrap();

        let mut log = DailyFile::open(&dir, 2, &at_day(day0)).unwrap();
        assert!(!DailyFile::path_for(&dir, &at_day(day0 - 3)).exists());
        assert!(DailyFile::path_for(&dir, &at_day(day0 - 2)).exists());
        assert!(dir.join("tcpws-notadate.log").exists());
        assert!(dir.join("other-2001-01-01.log").exists());

        log.write(&at_day(day0), b"a\n").unwrap();
        log.write(&at_day(day0 + 1), b"b\n").unwrap();
        log.write(&at_day(day0 + 1), b"c\n").unwrap();
        assert_eq!(
            fs::read_to_string(DailyFile::path_for(&dir, &at_day(day0))).unwrap(),
            "a\n"
        );
        assert_eq!(
            fs::read_to_string(DailyFile::path_for(&dir, &at_day(day0 + 1))).unwrap(),
            "b\nc\n"
        );
        // The change of day pruned the file that is now 3 days old.
        assert!(!DailyFile::path_for(&dir, &at_day(day0 - 2)).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
