//! Server-Sent Events, read incrementally, and the chat-completion chunks they carry.
//!
//! Streams run to hundreds of thousands of tiny events, so the reader does work linear in its
//! input: each byte is scanned for a line end once, copied at most once more when compaction has
//! to keep it, and UTF-8-checked once. An event made of a single `data:` line (nearly all of
//! them) is handed out as a slice of the reader's own buffer, and chunks are decoded into
//! borrowed views instead of a `serde_json::Value` tree.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use crate::wire::cow::{CowStr, null_default, opt_cow as opt_str};
use serde_json::value::RawValue;

use crate::wire::Usage;

/// Lines may be this much longer than `max_event_bytes` (room for the field name), so that a
/// line's length alone never rejects an event whose data fits.
const LINE_OVERHEAD: usize = 64;

/// Below this many consumed bytes compaction is not worth a `drain`.
const COMPACT_MIN: usize = 4096;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why an event could not be read. The reader stays usable: it drops the rest of the offending
/// event and resumes at the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SseError {
    /// The event's data, or one of its lines, was larger than the reader's limit.
    EventTooLarge { limit: usize },
    /// The event's data or name was not UTF-8.
    InvalidUtf8,
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::EventTooLarge { limit } => write!(f, "server-sent event larger than {limit} bytes"),
            SseError::InvalidUtf8 => f.write_str("server-sent event is not valid UTF-8"),
        }
    }
}

impl std::error::Error for SseError {}

/// One dispatched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SseEvent<'a> {
    /// The `event:` field; `None` stands for the default type, `message`.
    pub event: Option<&'a str>,
    /// The `data:` lines, joined with `\n`.
    pub data: &'a str,
}

/// How the input ended, so the caller can tell a finished stream from a cut connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finish {
    /// Nothing was left over (a final comment or stray field line without data is fine).
    Clean,
    /// An event had started but its closing blank line never came; per the spec it is dropped.
    Truncated,
}

/// The data of the event being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Data {
    /// No `data:` line yet: a blank line dispatches nothing.
    None,
    /// Exactly one `data:` line, still in `buf` at these offsets: dispatched without copying.
    Range(usize, usize),
    /// Several lines (or one that compaction had to move out of `buf`), joined in `data`.
    Owned,
}

/// What `advance` found, described without borrowing so the borrow starts only when returning.
enum Ready {
    Range(usize, usize),
    Owned,
}

/// Incremental WHATWG EventSource parser: bytes in, events out.
#[derive(Debug)]
pub(crate) struct SseReader {
    /// Received bytes; everything before `pos` has been parsed.
    buf: Vec<u8>,
    pos: usize,
    /// `buf[pos..scan]` is known to hold no line end, so a long line is scanned only once.
    scan: usize,
    /// The previous line ended in a CR at the end of the input: a LF that follows belongs to it.
    skip_lf: bool,
    /// Whether a BOM may still be at the start of the stream.
    bom_pending: bool,
    data: Data,
    /// Joined data for `Data::Owned`.
    owned: Vec<u8>,
    /// Length of the event's data as it will be dispatched.
    data_len: usize,
    /// The `event:` field, if one was seen in this event.
    event: Vec<u8>,
    has_event: bool,
    /// The last dispatched event's owned data and name; kept apart so `owned`/`event` can be
    /// reused while the caller still borrows these.
    out_data: Vec<u8>,
    out_event: Vec<u8>,
    out_has_event: bool,
    /// After an error: skip lines up to the blank line that ends the offending event.
    discarding: bool,
    /// While discarding: part of the current line was dropped, so it is not blank.
    dropped_partial: bool,
    /// Part of an over-long comment line was dropped; the rest of that line is skipped too.
    comment_partial: bool,
    max_event_bytes: usize,
}

impl SseReader {
    /// A reader rejecting events whose data exceeds `max_event_bytes`, which also bounds memory:
    /// no line longer than that (plus a little room for the field name) is ever buffered.
    pub(crate) fn new(max_event_bytes: usize) -> Self {
        SseReader {
            buf: Vec::new(),
            pos: 0,
            scan: 0,
            skip_lf: false,
            bom_pending: true,
            data: Data::None,
            owned: Vec::new(),
            data_len: 0,
            event: Vec::new(),
            has_event: false,
            out_data: Vec::new(),
            out_event: Vec::new(),
            out_has_event: false,
            discarding: false,
            dropped_partial: false,
            comment_partial: false,
            max_event_bytes,
        }
    }

