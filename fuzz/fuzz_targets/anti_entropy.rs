//! The anti-entropy machine fed a peer's messages (summaries, digests and
//! multi-part answers, in any order): it answers or ignores, never panics,
//! and an answer it applies leaves a state that still encodes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::crdt::anti_entropy::{Config, Input};
use officemesh::crdt::{AntiEntropy, OfficeState, Quantity, TargetKey, TargetValue, Writer};
use officemesh::wire::{FrameDecoder, MAX_FRAME_LEN, decode_message, sync};
use officemesh::{NodeId, Time};

fuzz_target!(|data: &[u8]| {
    let peer = NodeId(2);
    let mut state = OfficeState::new();
    let mut writer = Writer::new(NodeId(1));
    state.set_target(
        &mut writer,
        1_000,
        TargetKey::new("office", Quantity::Temperature),
        TargetValue {
            value: 21.0,
            unit: Quantity::Temperature.default_unit(),
            set_by: "fuzz".into(),
        },
    );
    let mut machine = AntiEntropy::new(Config::default(), 7);
    let mut out = Vec::new();
    let now = Time::from_millis(0);
    machine.handle(now, &mut state, Input::NeighborUp(peer), &mut out);
    // The input is a stream of frames, each one sync message.
    let mut frames = FrameDecoder::new(MAX_FRAME_LEN);
    frames.extend(data);
    while let Ok(Some(body)) = frames.next_frame() {
        let Ok(msg) = decode_message::<sync::Message>(body) else {
            continue;
        };
        out.clear();
        machine.handle(
            now,
            &mut state,
            Input::Message { from: peer, msg },
            &mut out,
        );
    }
    state.encode().expect("state encodes");
});
