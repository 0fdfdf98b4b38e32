//! A broadcast payload (a delta, a Watch, a clock report) as every replica
//! and observer decodes it, and the delta inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::crdt::{Delta, OfficeState};
use officemesh::wire::payload::Payload;

fuzz_target!(|data: &[u8]| {
    match Payload::decode(data) {
        Ok(Payload::Delta(bytes)) => {
            if let Ok(delta) = Delta::decode(&bytes) {
                let mut state = OfficeState::new();
                state.apply(&delta);
            }
        }
        Ok(p) => {
            let again = p.encode().expect("a decoded payload re-encodes");
            assert_eq!(Payload::decode(&again).expect("re-encoded decodes"), p);
        }
        Err(_) => {}
    }
});
