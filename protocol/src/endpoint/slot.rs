//! Which session of an endpoint, and the two-slot table that holds them.

use std::ops::{Index, IndexMut};

use crate::ids::ClientId;
use crate::session::Session;

/// A session's place in its endpoint: the server keeps client 1's session
/// in one slot and client 2's in the other; a client keeps its one session
/// with the server in [`Slot::CLIENT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Slot(u8);

impl Slot {
    /// A client's session with the server.
    pub(crate) const CLIENT: Slot = Slot(0);
    /// Every slot, in order.
    pub(crate) const ALL: [Slot; 2] = [Slot(0), Slot(1)];

    /// Server: the slot of `client`'s session.
    pub(crate) fn of(client: ClientId) -> Slot {
        Slot(client.number() - 1)
    }
}

/// The sessions of an endpoint, by slot.
#[derive(Debug, Default)]
pub(crate) struct Sessions([Option<Session>; 2]);

impl Sessions {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Option<Session>> {
        self.0.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Option<Session>> {
        self.0.iter_mut()
    }
}

impl Index<Slot> for Sessions {
    type Output = Option<Session>;

    fn index(&self, slot: Slot) -> &Option<Session> {
        &self.0[usize::from(slot.0)]
    }
}

impl IndexMut<Slot> for Sessions {
    fn index_mut(&mut self, slot: Slot) -> &mut Option<Session> {
        &mut self.0[usize::from(slot.0)]
    }
}
