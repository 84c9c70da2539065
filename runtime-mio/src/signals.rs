//! SIGINT and SIGTERM ask a node to shut down gracefully.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::RuntimeError;
use crate::handle::NodeHandle;

/// Turns SIGINT and SIGTERM into [`NodeHandle::shutdown`]. The signals are
/// received on a small thread of their own, outside the event loop; the loop
/// is woken through its waker.
pub fn install_signal_handlers(handle: NodeHandle) -> Result<(), RuntimeError> {
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(RuntimeError::Signals)?;
    std::thread::Builder::new()
        .name("tcpws-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                log::info!("received {name}: shutting down");
                handle.shutdown();
            }
        })
        .map_err(RuntimeError::Signals)?;
    Ok(())
}
