//! Entry points for the fuzz targets in `fuzz/` — not part of the API, and not stable. They
//! reach crate-private readers that the public API drives only from a network stream.

use crate::stream::sse::{Finish, SseReader, decode_chunk};

/// Feeds `chunks` in order to an SSE reader that refuses events over `max_event_bytes`, taking
/// out every event after each chunk, then finishes the stream. Returns each event as
/// `Ok((event name, data))` or `Err(message)`, followed by `Err("truncated")` when the input
/// ended inside an event. Each event's data also goes through the chat-chunk decoder (its result
/// ignored), so that the fuzzer reaches it too.
///
/// The same bytes cut into different chunks must give the same list.
#[doc(hidden)]
pub fn sse_events(chunks: &[&[u8]], max_event_bytes: usize) -> Vec<Result<(Option<String>, String), String>> {
    let mut reader = SseReader::new(max_event_bytes);
    let mut events = Vec::new();
    for chunk in chunks {
        reader.push(chunk);
        while let Some(event) = reader.next_event() {
            events.push(match event {
                Ok(event) => {
                    let _ = decode_chunk(event.data);
                    Ok((event.event.map(str::to_owned), event.data.to_owned()))
                }
                Err(e) => Err(e.to_string()),
            });
        }
    }
    if reader.finish() == Finish::Truncated {
        events.push(Err("truncated".to_owned()));
    }
    events
}
