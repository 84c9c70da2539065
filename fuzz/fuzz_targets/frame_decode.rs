//! Arbitrary bytes as one WebSocket message through the frame codec.
//!
//! Promises checked: decoding never panics and allocates nothing in
//! proportion to a claimed length (run with `-malloc_limit_mb=64`); an
//! `Incomplete` error asks for more bytes than it got; every frame that
//! decodes encodes back to exactly the bytes it came from, decodes again to
//! the same frame, and every strict prefix of it is `Incomplete` (never
//! `Invalid`), so a reader can tell "wait" from "close".

#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpws_protocol::frame::{self, DecodeError, Frame, FRAME_HEADER};

fuzz_target!(|data: &[u8]| {
    check_decode(data);
    check_message(data);
});

/// `Frame::decode` on the start of `data`.
fn check_decode(data: &[u8]) {
    match Frame::decode(data) {
        Ok((frame, used)) => {
            assert!(
                (FRAME_HEADER..=data.len()).contains(&used),
                "used {used} of {}",
                data.len()
            );
            round_trip(&frame, &data[..used]);
        }
        Err(DecodeError::Incomplete { needed }) => {
            assert!(
                needed > data.len(),
                "incomplete with {needed} needed, {} given",
                data.len()
            );
        }
        Err(DecodeError::Invalid(why)) => {
            assert!(!why.is_empty());
            // Display must not panic either; it goes into close reasons.
            let _ = DecodeError::Invalid(why).to_string();
        }
    }
}

/// `frames()` over the whole message: the frames before the first error
/// re-encode to exactly the bytes they were read from.
fn check_message(data: &[u8]) {
    let mut reencoded = Vec::new();
    let mut errors = 0;
    for item in frame::frames(data) {
        match item {
            Ok(frame) => {
                assert_eq!(errors, 0, "a frame after an error");
                frame.encode(&mut reencoded);
            }
            Err(e) => {
                assert!(
                    matches!(e, DecodeError::Invalid(_)),
                    "a message ends in Invalid, never Incomplete: {e:?}"
                );
                errors += 1;
            }
        }
    }
    assert!(errors <= 1, "the iterator stops after an error");
    assert!(reencoded.len() <= data.len());
    assert_eq!(
        reencoded,
        &data[..reencoded.len()],
        "the decoded frames re-encode to the bytes they came from"
    );
    if errors == 0 {
        assert_eq!(reencoded.len(), data.len(), "a clean message is all frames");
    }
}

/// `bytes` is exactly one frame that decoded to `frame`.
fn round_trip(frame: &Frame<'_>, bytes: &[u8]) {
    let mut out = Vec::new();
    frame.encode(&mut out);
    assert_eq!(out, bytes, "encode(decode(bytes)) == bytes for {frame:?}");
    let (again, used) = Frame::decode(&out).expect("an encoded frame decodes");
    assert_eq!(used, out.len());
    assert_eq!(&again, frame);
    if let Frame::Control { seq, body } = frame {
        assert!(*seq != 0);
        assert_eq!(
            frame::control_len(body),
            out.len(),
            "control_len of {frame:?}"
        );
    }
    for n in 0..bytes.len() {
        match Frame::decode(&bytes[..n]) {
            Err(DecodeError::Incomplete { needed }) => assert!(needed > n),
            other => panic!("prefix of {n} bytes of {frame:?} gave {other:?}"),
        }
    }
}
