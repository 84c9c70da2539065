//! Encoding: appends to the caller's buffer, no allocation per frame.

use super::*;

pub(super) fn put_header(out: &mut Vec<u8>, kind: u8, body_len: usize) {
    out.push(kind);
    // Bodies are bounded by MAX_FRAME_BODY, far below u32::MAX.
    out.extend_from_slice(&(body_len as u32).to_be_bytes());
}

/// The longest prefix of `s` within `max` bytes that ends on a char
/// boundary: how reasons are cut to their bound (and, in the runtime,
/// WebSocket close reasons and quoted bodies).
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Appends the header of a Data frame whose `payload_len` bytes the caller
/// appends next. Lets the sender copy payload straight from its buffer.
pub fn encode_data_header(out: &mut Vec<u8>, stream: StreamId, offset: u64, payload_len: usize) {
    put_header(out, KIND_DATA, 16 + payload_len);
    out.extend_from_slice(&stream.0.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
}

impl Frame<'_> {
    /// Appends the encoded frame to `out`. Reasons longer than [`MAX_REASON`]
    /// are cut; a Data payload must not exceed `MAX_FRAME_BODY - 16`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Hello(h) => {
                let nonce_len = h.nonce.map_or(0, |n| n.len());
                put_header(out, KIND_HELLO, 41 + nonce_len);
                out.extend_from_slice(&h.version.to_be_bytes());
                out.push(1);
                out.push(h.client.number());
                out.extend_from_slice(&h.token.to_be_bytes());
                out.extend_from_slice(&h.epoch.to_be_bytes());
                out.extend_from_slice(&h.ctl_rx.to_be_bytes());
                out.extend_from_slice(&h.window.to_be_bytes());
                match &h.nonce {
                    None => out.push(0),
                    Some(nonce) => {
                        out.push(1);
                        out.extend_from_slice(nonce);
                    }
                }
            }
            Frame::Welcome(w) => {
                put_header(out, KIND_WELCOME, 44);
                out.extend_from_slice(&w.version.to_be_bytes());
                out.extend_from_slice(&w.token.to_be_bytes());
                out.push(u8::from(w.resumed));
                out.extend_from_slice(&w.ctl_rx.to_be_bytes());
                out.extend_from_slice(&w.window.to_be_bytes());
                out.extend_from_slice(&w.grace_ms.to_be_bytes());
                out.push(w.active.map_or(0, ClientId::number));
                out.extend_from_slice(&w.epoch.to_be_bytes());
            }
            Frame::Control { seq, body } => encode_control(out, *seq, body),
            Frame::Data {
                stream,
                offset,
                payload,
            } => {
                encode_data_header(out, *stream, *offset, payload.len());
                out.extend_from_slice(payload);
            }
            Frame::Ack { stream, consumed } => {
                put_header(out, KIND_ACK, 16);
                out.extend_from_slice(&stream.0.to_be_bytes());
                out.extend_from_slice(&consumed.to_be_bytes());
            }
            Frame::ControlAck { seq } => {
                put_header(out, KIND_CONTROL_ACK, 8);
                out.extend_from_slice(&seq.to_be_bytes());
            }
            Frame::Keepalive => put_header(out, KIND_KEEPALIVE, 0),
            Frame::Goodbye { reason } => {
                put_header(out, KIND_GOODBYE, 2 + cut(reason, MAX_REASON).len());
                put_reason(out, reason);
            }
            Frame::AuthChallenge { nonce } => {
                put_header(out, KIND_AUTH_CHALLENGE, nonce.len());
                out.extend_from_slice(nonce);
            }
            Frame::AuthProof { proof } => {
                put_header(out, KIND_AUTH_PROOF, proof.len());
                out.extend_from_slice(proof);
            }
            Frame::AuthRefused { reason } => {
                put_header(out, KIND_AUTH_REFUSED, 2 + cut(reason, MAX_REASON).len());
                put_reason(out, reason);
            }
        }
    }
}

/// The wire kind and body length of a control frame: the one table that
/// knows them, for writing its header and for fitting it into a message.
fn control_shape<S: AsRef<str>>(body: &Control<S>) -> (u8, usize) {
    match body {
        Control::Open { tunnel, .. } => {
            (KIND_OPEN, 17 + cut(tunnel.as_ref(), MAX_TUNNEL_NAME).len())
        }
        Control::OpenResult { reason, .. } => (
            KIND_OPEN_RESULT,
            19 + cut(reason.as_ref(), MAX_REASON).len(),
        ),
        Control::Fin { .. } => (KIND_FIN, 24),
        Control::Reset { reason, .. } => (KIND_RESET, 19 + cut(reason.as_ref(), MAX_REASON).len()),
        Control::Claim { .. } => (KIND_CLAIM, 16),
        Control::Active { .. } => (KIND_ACTIVE, 18),
    }
}

/// Appends a control frame with sequence number `seq` to `out`.
pub fn encode_control<S: AsRef<str>>(out: &mut Vec<u8>, seq: u64, body: &Control<S>) {
    let (kind, len) = control_shape(body);
    put_header(out, kind, len);
    out.extend_from_slice(&seq.to_be_bytes());
    match body {
        Control::Open { stream, tunnel } => {
            let name = cut(tunnel.as_ref(), MAX_TUNNEL_NAME);
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        Control::OpenResult {
            stream,
            accepted,
            reason,
        } => {
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(u8::from(*accepted));
            put_reason(out, reason.as_ref());
        }
        Control::Fin {
            stream,
            final_offset,
        } => {
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.extend_from_slice(&final_offset.to_be_bytes());
        }
        Control::Reset {
            stream,
            code,
            reason,
        } => {
            out.extend_from_slice(&stream.0.to_be_bytes());
            out.push(*code as u8);
            put_reason(out, reason.as_ref());
        }
        Control::Claim { epoch } => out.extend_from_slice(&epoch.to_be_bytes()),
        Control::Active { client, epoch, why } => {
            out.push(client.map_or(0, ClientId::number));
            out.extend_from_slice(&epoch.to_be_bytes());
            out.push(*why as u8);
        }
    }
}

/// Appends a reason as `len:u16 bytes`, cut to [`MAX_REASON`].
fn put_reason(out: &mut Vec<u8>, reason: &str) {
    let reason = cut(reason, MAX_REASON);
    out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
}

/// The encoded size of a control frame, for fitting it into a message.
pub fn control_len<S: AsRef<str>>(body: &Control<S>) -> usize {
    FRAME_HEADER + control_shape(body).1
}
