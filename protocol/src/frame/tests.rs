//! Codec properties: round trips, one encoding per frame, lengths, and the
//! fuzz finds.

use super::encode::{cut, put_header};
use super::*;
use quickcheck::{quickcheck, Arbitrary, Gen};

fn client(g: &mut Gen) -> ClientId {
    if bool::arbitrary(g) {
        ClientId::One
    } else {
        ClientId::Two
    }
}

fn bytes32(g: &mut Gen) -> [u8; 32] {
    let mut b = [0u8; 32];
    for x in &mut b {
        *x = u8::arbitrary(g);
    }
    b
}

fn text(g: &mut Gen, max: usize) -> String {
    let s = String::arbitrary(g);
    cut(&s, max).to_owned()
}

/// An owned frame, so quickcheck can generate and shrink it.
#[derive(Debug, Clone)]
enum OwnedFrame {
    Hello(Hello),
    Welcome(Welcome),
    Control(u64, Control<String>),
    Data(StreamId, u64, Vec<u8>),
    Ack(StreamId, u64),
    ControlAck(u64),
    Keepalive,
    Goodbye(String),
    AuthChallenge([u8; 32]),
    AuthProof([u8; 32]),
    AuthRefused(String),
}

impl OwnedFrame {
    fn as_frame(&self) -> Frame<'_> {
        match self {
            OwnedFrame::Hello(h) => Frame::Hello(*h),
            OwnedFrame::Welcome(w) => Frame::Welcome(*w),
            OwnedFrame::Control(seq, c) => Frame::Control {
                seq: *seq,
                body: match c {
                    Control::Open { stream, tunnel } => Control::Open {
                        stream: *stream,
                        tunnel: tunnel.as_str(),
                    },
                    Control::OpenResult {
                        stream,
                        accepted,
                        reason,
                    } => Control::OpenResult {
                        stream: *stream,
                        accepted: *accepted,
                        reason: reason.as_str(),
                    },
                    Control::Fin {
                        stream,
                        final_offset,
                    } => Control::Fin {
                        stream: *stream,
                        final_offset: *final_offset,
                    },
                    Control::Reset {
                        stream,
                        code,
                        reason,
                    } => Control::Reset {
                        stream: *stream,
                        code: *code,
                        reason: reason.as_str(),
                    },
                    Control::Claim { epoch } => Control::Claim { epoch: *epoch },
                    Control::Active { client, epoch, why } => Control::Active {
                        client: *client,
                        epoch: *epoch,
                        why: *why,
                    },
                },
            },
            OwnedFrame::Data(s, o, p) => Frame::Data {
                stream: *s,
                offset: *o,
                payload: p,
            },
            OwnedFrame::Ack(s, c) => Frame::Ack {
                stream: *s,
                consumed: *c,
            },
            OwnedFrame::ControlAck(seq) => Frame::ControlAck { seq: *seq },
            OwnedFrame::Keepalive => Frame::Keepalive,
            OwnedFrame::Goodbye(reason) => Frame::Goodbye { reason },
            OwnedFrame::AuthChallenge(nonce) => Frame::AuthChallenge { nonce: *nonce },
            OwnedFrame::AuthProof(proof) => Frame::AuthProof { proof: *proof },
            OwnedFrame::AuthRefused(reason) => Frame::AuthRefused { reason },
        }
    }
}

