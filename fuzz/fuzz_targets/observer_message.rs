//! The observer protocol: a write request and its answers, and the clock
//! reports a node pushes to the observers watching it, down to the delta
//! and payload they carry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::crdt::{Delta, OfficeState};
use officemesh::wire::observer::Message;
use officemesh::wire::payload::Payload;
use officemesh::wire::{decode_message, encode_message};

fuzz_target!(|body: &[u8]| {
    let Ok(msg) = decode_message::<Message>(body) else {
        return;
    };
    let again = encode_message(&msg).expect("a decoded message re-encodes");
    assert_eq!(decode_message::<Message>(&again).expect("decodes"), msg);
    match msg {
        Message::Write { delta, .. } => {
            if let Ok(delta) = Delta::decode(&delta) {
                OfficeState::new().apply(&delta);
            }
        }
        Message::ClockReport(bytes) => {
            let _ = Payload::decode(&bytes);
        }
        // Answers carry no nested encoding.
        _ => {}
    }
});
