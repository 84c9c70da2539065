//! Certificate rotation: on a reload (SIGHUP) the loop reads its TLS files
//! again. New handshakes use the new configs; links and streams already up
//! keep the session they negotiated. A file that no longer loads keeps the
//! configs in use, and the log says which key and file failed and why.

use log::{error, info};
use tcpws_protocol::Role;

use crate::event_loop::EventLoop;
use crate::tls::client_ids::ClientIds;

impl EventLoop {
    /// Reads every TLS file again and, if all of them load, swaps the new
    /// configs in; otherwise keeps the old ones. Returns whether it swapped.
    pub(crate) fn reload_tls(&mut self) -> bool {
        if !self.settings.server.tls {
            return false;
        }
        let loaded = super::load(&self.settings).and_then(|tls| {
            let ids = match self.settings.protocol.role {
                Role::Server => ClientIds::load(&self.settings)?,
                Role::Client(_) => None,
            };
            Ok((tls, ids))
        });
        match loaded {
            Ok((tls, ids)) => {
                self.tls = tls;
                self.client_ids = ids;
                info!("reload: TLS files read again; new handshakes use them");
                true
            }
            Err(e) => {
                error!("reload: {e}; keeping the TLS files loaded before");
                false
            }
        }
    }
}
