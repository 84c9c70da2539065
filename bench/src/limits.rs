//! The open-file limit: 10,000 idle streams take 10,000 descriptors in the
//! bench, in its hold backend and in each tunnel process; they all inherit
//! the limit the bench sets before it starts them.

use crate::error::BenchError;

/// Raises `RLIMIT_NOFILE` so that at least `needed` descriptors can be
/// open: the soft limit up to the hard one, and the hard one too when the
/// process may (root). Returns the soft limit now in force, or a
/// [`BenchError::Limit`] naming the limit and how to raise it.
pub fn raise_nofile(needed: u64) -> Result<libc::rlim_t, BenchError> {
    let needed = libc::rlim_t::try_from(needed).unwrap_or(libc::RLIM_INFINITY);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(BenchError::Limit(format!(
            "cannot read RLIMIT_NOFILE: {}",
            std::io::Error::last_os_error()
        )));
    }
    let (soft, hard) = (lim.rlim_cur, lim.rlim_max);
    if soft >= needed {
        return Ok(soft);
    }
    let attempts = [
        libc::rlimit {
            rlim_cur: needed,
            rlim_max: hard.max(needed),
        },
        libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        },
    ];
    for attempt in attempts {
        // SAFETY: setrlimit reads one rlimit from a struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &attempt) } == 0
            && attempt.rlim_cur >= needed
        {
            return Ok(attempt.rlim_cur);
        }
    }
    Err(BenchError::Limit(format!(
        "these cases need {needed} open files in the bench process and in each tunnel \
         process, but RLIMIT_NOFILE is {soft} (hard limit {hard}) and cannot \
         be raised: run `ulimit -n {needed}` as a user allowed to, or ask for fewer with \
         --idle-streams or --streams"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_need_is_met_by_the_current_limit() {
        assert!(raise_nofile(64).unwrap() >= 64);
    }
}
