//! Decoding: pure functions over slices that tell "incomplete" from
//! "invalid" and consume nothing on failure.

use super::*;

/// A bounds-checked reader over one frame body. Every getter fails instead
/// of reading past the end.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Invalid(format!(
                "{} body too short",
                self.what
            )));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    /// A flag: 0 or 1. Anything else is invalid, so every frame has exactly
    /// one encoding and re-encodes to the bytes it was read from.
    fn bool(&mut self, field: &str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::Invalid(format!(
                "{} {field} is {b}, not 0 or 1",
                self.what
            ))),
        }
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }

    fn bytes32(&mut self) -> Result<[u8; 32], DecodeError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32)?);
        Ok(a)
    }

    fn u128(&mut self) -> Result<u128, DecodeError> {
        let mut a = [0u8; 16];
        a.copy_from_slice(self.take(16)?);
        Ok(u128::from_be_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }

    fn str(&mut self, len: usize, max: usize, field: &str) -> Result<&'a str, DecodeError> {
        if len > max {
            return Err(DecodeError::Invalid(format!(
                "{} {field} is {len} bytes, more than {max}",
                self.what
            )));
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map_err(|_| DecodeError::Invalid(format!("{} {field} is not UTF-8", self.what)))
    }

    fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Invalid(format!(
                "{} body has {} trailing bytes",
                self.what,
                self.buf.len()
            )))
        }
    }
}

fn client_from_byte(b: u8, what: &str) -> Result<ClientId, DecodeError> {
    ClientId::from_number(u64::from(b))
        .ok_or_else(|| DecodeError::Invalid(format!("{what}: client id {b} is not 1 or 2")))
}

fn optional_client(b: u8, what: &str) -> Result<Option<ClientId>, DecodeError> {
    if b == 0 {
        Ok(None)
    } else {
        client_from_byte(b, what).map(Some)
    }
}

impl<'a> Frame<'a> {
    /// Decodes the frame at the start of `buf`, returning it and the bytes it
    /// used. On error nothing is consumed.
    pub fn decode(buf: &'a [u8]) -> Result<(Frame<'a>, usize), DecodeError> {
        if buf.len() < FRAME_HEADER {
            return Err(DecodeError::Incomplete {
                needed: FRAME_HEADER,
            });
        }
        let kind = buf[0];
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        if len > MAX_FRAME_BODY {
            return Err(DecodeError::Invalid(format!(
                "frame body of {len} bytes exceeds the limit of {MAX_FRAME_BODY}"
            )));
        }
        let total = FRAME_HEADER + len;
        if buf.len() < total {
            return Err(DecodeError::Incomplete { needed: total });
        }
        let body = &buf[FRAME_HEADER..total];
        let frame = Self::decode_body(kind, body)?;
        Ok((frame, total))
    }

