//! The Noise `XXpsk3` responder as a node runs it, fed a stranger's bytes:
//! the handshake frames are split by the node's frame reader at its
//! handshake cap, and every message is refused or accepted without a panic.
//! Without the cluster key nothing here may reach transport mode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::net::{NOISE_PATTERN, NOISE_PROLOGUE, limits::MAX_HANDSHAKE_MSG_LEN};
use officemesh::wire::FrameDecoder;

/// A fixed responder key: the fuzzer explores the initiator's bytes.
const RESPONDER_KEY: [u8; 32] = [5; 32];
const CLUSTER_KEY: [u8; 32] = [9; 32];

fuzz_target!(|data: &[u8]| {
    let params = NOISE_PATTERN.parse().expect("our pattern parses");
    let mut responder = snow::Builder::new(params)
        .local_private_key(&RESPONDER_KEY)
        .and_then(|b| b.psk(3, &CLUSTER_KEY))
        .and_then(|b| b.prologue(NOISE_PROLOGUE))
        .and_then(|b| b.build_responder())
        .expect("a responder builds");
    let mut frames = FrameDecoder::new(MAX_HANDSHAKE_MSG_LEN);
    frames.extend(data);
    let mut out = [0u8; MAX_HANDSHAKE_MSG_LEN];
    let mut payload = [0u8; MAX_HANDSHAKE_MSG_LEN];
    while !responder.is_handshake_finished() {
        if responder.is_my_turn() {
            if responder.write_message(&[], &mut out).is_err() {
                return;
            }
            continue;
        }
        let Ok(Some(msg)) = frames.next_frame() else {
            return;
        };
        if responder.read_message(msg, &mut payload).is_err() {
            return;
        }
    }
    panic!("a handshake finished without the cluster key's owner");
});
