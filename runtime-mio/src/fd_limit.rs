//! The open-files limit: every tunnelled connection holds one socket on each
//! side, so the default soft limit (often 1024) caps a busy tunnel far below
//! what the protocol allows. A node raises its soft limit to the hard limit
//! at start, as servers commonly do; the hard limit stays the operator's.

use std::io;

/// The soft and hard `RLIMIT_NOFILE` after raising the soft limit to the hard
/// one (`RLIM_INFINITY` is reported as `u64::MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub soft: u64,
    pub hard: u64,
}

/// Raises this process's soft open-files limit to its hard limit and returns
/// both. Lowering never happens: a soft limit already at the hard one is left.
pub fn raise_fd_limit() -> io::Result<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a pointer to a live one.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` through a pointer to a live one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(io::Error::last_os_error());
        }
        limit = raised;
    }
    Ok(FdLimit {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let limit = raise_fd_limit().expect("getrlimit/setrlimit");
        assert_eq!(limit.soft, limit.hard);
        assert!(limit.soft >= 64, "{limit:?}");
        assert_eq!(raise_fd_limit().expect("second call"), limit);
    }
}
