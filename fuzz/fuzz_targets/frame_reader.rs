//! The one frame reader, fed a byte stream split at arbitrary points, both
//! ways a caller can feed it (the socket's exact reads and bulk `extend`):
//! it never panics, never buffers past one frame plus what it was given,
//! and both ways split the stream into the same frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use officemesh::wire::{FrameDecoder, MAX_FRAME_LEN, PREFIX_LEN, decode_message};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    // The socket's way: read at most what the current frame lacks.
    let mut exact = FrameDecoder::new(MAX_FRAME_LEN);
    let mut by_reads = Vec::new();
    let mut at = 0;
    let exact_error = loop {
        match exact.next_frame() {
            Ok(Some(body)) => {
                by_reads.push(body.to_vec());
                continue;
            }
            Ok(None) => {}
            Err(_) => break true,
        }
        if at == stream.len() {
            break false;
        }
        let space = match exact.read_buf() {
            Ok(space) => space,
            Err(_) => break true,
        };
        assert!(!space.is_empty(), "no frame and no room to read into");
        let n = space.len().min(chunk).min(stream.len() - at);
        space[..n].copy_from_slice(&stream[at..at + n]);
        exact.advance(n);
        at += n;
        assert!(exact.pending() <= PREFIX_LEN + MAX_FRAME_LEN);
    };
    // Bulk feeding in chunks.
    let mut bulk = FrameDecoder::new(MAX_FRAME_LEN);
    let mut by_extend = Vec::new();
    let mut bulk_error = false;
    'feed: for piece in stream.chunks(chunk) {
        bulk.extend(piece);
        loop {
            match bulk.next_frame() {
                Ok(Some(body)) => {
                    // Plaintext frames decode or fail, never panic.
                    let _ = decode_message::<officemesh::wire::Message>(body);
                    by_extend.push(body.to_vec());
                }
                Ok(None) => break,
                Err(_) => {
                    bulk_error = true;
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(exact_error, bulk_error);
    assert_eq!(by_reads, by_extend);
});
