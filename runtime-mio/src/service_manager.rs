//! Telling a service manager (systemd, `Type=notify`) how the node is
//! doing: ready, reloading, stopping. A no-op when `NOTIFY_SOCKET` is not
//! set, that is, outside systemd.

use sd_notify::NotifyState;

/// The listen sockets are bound and, on a client, the first link attempt
/// is under way: systemd may start what depends on us.
pub(crate) fn ready(what: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(what)]);
}

/// A reload (SIGHUP) is being applied; [`ready`] follows when it is done.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The node is stopping on purpose (SIGTERM, SIGINT).
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, states) {
        log::warn!("cannot notify the service manager (NOTIFY_SOCKET): {e}");
    }
}
