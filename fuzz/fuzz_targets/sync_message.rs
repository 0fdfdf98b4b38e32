//! Anti-entropy messages as they come off the wire.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::wire::sync::Message;
use officemesh::wire::{decode_message, encode_message};

fuzz_target!(|body: &[u8]| {
    if let Ok(msg) = decode_message::<Message>(body) {
        let _ = msg.kind();
        let again = encode_message(&msg).expect("a decoded message re-encodes");
        assert_eq!(decode_message::<Message>(&again).expect("decodes"), msg);
    }
});
