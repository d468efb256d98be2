//! The incremental JSON parser: any text, cut at fuzzer-chosen points, must neither panic nor
//! read differently from the same text in one piece.
//!
//! Input: one byte `n`, then `n % 16` chunk lengths (one byte each, cycled), then the text (read
//! lossily, so every input is used).

#![no_main]

use instructor::json::{JsonStream, ParseError, Parsed, parse_lenient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let (lengths, text) = rest.split_at(usize::from(n % 16).min(rest.len()));
    let text = String::from_utf8_lossy(text);
    let chunks = split(&text, lengths);

    let whole = parse_lenient(&text);
    let chunked = feed(JsonStream::new(), &chunks);
    match (&whole, &chunked) {
        (Ok(w), Ok(c)) => {
            assert_eq!(w.value, c.value, "value differs when chunked: {text:?} in {chunks:?}");
            let kinds = |p: &Parsed| p.repairs.iter().map(|r| r.kind).collect::<Vec<_>>();
            assert_eq!(kinds(w), kinds(c), "repairs differ when chunked: {text:?} in {chunks:?}");
        }
        (Err(_), Err(_)) => {}
        _ => panic!("whole {whole:?} but chunked {chunked:?}: {text:?} in {chunks:?}"),
    }

    // Iterating, and reading partial values along the way, must not panic either.
    let mut stream = JsonStream::new().iterating();
    for chunk in &chunks {
        if stream.push(chunk).is_err() {
            return;
        }
        let _ = stream.value();
        let _ = stream.snapshot();
        stream.take_items().for_each(drop);
    }
    let _ = stream.finish();
});

fn feed(mut stream: JsonStream, chunks: &[&str]) -> Result<Parsed, ParseError> {
    for chunk in chunks {
        stream.push(chunk)?;
    }
    stream.finish()
}

/// `text` in pieces whose byte lengths cycle through `lengths` (each cut moved forward to a
/// character boundary); one piece when there are no lengths.
fn split<'a>(text: &'a str, lengths: &[u8]) -> Vec<&'a str> {
    if lengths.is_empty() {
        return vec![text];
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    for &len in lengths.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let mut cut = usize::from(len % 32).min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        // A zero length pushes an empty chunk; the piece after it always makes progress.
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
        if cut == 0 {
            let next = rest.chars().next().map_or(0, char::len_utf8);
            pieces.push(&rest[..next]);
            rest = &rest[next..];
        }
    }
    pieces
}