    fn decode_body(kind: u8, body: &'a [u8]) -> Result<Frame<'a>, DecodeError> {
        let what = match kind {
            KIND_HELLO => "hello",
            KIND_WELCOME => "welcome",
            KIND_OPEN => "open",
            KIND_OPEN_RESULT => "open-result",
            KIND_DATA => "data",
            KIND_ACK => "ack",
            KIND_FIN => "fin",
            KIND_RESET => "reset",
            KIND_CLAIM => "claim",
            KIND_ACTIVE => "active",
            KIND_CONTROL_ACK => "control-ack",
            KIND_KEEPALIVE => "keepalive",
            KIND_GOODBYE => "goodbye",
            KIND_AUTH_CHALLENGE => "auth-challenge",
            KIND_AUTH_PROOF => "auth-proof",
            KIND_AUTH_REFUSED => "auth-refused",
            other => {
                return Err(DecodeError::Invalid(format!(
                    "unknown frame kind 0x{other:02x}"
                )))
            }
        };
        let mut r = Reader { buf: body, what };
        let frame = match kind {
            KIND_HELLO => {
                let version = r.u16()?;
                let role = r.u8()?;
                if role != 1 {
                    return Err(DecodeError::Invalid(format!(
                        "hello: role {role} is not a client (1)"
                    )));
                }
                let client = client_from_byte(r.u8()?, "hello")?;
                let token = r.u128()?;
                let epoch = r.u64()?;
                let ctl_rx = r.u64()?;
                let window = r.u32()?;
                let nonce = match r.u8()? {
                    0 => None,
                    1 => Some(r.bytes32()?),
                    b => {
                        return Err(DecodeError::Invalid(format!(
                            "hello: auth {b} is not 0 (none) or 1 (shared secret)"
                        )))
                    }
                };
                Frame::Hello(Hello {
                    version,
                    client,
                    token,
                    epoch,
                    ctl_rx,
                    window,
                    nonce,
                })
            }
            KIND_WELCOME => {
                let version = r.u16()?;
                let token = r.u128()?;
                let resumed = r.bool("resumed")?;
                let ctl_rx = r.u64()?;
                let window = r.u32()?;
                let grace_ms = r.u32()?;
                let active = optional_client(r.u8()?, "welcome")?;
                let epoch = r.u64()?;
                Frame::Welcome(Welcome {
                    version,
                    token,
                    resumed,
                    ctl_rx,
                    window,
                    grace_ms,
                    active,
                    epoch,
                })
            }
            KIND_DATA => {
                let stream = StreamId(r.u64()?);
                let offset = r.u64()?;
                let payload = r.buf;
                r.buf = &[];
                if offset.checked_add(payload.len() as u64).is_none() {
                    return Err(DecodeError::Invalid("data: offset overflows".into()));
                }
                Frame::Data {
                    stream,
                    offset,
                    payload,
                }
            }
            KIND_ACK => Frame::Ack {
                stream: StreamId(r.u64()?),
                consumed: r.u64()?,
            },
            KIND_CONTROL_ACK => Frame::ControlAck { seq: r.u64()? },
            KIND_KEEPALIVE => Frame::Keepalive,
            KIND_GOODBYE => {
                let len = usize::from(r.u16()?);
                Frame::Goodbye {
                    reason: r.str(len, MAX_REASON, "reason")?,
                }
            }
            KIND_AUTH_CHALLENGE => Frame::AuthChallenge {
                nonce: r.bytes32()?,
            },
            KIND_AUTH_PROOF => Frame::AuthProof {
                proof: r.bytes32()?,
            },
            KIND_AUTH_REFUSED => {
                let len = usize::from(r.u16()?);
                Frame::AuthRefused {
                    reason: r.str(len, MAX_REASON, "reason")?,
                }
            }
            _ => {
                let seq = r.u64()?;
                if seq == 0 {
                    return Err(DecodeError::Invalid(format!("{what}: sequence number 0")));
                }
                let body = match kind {
                    KIND_OPEN => {
                        let stream = StreamId(r.u64()?);
                        let len = usize::from(r.u8()?);
                        let tunnel = r.str(len, MAX_TUNNEL_NAME, "tunnel name")?;
                        if tunnel.is_empty() {
                            return Err(DecodeError::Invalid("open: empty tunnel name".into()));
                        }
                        Control::Open { stream, tunnel }
                    }
                    KIND_OPEN_RESULT => {
                        let stream = StreamId(r.u64()?);
                        let accepted = r.bool("accepted")?;
                        let len = usize::from(r.u16()?);
                        let reason = r.str(len, MAX_REASON, "reason")?;
                        Control::OpenResult {
                            stream,
                            accepted,
                            reason,
                        }
                    }
                    KIND_FIN => Control::Fin {
                        stream: StreamId(r.u64()?),
                        final_offset: r.u64()?,
                    },
                    KIND_RESET => {
                        let stream = StreamId(r.u64()?);
                        let code_byte = r.u8()?;
                        let code = ResetCode::from_byte(code_byte).ok_or_else(|| {
                            DecodeError::Invalid(format!("reset: unknown code {code_byte}"))
                        })?;
                        let len = usize::from(r.u16()?);
                        let reason = r.str(len, MAX_REASON, "reason")?;
                        Control::Reset {
                            stream,
                            code,
                            reason,
                        }
                    }
                    KIND_CLAIM => Control::Claim { epoch: r.u64()? },
                    _ => {
                        let client = optional_client(r.u8()?, "active")?;
                        let epoch = r.u64()?;
                        let why_byte = r.u8()?;
                        let why = ActiveWhy::from_byte(why_byte).ok_or_else(|| {
                            DecodeError::Invalid(format!("active: unknown reason {why_byte}"))
                        })?;
                        Control::Active { client, epoch, why }
                    }
                };
                Frame::Control { seq, body }
            }
        };
        r.finish()?;
        Ok(frame)
    }
}

/// Iterates the frames of one WebSocket message; a truncated last frame is
/// an error, since frames never span messages.
pub struct Frames<'a> {
    rest: &'a [u8],
}

/// The frames of `message`, in order.
pub fn frames(message: &[u8]) -> Frames<'_> {
    Frames { rest: message }
}

impl Frames<'_> {
    /// Bytes of the message not yet decoded (none after an error).
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Frame::decode(self.rest) {
            Ok((frame, used)) => {
                self.rest = &self.rest[used..];
                Some(Ok(frame))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(match e {
                    DecodeError::Incomplete { needed } => DecodeError::Invalid(format!(
                        "frame truncated at the end of the message ({needed} bytes needed)"
                    )),
                    invalid => invalid,
                }))
            }
        }
    }
}