impl Arbitrary for OwnedFrame {
    fn arbitrary(g: &mut Gen) -> Self {
        let stream = StreamId(u64::arbitrary(g));
        let seq = u64::arbitrary(g).max(1);
        match u8::arbitrary(g) % 16 {
            0 => OwnedFrame::Hello(Hello {
                version: u16::arbitrary(g),
                client: client(g),
                token: u128::arbitrary(g),
                epoch: u64::arbitrary(g),
                ctl_rx: u64::arbitrary(g),
                window: u32::arbitrary(g),
                nonce: Option::<bool>::arbitrary(g).map(|_| bytes32(g)),
            }),
            1 => OwnedFrame::Welcome(Welcome {
                version: u16::arbitrary(g),
                token: u128::arbitrary(g),
                resumed: bool::arbitrary(g),
                ctl_rx: u64::arbitrary(g),
                window: u32::arbitrary(g),
                grace_ms: u32::arbitrary(g),
                active: Option::<bool>::arbitrary(g).map(|b| {
                    if b {
                        ClientId::One
                    } else {
                        ClientId::Two
                    }
                }),
                epoch: u64::arbitrary(g),
            }),
            2 => {
                let mut name = text(g, MAX_TUNNEL_NAME);
                if name.is_empty() {
                    name.push('t');
                }
                OwnedFrame::Control(
                    seq,
                    Control::Open {
                        stream,
                        tunnel: name,
                    },
                )
            }
            3 => OwnedFrame::Control(
                seq,
                Control::OpenResult {
                    stream,
                    accepted: bool::arbitrary(g),
                    reason: text(g, MAX_REASON),
                },
            ),
            4 => OwnedFrame::Control(
                seq,
                Control::Fin {
                    stream,
                    final_offset: u64::arbitrary(g),
                },
            ),
            5 => OwnedFrame::Control(
                seq,
                Control::Reset {
                    stream,
                    code: ResetCode::from_byte(u8::arbitrary(g) % 4).unwrap(),
                    reason: text(g, MAX_REASON),
                },
            ),
            6 => OwnedFrame::Control(
                seq,
                Control::Claim {
                    epoch: u64::arbitrary(g),
                },
            ),
            7 => OwnedFrame::Control(
                seq,
                Control::Active {
                    client: if bool::arbitrary(g) {
                        Some(client(g))
                    } else {
                        None
                    },
                    epoch: u64::arbitrary(g),
                    why: ActiveWhy::from_byte(u8::arbitrary(g) % 4).unwrap(),
                },
            ),
            8 => {
                let payload = Vec::<u8>::arbitrary(g);
                let offset = u64::arbitrary(g) / 2;
                OwnedFrame::Data(stream, offset, payload)
            }
            9 => OwnedFrame::Ack(stream, u64::arbitrary(g)),
            10 => OwnedFrame::ControlAck(u64::arbitrary(g)),
            11 => OwnedFrame::Goodbye(text(g, MAX_REASON)),
            12 => OwnedFrame::AuthChallenge(bytes32(g)),
            13 => OwnedFrame::AuthProof(bytes32(g)),
            14 => OwnedFrame::AuthRefused(text(g, MAX_REASON)),
            _ => OwnedFrame::Keepalive,
        }
    }
}

quickcheck! {
    fn round_trip_of_a_message(frames_in: Vec<OwnedFrame>) -> bool {
        let mut msg = Vec::new();
        for f in &frames_in {
            f.as_frame().encode(&mut msg);
        }
        let decoded: Vec<Frame<'_>> = match frames(&msg).collect::<Result<_, _>>() {
            Ok(v) => v,
            Err(_) => return false,
        };
        decoded.len() == frames_in.len()
            && decoded.iter().zip(&frames_in).all(|(d, f)| *d == f.as_frame())
    }

    fn control_len_matches_encoding(frame: OwnedFrame) -> bool {
        match &frame {
            OwnedFrame::Control(seq, c) => {
                let mut out = Vec::new();
                encode_control(&mut out, *seq, c);
                out.len() == control_len(c)
            }
            _ => true,
        }
    }

    fn arbitrary_bytes_never_panic(bytes: Vec<u8>) -> bool {
        for f in frames(&bytes) {
            if f.is_err() {
                break;
            }
        }
        true
    }

    fn every_strict_prefix_is_incomplete(frame: OwnedFrame) -> bool {
        let mut out = Vec::new();
        frame.as_frame().encode(&mut out);
        (0..out.len()).all(|n| matches!(Frame::decode(&out[..n]), Err(DecodeError::Incomplete { .. })))
    }
}

