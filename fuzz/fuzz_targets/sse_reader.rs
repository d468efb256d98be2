//! The SSE reader: any bytes, cut at fuzzer-chosen points, with a fuzzer-chosen event size
//! limit, must neither panic nor give other events (or another end) than the same bytes in one
//! chunk — or one byte at a time.
//!
//! Input: one byte `n`, then `n % 16` chunk lengths (one byte each, cycled), one byte for the
//! event size limit (0–255, so that it is often hit), then the stream's bytes.

#![no_main]

use instructor::fuzzing::sse_events;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let (lengths, rest) = rest.split_at(usize::from(n % 16).min(rest.len()));
    let Some((&limit, bytes)) = rest.split_first() else { return };
    let limit = usize::from(limit);

    let whole = sse_events(&[bytes], limit);
    let chunks = split(bytes, lengths);
    let split_feed = sse_events(&chunks, limit);
    assert_eq!(whole, split_feed, "split {chunks:?} (limit {limit}) differs from one chunk");
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(whole, sse_events(&bytewise, limit), "one byte at a time (limit {limit}) differs from one chunk");
});

/// `bytes` in pieces whose lengths cycle through `lengths` (0–31; a zero pushes an empty chunk).
fn split<'a>(bytes: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    if lengths.is_empty() {
        return vec![bytes];
    }
    let mut pieces = Vec::new();
    let mut rest = bytes;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let cut = usize::from(len % 32).min(rest.len());
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
        if cut == 0 {
            pieces.push(&rest[..1]);
            rest = &rest[1..];
        }
    }
    pieces
}
