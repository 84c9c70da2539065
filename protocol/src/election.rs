//! Who is active: the server's authoritative choice and a client's view of it.
//!
//! The rules (README, "High availability"):
//! * the first client online is active; client 1 takes this *default* role
//!   from client 2 when it comes online before any election and while
//!   client 2 carries no connection from the server's listen sockets, so a
//!   client coming online never resets a live stream (and closes no socket);
//! * first data on a standby's listen socket makes it active (a *switch*);
//! * when the active client's link has been down for the failover delay and
//!   the other is online, or past the resume grace, the other becomes active
//!   (a *failover*); when it says Goodbye, at once (a *handover*);
//! * every change increments the epoch; announcements with an older epoch
//!   are ignored.

use crate::frame::ActiveWhy;
use crate::ids::ClientId;

/// The server's election state.
#[derive(Debug, Default)]
pub(crate) struct Election {
    pub(crate) active: Option<ClientId>,
    pub(crate) epoch: u64,
    /// A switch or failover happened: the default rule no longer applies.
    pub(crate) elected: bool,
}

/// A change of active client decided by the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) from: Option<ClientId>,
    pub(crate) to: Option<ClientId>,
    pub(crate) why: ActiveWhy,
}

impl Election {
    fn set(&mut self, to: Option<ClientId>, why: ActiveWhy) -> Change {
        let from = self.active;
        self.active = to;
        self.epoch += 1;
        Change { from, to, why }
    }

    /// A client's session came up; `one_online` says whether client 1 has a
    /// session (it may be the one coming up), `two_carries` whether client 2
    /// carries connections from the server's listen sockets.
    pub(crate) fn on_session_up(
        &mut self,
        client: ClientId,
        one_online: bool,
        two_carries: bool,
    ) -> Option<Change> {
        match self.active {
            None => {
                let pick = if one_online { ClientId::One } else { client };
                let why = if self.elected {
                    ActiveWhy::Failover
                } else {
                    ActiveWhy::Default
                };
                Some(self.set(Some(pick), why))
            }
            Some(ClientId::Two) if !self.elected && one_online && !two_carries => {
                Some(self.set(Some(ClientId::One), ActiveWhy::Default))
            }
            Some(_) => None,
        }
    }

    /// First data on `client`'s listen socket while it was standby.
    pub(crate) fn on_claim(&mut self, client: ClientId) -> Option<Change> {
        if self.active == Some(client) {
            return None;
        }
        self.elected = true;
        Some(self.set(Some(client), ActiveWhy::Claim))
    }

    /// `client`'s session ended for good (`why` is Failover or Handover);
    /// `other_online` says whether the other client has a session.
    pub(crate) fn on_session_gone(
        &mut self,
        client: ClientId,
        other_online: bool,
        why: ActiveWhy,
    ) -> Option<Change> {
        if self.active != Some(client) {
            return None;
        }
        self.elected = true;
        let to = other_online.then(|| client.other());
        Some(self.set(to, why))
    }
}

/// A client's knowledge of the election.
#[derive(Debug)]
pub(crate) struct ClientView {
    pub(crate) me: ClientId,
    pub(crate) active: Option<ClientId>,
    pub(crate) epoch: u64,
    /// The epoch at which we last claimed, so one switch sends one claim.
    pub(crate) claimed_at: Option<u64>,
}

impl ClientView {
    pub(crate) fn new(me: ClientId) -> ClientView {
        ClientView {
            me,
            active: None,
            epoch: 0,
            claimed_at: None,
        }
    }

    /// Adopts the server's state wholesale (a new session).
    pub(crate) fn reset(&mut self, active: Option<ClientId>, epoch: u64) {
        self.active = active;
        self.epoch = epoch;
        self.claimed_at = None;
    }

    /// Applies an announcement. Returns `Some(true)` when we just went from
    /// active to standby by a switch (we must close our listen sockets),
    /// `Some(false)` for another accepted change, `None` when stale.
    pub(crate) fn on_announce(
        &mut self,
        active: Option<ClientId>,
        epoch: u64,
        why: ActiveWhy,
    ) -> Option<bool> {
        if epoch <= self.epoch {
            return None;
        }
        let was_active = self.active == Some(self.me);
        self.active = active;
        self.epoch = epoch;
        Some(was_active && active != Some(self.me) && why == ActiveWhy::Claim)
    }

