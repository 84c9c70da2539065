//! Unix signals: SIGINT and SIGTERM ask a node to shut down gracefully;
//! SIGHUP asks it to reload.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::RuntimeError;
use crate::handle::NodeHandle;

/// Turns SIGINT and SIGTERM into [`NodeHandle::shutdown`] and SIGHUP into
/// [`NodeHandle::reload`]. The signals are received on a small thread of
/// their own, outside the event loop; the loop is woken through its waker.
pub fn install_signal_handlers(handle: NodeHandle) -> Result<(), RuntimeError> {
    install_signal_handlers_with_reload(handle, || {})
}

/// [`install_signal_handlers`], with `on_reload` run on the signal thread
/// at each SIGHUP before the node reloads (the CLI re-reads its log level
/// there).
pub fn install_signal_handlers_with_reload(
    handle: NodeHandle,
    mut on_reload: impl FnMut() + Send + 'static,
) -> Result<(), RuntimeError> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(RuntimeError::Signals)?;
    std::thread::Builder::new()
        .name("tcpws-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGHUP => {
                        log::info!("received SIGHUP: reloading");
                        on_reload();
                        handle.reload();
                    }
                    _ => {
                        let name = if signal == SIGINT {
                            "SIGINT"
                        } else {
                            "SIGTERM"
                        };
                        log::info!("received {name}: shutting down");
                        handle.shutdown();
                    }
                }
            }
        })
        .map_err(RuntimeError::Signals)?;
    Ok(())
}
