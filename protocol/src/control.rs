//! The reliable control channel of a session: control frames are numbered,
//! kept until acknowledged, sent again after a resume, and delivered to the
//! receiver exactly once and in order.

use std::collections::VecDeque;

use crate::frame::{self, Control, ResetCode};
use crate::ids::StreamId;

/// What the receiver should do with an incoming control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// New: act on it.
    Deliver,
    /// Seen before (a resend after a resume): ignore it.
    Duplicate,
    /// A gap in the numbering: the peer is broken.
    Gap { expected: u64 },
}

/// Both directions of a session's control channel.
#[derive(Debug)]
pub(crate) struct ControlChannel {
    next_seq: u64,
    /// Numbered, never sent on the current link.
    unsent: VecDeque<(u64, Control<String>)>,
    /// Sent, not yet acknowledged.
    inflight: VecDeque<(u64, Control<String>)>,
    /// Highest sequence number received.
    received: u64,
    /// Whether the peer needs to hear `received`.
    ack_due: bool,
}

impl Default for ControlChannel {
    fn default() -> Self {
        ControlChannel {
            next_seq: 1,
            unsent: VecDeque::new(),
            inflight: VecDeque::new(),
            received: 0,
            ack_due: false,
        }
    }
}

impl ControlChannel {
    /// Highest sequence number received from the peer.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Frames sent and not yet acknowledged: what a peer that never
    /// acknowledges makes us keep. (Unsent frames are our own, queued while
    /// the link was down; they go out and are acknowledged on a resume.)
    pub(crate) fn unacknowledged(&self) -> usize {
        self.inflight.len()
    }

    /// Frames waiting for the link.
    pub(crate) fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    pub(crate) fn push(&mut self, body: Control<String>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unsent.push_back((seq, body));
    }

    /// Takes back the Open of `stream` if it was never sent (the stream
    /// moved to another session): it becomes a Reset of a stream the peer
    /// never heard of, which the peer ignores; the numbering stays whole.
    /// Returns whether it was found.
    pub(crate) fn retract_open(&mut self, stream: StreamId) -> bool {
        for (_, body) in self.unsent.iter_mut() {
            if matches!(body, Control::Open { stream: s, .. } if *s == stream) {
                *body = Control::Reset {
                    stream,
                    code: ResetCode::Switched,
                    reason: "moved to the other client".into(),
                };
                return true;
            }
        }
        false
    }

    /// Classifies an incoming frame and records it when new.
    pub(crate) fn receive(&mut self, seq: u64) -> Incoming {
        if seq <= self.received {
            Incoming::Duplicate
        } else if seq == self.received + 1 {
            self.received = seq;
            self.ack_due = true;
            Incoming::Deliver
        } else {
            Incoming::Gap {
                expected: self.received + 1,
            }
        }
    }

    /// The peer has everything up to `seq`.
    pub(crate) fn acknowledge(&mut self, seq: u64) {
        while self.inflight.front().is_some_and(|(s, _)| *s <= seq) {
            self.inflight.pop_front();
        }
    }

    /// A new link continues the session; the peer reported receiving up to
    /// `peer_received`. Everything after that is sent again, in order.
    pub(crate) fn resume(&mut self, peer_received: u64) {
        self.acknowledge(peer_received);
        while let Some(item) = self.inflight.pop_back() {
            self.unsent.push_front(item);
        }
        self.ack_due = true;
    }

    /// Appends a ControlAck if due and as many unsent frames as fit within
    /// `limit` bytes of `out`. Returns whether anything was appended.
    pub(crate) fn transmit(&mut self, out: &mut Vec<u8>, limit: usize) -> bool {
        let mut wrote = false;
        if self.ack_due && out.len() + 13 <= limit {
            frame::Frame::ControlAck { seq: self.received }.encode(out);
            self.ack_due = false;
            wrote = true;
        }
        while let Some((_, body)) = self.unsent.front() {
            if out.len() + frame::control_len(body) > limit {
                break;
            }
            let Some((seq, body)) = self.unsent.pop_front() else {
                break;
            };
            frame::encode_control(out, seq, &body);
            self.inflight.push_back((seq, body));
            wrote = true;
        }
        wrote
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{frames, Frame};

    fn claim(epoch: u64) -> Control<String> {
        Control::Claim { epoch }
    }

    fn seqs(bytes: &[u8]) -> Vec<u64> {
        frames(bytes)
            .filter_map(|f| match f.unwrap() {
                Frame::Control { seq, .. } => Some(seq),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn resume_resends_unacknowledged_in_order() {
        let mut c = ControlChannel::default();
        for e in 1..=4 {
            c.push(claim(e));
        }
        let mut out = Vec::new();
        assert!(c.transmit(&mut out, 1 << 20));
        assert_eq!(seqs(&out), vec![1, 2, 3, 4]);
        c.acknowledge(1);
        c.push(claim(5));
        c.resume(2);
        out.clear();
        c.transmit(&mut out, 1 << 20);
        assert_eq!(seqs(&out), vec![3, 4, 5]);
    }

    #[test]
    fn receiver_drops_duplicates_and_flags_gaps() {
        let mut c = ControlChannel::default();
        assert_eq!(c.receive(1), Incoming::Deliver);
        assert_eq!(c.receive(1), Incoming::Duplicate);
        assert_eq!(c.receive(3), Incoming::Gap { expected: 2 });
        assert_eq!(c.receive(2), Incoming::Deliver);
        assert_eq!(c.received(), 2);
    }

    #[test]
    fn transmit_respects_the_limit() {
        let mut c = ControlChannel::default();
        for e in 0..10 {
            c.push(claim(e));
        }
        let mut out = Vec::new();
        c.transmit(&mut out, 50);
        assert!(out.len() <= 50);
        assert!(c.has_unsent());
    }
}