    /// Feed the next network chunk; it may split lines, characters, or a CRLF anywhere.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event, if the input so far holds one.
    ///
    /// After an `Err` the rest of that event is skipped; later events are read normally.
    pub(crate) fn next_event(&mut self) -> Option<Result<SseEvent<'_>, SseError>> {
        let ready = match self.advance()? {
            Ok(ready) => ready,
            Err(e) => return Some(Err(e)),
        };
        let data = match ready {
            Ready::Range(start, end) => &self.buf[start..end],
            Ready::Owned => &self.out_data[..],
        };
        let Ok(data) = std::str::from_utf8(data) else { return Some(Err(SseError::InvalidUtf8)) };
        let event = if self.out_has_event && !self.out_event.is_empty() {
            match std::str::from_utf8(&self.out_event) {
                Ok(name) => Some(name),
                Err(_) => return Some(Err(SseError::InvalidUtf8)),
            }
        } else {
            None
        };
        Some(Ok(SseEvent { event, data }))
    }

    /// End of input. Call once `next_event` returns `None`; an unfinished event is discarded as
    /// the spec requires, and reported as `Truncated` so the caller can fail the stream.
    /// The reader is reset and may be reused for a new stream.
    pub(crate) fn finish(&mut self) -> Finish {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let rest = if self.skip_lf && rest.first() == Some(&b'\n') { &rest[1..] } else { rest };
        let unread_line = rest.iter().any(|&b| b == b'\n' || b == b'\r');
        let partial_data = rest == b"data" || rest.starts_with(b"data:");
        let truncated = self.discarding || self.data != Data::None || unread_line || partial_data;
        let max_event_bytes = self.max_event_bytes;
        // Keep the allocations for reuse.
        let (mut buf, mut owned, mut event, mut out_data, mut out_event) = (
            std::mem::take(&mut self.buf),
            std::mem::take(&mut self.owned),
            std::mem::take(&mut self.event),
            std::mem::take(&mut self.out_data),
            std::mem::take(&mut self.out_event),
        );
        for v in [&mut buf, &mut owned, &mut event, &mut out_data, &mut out_event] {
            v.clear();
        }
        *self = SseReader { buf, owned, event, out_data, out_event, ..SseReader::new(max_event_bytes) };
        if truncated { Finish::Truncated } else { Finish::Clean }
    }

    /// Drop parsed bytes, moving what remains only when at least as many bytes go as stay, so
    /// the copying is amortised linear.
    fn compact(&mut self) {
        let pos = self.pos;
        if pos == 0 {
            return;
        }
        if pos == self.buf.len() && self.data == Data::None {
            self.buf.clear();
        } else if pos >= COMPACT_MIN && pos >= self.buf.len() / 2 {
            // The pending data line lies before `pos`: copying it is paid for by the drain.
            if let Data::Range(start, end) = self.data {
                self.owned.clear();
                self.owned.extend_from_slice(&self.buf[start..end]);
                self.data = Data::Owned;
            }
            self.buf.drain(..pos);
        } else {
            return;
        }
        self.scan -= pos;
        self.pos = 0;
    }

    /// Parse lines until one dispatches an event or fails, or the input runs out.
    fn advance(&mut self) -> Option<Result<Ready, SseError>> {
        loop {
            if self.bom_pending {
                let rest = &self.buf[self.pos..];
                if rest.len() < BOM.len() && BOM.starts_with(rest) {
                    return None;
                }
                if rest.starts_with(BOM) {
                    self.pos += BOM.len();
                    self.scan = self.scan.max(self.pos);
                }
                self.bom_pending = false;
            }
            if self.skip_lf && self.pos < self.buf.len() {
                self.skip_lf = false;
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                    self.scan = self.scan.max(self.pos);
                }
            }
            let Some(offset) = self.buf[self.scan..].iter().position(|&b| b == b'\n' || b == b'\r') else {
                return self.incomplete_line();
            };
            let end = self.scan + offset;
            let next = if self.buf[end] == b'\n' {
                end + 1
            } else if end + 1 < self.buf.len() {
                if self.buf[end + 1] == b'\n' { end + 2 } else { end + 1 }
            } else {
                self.skip_lf = true;
                end + 1
            };
            let start = self.pos;
            self.pos = next;
            self.scan = next;
            if let Some(step) = self.line(start, end) {
                return Some(step);
            }
        }
    }

    /// No line end in the rest of the input: keep waiting, unless the line is already too long.
    fn incomplete_line(&mut self) -> Option<Result<Ready, SseError>> {
        self.scan = self.buf.len();
        let partial = self.buf.len() - self.pos;
        // A comment is never kept, so its length is no error: drop it as it comes, however
        // the input is split.
        let comment = self.comment_partial || self.buf.get(self.pos) == Some(&b':');
        if comment && !self.discarding && partial > self.max_event_bytes.saturating_add(LINE_OVERHEAD).min(COMPACT_MIN)
        {
            self.pos = self.buf.len();
            self.comment_partial = true;
            return None;
        }
        if self.discarding {
            // The line is being skipped anyway; don't hold on to it.
            if partial > 0 {
                self.dropped_partial = true;
                self.pos = self.buf.len();
            }
            return None;
        }
        if partial > self.max_event_bytes.saturating_add(LINE_OVERHEAD) {
            self.pos = self.buf.len();
            self.dropped_partial = true;
            return Some(Err(self.fail()));
        }
        None
    }

    /// Interpret the line `buf[start..end]`; `Some` when it dispatches or fails.
    fn line(&mut self, start: usize, end: usize) -> Option<Result<Ready, SseError>> {
        if std::mem::take(&mut self.comment_partial) {
            // The end of a comment line whose start was dropped.
            return None;
        }
        if self.discarding {
            if start == end && !self.dropped_partial {
                self.discarding = false;
            }
            self.dropped_partial = false;
            return None;
        }
        if start == end {
            return self.dispatch().map(Ok);
        }
        let line = &self.buf[start..end];
        if line[0] == b':' {
            return None;
        }
        if line.len() > self.max_event_bytes.saturating_add(LINE_OVERHEAD) {
            return Some(Err(self.fail()));
        }
        let (field, value_start) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = start + colon + 1;
                let value = if self.buf.get(value) == Some(&b' ') && value < end { value + 1 } else { value };
                (&line[..colon], value)
            }
            None => (line, end),
        };
        match field {
            b"data" => {
                let len = end - value_start;
                let new_len = match self.data {
                    Data::None => len,
                    _ => self.data_len + 1 + len,
                };
                if new_len > self.max_event_bytes {
                    return Some(Err(self.fail()));
                }
                match self.data {
                    Data::None => self.data = Data::Range(value_start, end),
                    Data::Range(s, e) => {
                        self.owned.clear();
                        self.owned.extend_from_slice(&self.buf[s..e]);
                        self.owned.push(b'\n');
                        self.owned.extend_from_slice(&self.buf[value_start..end]);
                        self.data = Data::Owned;
                    }
                    Data::Owned => {
                        self.owned.push(b'\n');
                        self.owned.extend_from_slice(&self.buf[value_start..end]);
                    }
                }
                self.data_len = new_len;
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(&self.buf[value_start..end]);
                self.has_event = true;
            }
            // `id` and `retry` only matter to reconnecting clients; unknown fields are ignored.
            _ => {}
        }
        None
    }

    /// A blank line: hand out the event built so far, if it has data.
    fn dispatch(&mut self) -> Option<Ready> {
        let data = std::mem::replace(&mut self.data, Data::None);
        self.data_len = 0;
        self.out_has_event = std::mem::replace(&mut self.has_event, false);
        std::mem::swap(&mut self.event, &mut self.out_event);
        self.event.clear();
        match data {
            Data::None => None,
            Data::Range(start, end) => Some(Ready::Range(start, end)),
            Data::Owned => {
                std::mem::swap(&mut self.owned, &mut self.out_data);
                self.owned.clear();
                Some(Ready::Owned)
            }
        }
    }

    /// Abandon the current event and skip to its end.
    fn fail(&mut self) -> SseError {
        self.data = Data::None;
        self.data_len = 0;
        self.owned.clear();
        self.has_event = false;
        self.event.clear();
        self.discarding = true;
        SseError::EventTooLarge { limit: self.max_event_bytes }
    }
}

