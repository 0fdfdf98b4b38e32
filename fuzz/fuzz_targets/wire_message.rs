//! Every message a peer can send after the handshake: decoding never
//! panics, and whatever decodes re-encodes to a body that decodes to the
//! same message (no two readings of one frame).
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::wire::{Message, decode_message, encode_message};

fuzz_target!(|body: &[u8]| {
    if let Ok(msg) = decode_message::<Message>(body) {
        let _ = msg.kind();
        let again = encode_message(&msg).expect("a decoded message re-encodes");
        let back: Message = decode_message(&again).expect("a re-encoded message decodes");
        assert_eq!(back, msg);
    }
});