#[test]
fn oversized_length_is_invalid_before_allocation() {
    let mut msg = vec![KIND_DATA];
    msg.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
}

#[test]
fn unknown_kind_is_named() {
    let msg = [0x7f, 0, 0, 0, 0];
    match Frame::decode(&msg) {
        Err(DecodeError::Invalid(why)) => assert!(why.contains("0x7f"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn truncated_message_is_invalid() {
    let mut msg = Vec::new();
    Frame::Ack {
        stream: StreamId(1),
        consumed: 5,
    }
    .encode(&mut msg);
    msg.pop();
    let r: Vec<_> = frames(&msg).collect();
    assert!(matches!(r.as_slice(), [Err(DecodeError::Invalid(_))]));
}

#[test]
fn trailing_bytes_in_body_are_invalid() {
    let mut msg = Vec::new();
    put_header(&mut msg, KIND_CONTROL_ACK, 9);
    msg.extend_from_slice(&[0; 9]);
    assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
}

/// fuzz/regressions/frame_decode/open-result-accepted-0x48: a flag byte
/// other than 0 or 1 decoded as `true` and re-encoded as 1, so the frame
/// had many encodings. Flags are now 0 or 1 or the frame is invalid.
#[test]
fn flag_bytes_other_than_0_or_1_are_invalid() {
    let found = [
        0x04, 0x00, 0x00, 0x00, 0x14, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x0a, 0x05, 0x05, 0x05,
        0x05, 0x05, 0x05, 0x05, 0x05, 0x00, 0x48, 0x00, 0x01, 0x10,
    ];
    match Frame::decode(&found) {
        Err(DecodeError::Invalid(why)) => assert!(why.contains("accepted"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
    let mut welcome = Vec::new();
    Frame::Welcome(Welcome {
        version: 1,
        token: 7,
        resumed: true,
        ctl_rx: 0,
        window: 1024,
        grace_ms: 0,
        active: None,
        epoch: 0,
    })
    .encode(&mut welcome);
    assert_eq!(welcome[FRAME_HEADER + 18], 1, "the resumed flag");
    welcome[FRAME_HEADER + 18] = 2;
    match Frame::decode(&welcome) {
        Err(DecodeError::Invalid(why)) => assert!(why.contains("resumed"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn zero_sequence_number_is_invalid() {
    let mut msg = Vec::new();
    encode_control(&mut msg, 0, &Control::<&str>::Claim { epoch: 1 });
    assert!(matches!(Frame::decode(&msg), Err(DecodeError::Invalid(_))));
}

#[test]
fn hello_auth_flag_and_nonce_have_one_encoding() {
    let hello = Hello {
        version: 2,
        client: ClientId::Two,
        token: 1 << 100,
        epoch: 3,
        ctl_rx: 4,
        window: 1024,
        nonce: Some([9; 32]),
    };
    let mut msg = Vec::new();
    Frame::Hello(hello).encode(&mut msg);
    assert_eq!(msg.len(), FRAME_HEADER + 41 + 32);
    assert_eq!(Frame::decode(&msg).unwrap().0, Frame::Hello(hello));
    // auth=1 without its nonce, or a nonce after auth=0, is invalid.
    let auth_at = FRAME_HEADER + 40;
    assert_eq!(msg[auth_at], 1);
    let mut short = msg[..auth_at + 1].to_vec();
    short[1..5].copy_from_slice(&41u32.to_be_bytes());
    assert!(matches!(
        Frame::decode(&short),
        Err(DecodeError::Invalid(_))
    ));
    let mut trailing = msg.clone();
    trailing[auth_at] = 0;
    assert!(matches!(
        Frame::decode(&trailing),
        Err(DecodeError::Invalid(_))
    ));
    let mut bad = msg;
    bad[auth_at] = 2;
    match Frame::decode(&bad) {
        Err(DecodeError::Invalid(why)) => assert!(why.contains("auth 2"), "{why}"),
        other => panic!("unexpected {other:?}"),
    }
}