/// One `chat.completion.chunk`, decoded without building a `serde_json::Value` tree.
///
/// Every field tolerates `null` and absence, and unknown fields (`logprobs`,
/// `system_fingerprint`, `x_groq`, ...) are ignored: compatible servers vary.
#[derive(Debug, Deserialize)]
pub(crate) struct ChunkRef<'a> {
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub choices: Vec<ChoiceRef<'a>>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Some servers report a failure mid-stream as a data event `{"error": {...}}`.
    #[serde(borrow, default)]
    pub error: Option<ErrorRef<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub model: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub id: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChoiceRef<'a> {
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub delta: DeltaRef<'a>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub finish_reason: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct DeltaRef<'a> {
    /// A string per OpenAI; an array of text parts is accepted too, as in full responses.
    #[serde(borrow, default, deserialize_with = "opt_content")]
    pub content: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub refusal: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "null_default")]
    pub tool_calls: Vec<ToolCallDeltaRef<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallDeltaRef<'a> {
    #[serde(default, deserialize_with = "null_default")]
    pub index: u32,
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function: Option<FunctionDeltaRef<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FunctionDeltaRef<'a> {
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub name: Option<Cow<'a, str>>,
    /// A JSON fragment as text; servers that send a whole object (Ollama) get its JSON text.
    #[serde(borrow, default, deserialize_with = "opt_arguments")]
    pub arguments: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorRef<'a> {
    #[serde(borrow, default, deserialize_with = "opt_str")]
    pub message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "type", deserialize_with = "opt_str")]
    pub kind: Option<Cow<'a, str>>,
    /// A string or a number, depending on the server.
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