    /// Whether first data on our listen socket should claim activity now
    /// (and remembers that it did).
    pub(crate) fn should_claim(&mut self) -> bool {
        if self.active == Some(self.me) || self.claimed_at == Some(self.epoch) {
            return false;
        }
        self.claimed_at = Some(self.epoch);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ClientId::{One, Two};

    #[test]
    fn default_prefers_client_one_until_an_election() {
        let mut e = Election::default();
        let c = e.on_session_up(Two, false, false).unwrap();
        assert_eq!((c.from, c.to), (None, Some(Two)));
        let c = e.on_session_up(One, true, false).unwrap();
        assert_eq!(
            (c.from, c.to, c.why),
            (Some(Two), Some(One), ActiveWhy::Default)
        );
    }

    #[test]
    fn coming_online_never_takes_over_a_client_that_carries_streams() {
        let mut e = Election::default();
        e.on_session_up(Two, false, false);
        assert_eq!(e.on_session_up(One, true, true), None);
        assert_eq!(e.active, Some(Two));
    }

    #[test]
    fn no_preemption_after_an_election() {
        let mut e = Election::default();
        e.on_session_up(One, true, false);
        e.on_session_up(Two, true, false);
        e.on_session_gone(One, true, ActiveWhy::Failover);
        assert_eq!(e.active, Some(Two));
        assert_eq!(
            e.on_session_up(One, true, false),
            None,
            "client 1 does not preempt"
        );
        assert_eq!(e.on_claim(One).map(|c| c.to), Some(Some(One)));
        e.on_session_gone(One, false, ActiveWhy::Handover);
        assert_eq!(e.active, None);
        let c = e.on_session_up(Two, false, false).unwrap();
        assert_eq!((c.to, c.why), (Some(Two), ActiveWhy::Failover));
        assert_eq!(e.on_session_up(One, true, false), None);
    }

    #[test]
    fn client_one_preferred_when_both_online() {
        let mut e = Election::default();
        assert_eq!(e.on_session_up(Two, true, false).unwrap().to, Some(One));
    }

    #[test]
    fn claim_switches_and_bumps_epoch() {
        let mut e = Election::default();
        e.on_session_up(One, true, false);
        let epoch = e.epoch;
        assert_eq!(e.on_claim(One), None);
        let c = e.on_claim(Two).unwrap();
        assert_eq!(
            (c.from, c.to, c.why),
            (Some(One), Some(Two), ActiveWhy::Claim)
        );
        assert_eq!(e.epoch, epoch + 1);
    }

    #[test]
    fn failover_only_for_the_active_client() {
        let mut e = Election::default();
        e.on_session_up(One, true, false);
        assert_eq!(e.on_session_gone(Two, true, ActiveWhy::Failover), None);
        let c = e.on_session_gone(One, true, ActiveWhy::Failover).unwrap();
        assert_eq!((c.to, c.why), (Some(Two), ActiveWhy::Failover));
        let c = e.on_session_gone(Two, false, ActiveWhy::Handover).unwrap();
        assert_eq!((c.to, c.why), (None, ActiveWhy::Handover));
        assert_eq!(e.on_session_up(One, true, false).unwrap().to, Some(One));
    }

    #[test]
    fn client_view_ignores_stale_and_detects_new_standby() {
        let mut v = ClientView::new(One);
        v.reset(Some(One), 3);
        assert_eq!(v.on_announce(Some(Two), 3, ActiveWhy::Claim), None);
        assert_eq!(v.on_announce(Some(Two), 4, ActiveWhy::Claim), Some(true));
        assert!(v.should_claim());
        assert!(!v.should_claim(), "one claim per epoch");
        assert_eq!(v.on_announce(Some(One), 5, ActiveWhy::Claim), Some(false));
        assert!(!v.should_claim());
    }
}
