//! The event loop's closing sockets: handed over when a link, an HTTP
//! exchange or a TLS handshake ends, advanced on their events, dropped when
//! done or when their deadline passes.

use log::trace;
use mio::Token;

use crate::event_loop::timers::Deadline;
use crate::event_loop::{EventLoop, Owner};
use crate::link::closing::{self, Closing};

impl EventLoop {
    /// Takes over a socket we are done with: its deadline is scheduled and
    /// it starts flushing at once.
    pub(crate) fn add_closing(&mut self, closing: Closing) {
        let token = closing.token;
        self.owners.insert(token, Owner::Closing);
        self.timers
            .schedule(closing.deadline, Deadline::Closing(token));
        self.closing.insert(token, closing);
        self.advance_closing(token);
    }

    /// An event on a closing socket: what progress it allows, then the
    /// socket is dropped if that finished it.
    pub(crate) fn advance_closing(&mut self, token: Token) {
        let Some(closing) = self.closing.get_mut(&token) else {
            return;
        };
        if closing.advance(&mut self.scratch) == closing::Step::Done {
            self.drop_closing(token);
        }
    }

    /// Forgets and closes a closing socket (done, or out of time).
    pub(crate) fn drop_closing(&mut self, token: Token) {
        if let Some(mut closing) = self.closing.remove(&token) {
            trace!("closed the socket to {}", closing.peer);
            self.forget(token, closing.stream_mut());
        }
    }
}