/// Decode one event's data as a chunk; strings without escapes borrow from `data`.
pub(crate) fn decode_chunk(data: &str) -> Result<ChunkRef<'_>, serde_json::Error> {
    serde_json::from_str(data)
}

/// Message content: a string, `null`, or an array of `{"text": ...}` parts (joined).
fn opt_content<'de, 'a, D>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    'de: 'a,
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    struct Part<'a> {
        #[serde(borrow, default, deserialize_with = "opt_str")]
        text: Option<Cow<'a, str>>,
    }
    struct Content;
    impl<'de> de::Visitor<'de> for Content {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, null, or an array of text parts")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut text = String::new();
            while let Some(part) = seq.next_element::<Part<'de>>()? {
                text.push_str(part.text.as_deref().unwrap_or_default());
            }
            Ok(Some(Cow::Owned(text)))
        }
    }
    deserializer.deserialize_option(Content)
}

/// Tool arguments: a string per OpenAI, borrowed when possible; any other JSON is kept as text.
fn opt_arguments<'de, 'a, D>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    'de: 'a,
    D: Deserializer<'de>,
{
    let Some(raw) = Option::<&'de RawValue>::deserialize(deserializer)? else { return Ok(None) };
    let text = raw.get();
    if text.starts_with('"') {
        let mut inner = serde_json::Deserializer::from_str(text);
        return de::Deserializer::deserialize_str(&mut inner, CowStr).map(Some).map_err(de::Error::custom);
    }
    Ok(Some(Cow::Borrowed(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event (or error) the reader yields, owned.
    fn drain(reader: &mut SseReader, out: &mut Vec<Result<(Option<String>, String), SseError>>) {
        while let Some(ev) = reader.next_event() {
            out.push(ev.map(|e| (e.event.map(str::to_owned), e.data.to_owned())));
        }
    }

    type Events = Vec<Result<(Option<String>, String), SseError>>;

    fn read_chunks(chunks: &[&[u8]], max: usize) -> (Events, Finish) {
        let mut reader = SseReader::new(max);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.push(chunk);
            drain(&mut reader, &mut out);
        }
        let finish = reader.finish();
        (out, finish)
    }

    fn read(input: &[u8]) -> (Events, Finish) {
        read_chunks(&[input], 1 << 20)
    }

    fn msg(data: &str) -> Result<(Option<String>, String), SseError> {
        Ok((None, data.to_owned()))
    }

    /// Found by the fuzzer: an over-long comment split across reads must be skipped exactly as
    /// when it arrives whole, not rejected (which also swallowed the next event).
    #[test]
    fn long_comments_are_skipped_however_they_are_split() {
        let input = format!(":{}\ndata: x\n\n", "a".repeat(100));
        let whole = read_chunks(&[input.as_bytes()], 10);
        assert_eq!(whole, (vec![msg("x")], Finish::Clean));
        for size in [1, 7, 18, 50] {
            let chunks: Vec<&[u8]> = input.as_bytes().chunks(size).collect();
            assert_eq!(read_chunks(&chunks, 10), whole, "chunks of {size}");
        }
    }

    #[test]
    fn line_endings() {
        for input in [&b"data: a\n\ndata: b\n\n"[..], b"data: a\r\n\r\ndata: b\r\n\r\n", b"data: a\r\rdata: b\r\r"] {
            assert_eq!(read(input), (vec![msg("a"), msg("b")], Finish::Clean), "{input:?}");
        }
        // Mixed endings in one stream.
        assert_eq!(read(b"data: a\r\n\ndata: b\n\r\n"), (vec![msg("a"), msg("b")], Finish::Clean));
    }

    #[test]
    fn cr_at_chunk_end_then_lf() {
        let (events, finish) = read_chunks(&[b"data: a\r", b"\n\r", b"\ndata: b\r", b"\n", b"\r", b"\n"], 1024);
        assert_eq!(events, vec![msg("a"), msg("b")]);
        assert_eq!(finish, Finish::Clean);
        // The CR ends the line at once; the event needs no more input than its blank line.
        let mut reader = SseReader::new(1024);
        reader.push(b"data: a\r\r");
        assert_eq!(reader.next_event(), Some(Ok(SseEvent { event: None, data: "a" })));
        reader.push(b"\n");
        assert_eq!(reader.next_event(), None);
        assert_eq!(reader.finish(), Finish::Clean);
    }

    const STREAM: &[u8] = b"\xEF\xBB\xBF: keep-alive\r\n\
        data: {\"choices\":[{\"delta\":{\"content\":\"h\xC3\xA9\"}}]}\n\n\
        event: error\r\
        data: line1\r\n\
        data:line2\n\
        data\n\
        id: 7\n\
        retry: 10\n\
        \n\
        :\n\
        data: \xE2\x82\xAC\r\r\
        \n\
        event: ignored-without-data\n\n\
        data: [DONE]\r\n\r\n";

    fn expected_stream() -> Events {
        vec![
            msg("{\"choices\":[{\"delta\":{\"content\":\"h\u{e9}\"}}]}"),
            Ok((Some("error".to_owned()), "line1\nline2\n".to_owned())),
            msg("\u{20ac}"),
            msg("[DONE]"),
        ]
    }

    #[test]
    fn whole_stream() {
        assert_eq!(read(STREAM), (expected_stream(), Finish::Clean));
    }

    #[test]
    fn every_split_point() {
        for max in [1 << 20, 40] {
            let (whole, finish) = read_chunks(&[STREAM], max);
            assert_eq!(finish, Finish::Clean);
            for split in 0..=STREAM.len() {
                let (a, b) = STREAM.split_at(split);
                assert_eq!(read_chunks(&[a, b], max), (whole.clone(), Finish::Clean), "split at {split}");
            }
            let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
            assert_eq!(read_chunks(&bytes, max), (whole.clone(), Finish::Clean));
            for size in [2, 3, 5, 7] {
                let chunks: Vec<&[u8]> = STREAM.chunks(size).collect();
                assert_eq!(read_chunks(&chunks, max), (whole.clone(), Finish::Clean), "chunks of {size}");
            }
        }
        // A line too long for the limit fails the same way wherever the input is split, whether
        // it is caught while still arriving or once complete.
        let long = [&b"data: a\n\n: "[..], &[b'c'; 100], b"\ndata: ", &[b'x'; 100], b"\n\ndata: b\n\n"].concat();
        let expected = vec![msg("a"), Err(SseError::EventTooLarge { limit: 10 }), msg("b")];
        for split in 0..=long.len() {
            let (a, b) = long.split_at(split);
            assert_eq!(read_chunks(&[a, b], 10), (expected.clone(), Finish::Clean), "split at {split}");
        }
        let bytes: Vec<&[u8]> = long.chunks(1).collect();
        assert_eq!(read_chunks(&bytes, 10), (expected, Finish::Clean));

        // With a 40-byte limit only the first event (45 bytes of data) is too large.
        let (small, _) = read_chunks(&[STREAM], 40);
        let mut expected = expected_stream();
        expected[0] = Err(SseError::EventTooLarge { limit: 40 });
        assert_eq!(small, expected);
    }

    #[test]
    fn multi_line_data_and_empty_data() {
        assert_eq!(read(b"data: a\ndata: b\ndata: c\n\n").0, vec![msg("a\nb\nc")]);
        // A lone `data` line is an event with empty data; two of them make "\n".
        assert_eq!(read(b"data\n\ndata:\ndata:\n\n").0, vec![msg(""), msg("\n")]);
        // Only one leading space is stripped; other fields' spacing is kept.
        assert_eq!(read(b"data:  two\n\n").0, vec![msg(" two")]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let (events, finish) = read(b": ping\n\n:\n\nfoo: bar\nid: 1\n\ndata: x\n: mid-event comment\n\n");
        assert_eq!(events, vec![msg("x")]);
        assert_eq!(finish, Finish::Clean);
    }

    #[test]
    fn event_name() {
        let (events, _) = read(b"event: error\ndata: {\"error\":{}}\n\nevent:\ndata: d\n\ndata: e\n\n");
        assert_eq!(events, vec![Ok((Some("error".to_owned()), "{\"error\":{}}".to_owned())), msg("d"), msg("e")]);
    }

    #[test]
    fn bom_only_at_start() {
        assert_eq!(read(b"\xEF\xBB\xBFdata: a\n\n").0, vec![msg("a")]);
        assert_eq!(read_chunks(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"], 100).0, vec![msg("a")]);
        // A second BOM is part of the field name, which then is unknown.
        assert_eq!(read(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n").0, vec![msg("b")]);
    }

    #[test]
    fn done_is_data() {
        assert_eq!(read(b"data: [DONE]\n\n").0, vec![msg("[DONE]")]);
    }

    #[test]
    fn oversized_event_is_an_error_and_reader_recovers() {
        let input = b"data: 0123456789\n\ndata: 01234\ndata: 56789\n\ndata: ok\n\n";
        assert_eq!(
            read_chunks(&[input], 10).0,
            vec![msg("0123456789"), Err(SseError::EventTooLarge { limit: 10 }), msg("ok")]
        );
        // A line without end that outgrows the limit is dropped as it arrives.
        let mut reader = SseReader::new(10);
        let mut out = Vec::new();
        reader.push(b"data: ");
        for _ in 0..1000 {
            reader.push(&[b'x'; 100]);
            drain(&mut reader, &mut out);
        }
        assert!(reader.buf.len() < 1000, "buffer kept {} bytes", reader.buf.len());
        reader.push(b"\n\ndata: ok\n\n");
        drain(&mut reader, &mut out);
        assert_eq!(out, vec![Err(SseError::EventTooLarge { limit: 10 }), msg("ok")]);
        assert_eq!(reader.finish(), Finish::Clean);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let (events, finish) = read(b"data: \xFF\n\ndata: a\ndata: \xC3\n\nevent: \xFF\ndata: x\n\ndata: ok\n\n");
        assert_eq!(
            events,
            vec![Err(SseError::InvalidUtf8), Err(SseError::InvalidUtf8), Err(SseError::InvalidUtf8), msg("ok")]
        );
        assert_eq!(finish, Finish::Clean);
    }

    #[test]
    fn finish_reports_truncation() {
        assert_eq!(read(b"data: a\n\n").1, Finish::Clean);
        assert_eq!(read(b"data: a\n\n: trailing comment").1, Finish::Clean);
        assert_eq!(read(b"data: a\n\nevent: x\n").1, Finish::Clean);
        assert_eq!(read(b"").1, Finish::Clean);
        assert_eq!(read(b"data: a\n"), (vec![], Finish::Truncated));
        assert_eq!(read(b"data: a").1, Finish::Truncated);
        assert_eq!(read(b"data").1, Finish::Truncated);
        assert_eq!(read(b"data: a\n\ndata: {\"partial").1, Finish::Truncated);
        // Unread events count as left over.
        let mut reader = SseReader::new(100);
        reader.push(b"data: a\n\n");
        assert_eq!(reader.finish(), Finish::Truncated);
        // After finish the reader starts a fresh stream (a BOM is skipped again).
        reader.push(b"\xEF\xBB\xBFdata: b\n\n");
        assert_eq!(reader.next_event(), Some(Ok(SseEvent { event: None, data: "b" })));
        assert_eq!(reader.finish(), Finish::Clean);
    }

    #[test]
    fn many_events_through_compaction() {
        let event = b"data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"abcd\"}}]}\n\n";
        let input: Vec<u8> = event.iter().copied().cycle().take(event.len() * 2000).collect();
        for size in [1, 3, 100, 4096, 65536] {
            let mut reader = SseReader::new(1 << 16);
            let mut count = 0;
            let mut max_buf = 0;
            for chunk in input.chunks(size) {
                reader.push(chunk);
                max_buf = max_buf.max(reader.buf.len());
                while let Some(ev) = reader.next_event() {
                    let ev = ev.expect("a valid event");
                    assert_eq!(ev.data.len(), event.len() - 8);
                    let chunk = decode_chunk(ev.data).expect("the chunk decodes");
                    assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("abcd"));
                    count += 1;
                }
            }
            assert_eq!(count, 2000, "chunks of {size}");
            assert!(max_buf <= 2 * COMPACT_MIN + 2 * size, "chunks of {size}: buffer reached {max_buf}");
            assert_eq!(reader.finish(), Finish::Clean);
        }
    }

    #[test]
    fn single_line_events_borrow_the_buffer() {
        let mut reader = SseReader::new(1024);
        reader.push(b"data: abc\n\ndata: a\ndata: b\n\n");
        let in_buf = |reader: &SseReader, addr: usize| {
            let start = reader.buf.as_ptr() as usize;
            (start..start + reader.buf.len()).contains(&addr)
        };
        let addr = reader.next_event().expect("an event").expect("a valid event").data.as_ptr() as usize;
        assert!(in_buf(&reader, addr));
        let addr = reader.next_event().expect("an event").expect("a valid event").data.as_ptr() as usize;
        assert!(!in_buf(&reader, addr));
    }

    #[test]
    fn chunk_openai_content() {
        let data = r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"logprobs":null,"finish_reason":null}]}"#;
        let chunk = decode_chunk(data).expect("the chunk decodes");
        assert_eq!(chunk.id.as_deref(), Some("chatcmpl-123"));
        assert_eq!(chunk.model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(chunk.choices.len(), 1);
        let choice = &chunk.choices[0];
        assert_eq!(choice.index, 0);
        assert!(choice.finish_reason.is_none());
        assert!(matches!(choice.delta.content, Some(Cow::Borrowed("Hello"))));
        assert!(matches!(chunk.id, Some(Cow::Borrowed(_))));
        assert!(chunk.usage.is_none() && chunk.error.is_none());
        // Escapes force a copy, decoded.
        let chunk = decode_chunk(r#"{"choices":[{"delta":{"content":"a\"b\n"}}]}"#).expect("the chunk decodes");
        assert!(matches!(&chunk.choices[0].delta.content, Some(Cow::Owned(s)) if s == "a\"b\n"));
    }

    #[test]
    fn chunk_tool_call_deltas() {
        let first = r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#;
        let chunk = decode_chunk(first).expect("the chunk decodes");
        let delta = &chunk.choices[0].delta;
        assert!(delta.content.is_none());
        let call = &delta.tool_calls[0];
        assert_eq!(call.index, 0);
        assert!(matches!(call.id, Some(Cow::Borrowed("call_abc"))));
        let function = call.function.as_ref().expect("a function");
        assert!(matches!(function.name, Some(Cow::Borrowed("get_weather"))));
        assert_eq!(function.arguments.as_deref(), Some(""));

        let next = r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"loc"}}]},"finish_reason":null}]}"#;
        let chunk = decode_chunk(next).expect("the chunk decodes");
        let call = &chunk.choices[0].delta.tool_calls[0];
        assert_eq!(call.index, 1);
        assert!(call.id.is_none());
        let function = call.function.as_ref().expect("a function");
        assert!(function.name.is_none());
        assert_eq!(function.arguments.as_deref(), Some("{\"loc"));

        let plain = r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"ation"}}]}}]}"#;
        let chunk = decode_chunk(plain).expect("the chunk decodes");
        let args = &chunk.choices[0].delta.tool_calls[0].function.as_ref().expect("a function").arguments;
        assert!(matches!(args, Some(Cow::Borrowed("ation"))));

        // Ollama sends the arguments as an object; its JSON text is kept.
        let object = r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":{"a": 1}}}]}}]}"#;
        let chunk = decode_chunk(object).expect("the chunk decodes");
        let args = &chunk.choices[0].delta.tool_calls[0].function.as_ref().expect("a function").arguments;
        assert_eq!(args.as_deref(), Some(r#"{"a": 1}"#));
    }

    #[test]
    fn chunk_usage_only() {
        let data = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":0}}}"#;
        let chunk = decode_chunk(data).expect("the chunk decodes");
        assert!(chunk.choices.is_empty());
        let usage = chunk.usage.expect("usage");
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.total_tokens), (9, 12, 21));
        let chunk = decode_chunk(r#"{"choices":null,"usage":null}"#).expect("the chunk decodes");
        assert!(chunk.choices.is_empty() && chunk.usage.is_none());
    }

    #[test]
    fn chunk_groq_extra_fields() {
        let data = r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"llama-3.1-8b-instant","system_fingerprint":"fp_x","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}}"#;
        let chunk = decode_chunk(data).expect("the chunk decodes");
        assert!(chunk.usage.is_none());
        let choice = &chunk.choices[0];
        assert!(choice.delta.content.is_none() && choice.delta.tool_calls.is_empty());
        assert!(matches!(choice.finish_reason, Some(Cow::Borrowed("stop"))));
    }

    #[test]
    fn chunk_empty_delta_and_nulls() {
        let chunk = decode_chunk(r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#)
            .expect("the chunk decodes");
        assert_eq!(chunk.choices[0].finish_reason.as_deref(), Some("tool_calls"));
        let chunk = decode_chunk(
            r#"{"choices":[{"index":null,"delta":{"content":"x","refusal":null,"tool_calls":null},"finish_reason":null}],"model":null,"id":null}"#,
        )
        .expect("the chunk decodes");
        let delta = &chunk.choices[0].delta;
        assert!(delta.tool_calls.is_empty() && delta.refusal.is_none());
        assert_eq!(delta.content.as_deref(), Some("x"));
        assert!(chunk.model.is_none() && chunk.id.is_none());
        let chunk = decode_chunk(r#"{"choices":[{"delta":null}]}"#).expect("the chunk decodes");
        assert!(chunk.choices[0].delta.content.is_none());
        let chunk = decode_chunk(r#"{"choices":[{"delta":{"content":[{"type":"text","text":"a"},{"text":"b"}]}}]}"#)
            .expect("the chunk decodes");
        assert_eq!(chunk.choices[0].delta.content.as_deref(), Some("ab"));
        let chunk = decode_chunk(r#"{"choices":[{"delta":{"refusal":"no"}}]}"#).expect("the chunk decodes");
        assert!(matches!(chunk.choices[0].delta.refusal, Some(Cow::Borrowed("no"))));
    }

    #[test]
    fn chunk_error_object() {
        let chunk = decode_chunk(
            r#"{"error":{"message":"Rate limit reached","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}"#,
        )
        .expect("the chunk decodes");
        assert!(chunk.choices.is_empty());
        let error = chunk.error.expect("an error");
        assert!(matches!(error.message, Some(Cow::Borrowed("Rate limit reached"))));
        assert_eq!(error.kind.as_deref(), Some("rate_limit_error"));
        assert_eq!(error.code, Some(serde_json::json!("rate_limit_exceeded")));
        let chunk = decode_chunk(r#"{"error":{"message":"overloaded","code":529}}"#).expect("the chunk decodes");
        let error = chunk.error.expect("an error");
        assert_eq!(error.code, Some(serde_json::json!(529)));
        assert!(error.kind.is_none());
        assert!(decode_chunk(r#"{"error":null}"#).expect("the chunk decodes").error.is_none());
    }

    #[test]
    fn chunk_rejects_non_json() {
        assert!(decode_chunk("[DONE]").is_err());
    }
}
