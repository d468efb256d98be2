//! The incremental parser. State is kept between chunks, so a document cut into any number of
//! pieces is read once in total: linear time, and memory bounded by the document.
//!
//! The value is built in place inside an `Arc`: a snapshot handed to a caller is an `Arc` clone,
//! and the next change mutates in place when the caller has dropped it (copy-on-write), so
//! streaming partial values costs no copy per chunk.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Number, Value};

use super::repair::{Repair, RepairKind, Repairs};

/// A document that could not be read, even leniently.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {message}")]
pub struct ParseError {
    /// Byte offset in the whole input.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

/// A finished document and what had to be fixed to read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The value.
    pub value: Value,
    /// Every repair made, by kind (empty for strict JSON).
    pub repairs: Vec<Repair>,
}

/// Reads a whole text leniently: [`JsonStream`] fed once.
///
/// ```
/// let parsed = instructor::json::parse_lenient("{'ok': True, /* note */ 'n': [1, 2,],}").unwrap();
/// assert_eq!(parsed.value, serde_json::json!({"ok": true, "n": [1, 2]}));
/// ```
pub fn parse_lenient(text: &str) -> Result<Parsed, ParseError> {
    let mut stream = JsonStream::new();
    stream.push(text)?;
    stream.finish()
}

/// Containers nested deeper than this are refused (as `serde_json` refuses past 128): a reply
/// is not that deep, and each level costs a step on every update.
const MAX_DEPTH: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Skipping prose or a fence before the first `{` or `[`.
    BeforeRoot,
    /// Expecting a value (after `:`, `[` or an array's `,`).
    Value,
    /// Inside an object, expecting a key or `}`.
    Key,
    /// After a key, expecting `:`.
    Colon,
    /// After a value, expecting `,` or the container's close.
    AfterValue,
    /// Inside a string.
    Str { quote: u8, key: bool },
    /// Inside a number, a literal or an unquoted key.
    Bare { key: bool },
    /// The root value closed; the rest is ignored.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trivia {
    None,
    /// A `/` that may start a comment.
    Slash,
    Line,
    Block,
    /// A `*` inside a block comment.
    BlockStar,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// After a backslash.
    Start,
    /// Inside `\uXXXX`, with the digits read so far.
    Unicode {
        digits: u8,
        code: u32,
    },
}

#[derive(Debug)]
struct Frame {
    array: bool,
    /// For objects: the key of the member being read.
    key: Option<String>,
    /// A `,` was read and no value has followed yet.
    comma: bool,
    /// Elements of this array are handed out as items once complete.
    items: bool,
}

/// An incremental, lenient JSON parser.
///
/// Feed chunks with [`push`](Self::push); read the value so far with [`value`](Self::value) or
/// [`snapshot`](Self::snapshot); finish with [`finish`](Self::finish). It accepts strict JSON and
/// repairs, recording each: prose and fences around the document, comments, trailing commas,
/// missing commas, single-quoted strings, unquoted keys, Python `True`/`False`/`None`, raw control
/// characters in strings, and a truncated end (unfinished strings and numbers are dropped and
/// open containers closed).
///
/// In a partial value, a string being read shows what has arrived; a number or literal appears
/// once complete; a key appears when its value starts.
///
/// ```
/// let mut stream = instructor::json::JsonStream::new();
/// stream.push(r#"{"name": "Ja"#).unwrap();
/// assert_eq!(stream.value(), Some(&serde_json::json!({"name": "Ja"})));
/// stream.push(r#"son", "age": 2"#).unwrap();
/// assert_eq!(stream.value(), Some(&serde_json::json!({"name": "Jason"})));
/// stream.push("0}").unwrap();
/// assert!(stream.is_complete());
/// ```
#[derive(Debug)]
pub struct JsonStream {
    state: State,
    trivia: Trivia,
    escape: Escape,
    /// A pending high surrogate from a `\uD8xx` escape.
    high_surrogate: Option<u32>,
    stack: Vec<Frame>,
    root: Option<Arc<Value>>,
    /// Characters of the string being read not yet copied into the value.
    text: String,
    /// The key, number or literal being read.
    token: String,
    /// Where the bare token began.
    token_start: usize,
    /// Bytes consumed so far (for error offsets).
    offset: usize,
    /// Text (prose, a fence) was skipped before the document.
    skipped_text: bool,
    iterate: bool,
    /// The item array has been found (only the first one is iterated).
    items_chosen: bool,
    items: Vec<Value>,
    changed: bool,
    repairs: Repairs,
    /// A CR inside a string whose LF may come in the next chunk.
    trailing_text: bool,
}

impl Default for JsonStream {
    fn default() -> Self {
        JsonStream::new()
    }
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b',' | b'}' | b']' | b':' | b'/' | b'#' | b'"' | b'\'' | b'{' | b'[') || b.is_ascii_whitespace()
}

impl JsonStream {
    /// A parser for one document.
    pub fn new() -> Self {
        JsonStream {
            state: State::BeforeRoot,
            trivia: Trivia::None,
            escape: Escape::None,
            high_surrogate: None,
            stack: Vec::new(),
            root: None,
            text: String::new(),
            token: String::new(),
            token_start: 0,
            offset: 0,
            skipped_text: false,
            iterate: false,
            items_chosen: false,
            items: Vec::new(),
            changed: false,
            repairs: Repairs::default(),
            trailing_text: false,
        }
    }

    /// Hands out the elements of the document's item array as each one closes (see
    /// [`take_items`](Self::take_items)) instead of keeping them in the value. The item array is
    /// the root when it is an array, or the first array-valued member of a root object.
    ///
    /// ```
    /// let mut stream = instructor::json::JsonStream::new().iterating();
    /// stream.push(r#"{"users": [{"id": 1}, {"id""#).unwrap();
    /// assert_eq!(stream.take_items().collect::<Vec<_>>(), [serde_json::json!({"id": 1})]);
    /// ```
    pub fn iterating(mut self) -> Self {
        self.iterate = true;
        self
    }

    /// The value read so far (`None` before the document starts).
    pub fn value(&self) -> Option<&Value> {
        self.root.as_deref()
    }

    /// A shared handle on the value so far; cheap. Drop it before the next [`push`](Self::push)
    /// to keep streaming copy-free.
    pub fn snapshot(&self) -> Option<Arc<Value>> {
        self.root.clone()
    }

    /// Whether the root value has closed.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Items completed since the last call (with [`iterating`](Self::iterating)).
    pub fn take_items(&mut self) -> std::vec::Drain<'_, Value> {
        self.items.drain(..)
    }

    /// Repairs made so far.
    pub fn repairs(&self) -> Vec<Repair> {
        self.repairs.to_vec()
    }

    /// Reads the next chunk. Returns whether the value changed.
    pub fn push(&mut self, chunk: &str) -> Result<bool, ParseError> {
        self.changed = false;
        let bytes = chunk.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if self.state == State::Done {
                if !self.trailing_text && chunk[i..].bytes().any(|c| !c.is_ascii_whitespace()) {
                    self.trailing_text = true;
                    self.repairs.add(RepairKind::TextAroundJson, self.offset + i);
                }
                break;
            }
            if self.state == State::BeforeRoot {
                // Skip prose and fences up to the first `{` or `[` in one step.
                let end = bytes[i..].iter().position(|&c| c == b'{' || c == b'[').map_or(bytes.len(), |p| i + p);
                self.skipped_text |= chunk[i..end].bytes().any(|c| !c.is_ascii_whitespace());
                i = end;
                if i < bytes.len() {
                    if self.skipped_text {
                        self.repairs.add(RepairKind::TextAroundJson, self.offset + i);
                    }
                    self.open(bytes[i] == b'[', i)?;
                    i += 1;
                }
                continue;
            }
            if let State::Str { quote, key } = self.state {
                i = self.read_string(chunk, i, quote, key)?;
                continue;
            }
            let b = bytes[i];
            if self.trivia != Trivia::None {
                self.read_trivia(b, i)?;
                i += 1;
                continue;
            }
            if let State::Bare { key } = self.state {
                if !is_delimiter(b) {
                    // Take the whole run of token bytes at once.
                    let end = bytes[i..].iter().position(|&c| is_delimiter(c)).map_or(bytes.len(), |p| i + p);
                    self.token.push_str(&chunk[i..end]);
                    if self.token.len() > 1024 {
                        return Err(self.error(i, "a bare token longer than 1024 bytes"));
                    }
                    i = end;
                    continue;
                }
                self.end_bare(key, i)?;
            }
            if self.read_structural(chunk, i)? {
                i += 1;
            }
        }
        self.offset += bytes.len();
        self.flush_text();
        Ok(self.changed)
    }

    /// Ends the document: a truncated one is closed (unfinished strings and numbers dropped).
    pub fn finish(mut self) -> Result<Parsed, ParseError> {
        let end = self.offset;
        match self.state {
            State::BeforeRoot => return Err(self.error(0, "no JSON object or array found")),
            State::Done => {}
            state => {
                match state {
                    State::Str { key: false, .. } => {
                        self.text.clear();
                        self.remove_current();
                    }
                    // A cut-off number may have lost digits; a literal is whole or nothing.
                    // An item is handed out only when its container closes it, so a cut-off one is not.
                    State::Bare { key: false } if !self.stack.last().is_some_and(|f| f.items) => {
                        let token = std::mem::take(&mut self.token);
                        if let Some((v, python)) = literal(&token).filter(|(v, _)| !v.is_number()) {
                            if python {
                                self.repairs.add(RepairKind::PythonLiteral, end);
                            }
                            self.insert(v);
                        }
                    }
                    _ => {}
                }
                self.repairs.add(RepairKind::Truncated, end);
                while self.stack.pop().is_some() {
                    // An item cut off mid-way is not handed out.
                    if self.stack.last().is_some_and(|f| f.items) {
                        self.remove_current();
                    }
                }
            }
        }
        let value = match self.root.take() {
            Some(root) => Arc::try_unwrap(root).unwrap_or_else(|shared| (*shared).clone()),
            None => return Err(self.error(0, "no JSON object or array found")),
        };
        Ok(Parsed { value, repairs: self.repairs.to_vec() })
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ParseError {
        ParseError { offset: self.offset + at, message: message.into() }
    }

    fn read_trivia(&mut self, b: u8, i: usize) -> Result<(), ParseError> {
        self.trivia = match (self.trivia, b) {
            (Trivia::Slash, b'/') => Trivia::Line,
            (Trivia::Slash, b'*') => Trivia::Block,
            (Trivia::Slash, _) => return Err(self.error(i, "unexpected `/`")),
            (Trivia::Line, b'\n' | b'\r') => Trivia::None,
            (Trivia::Line, _) => Trivia::Line,
            (Trivia::Block | Trivia::BlockStar, b'*') => Trivia::BlockStar,
            (Trivia::BlockStar, b'/') => Trivia::None,
            (Trivia::Block | Trivia::BlockStar, _) => Trivia::Block,
            (Trivia::None, _) => Trivia::None,
        };
        Ok(())
    }

    /// Reads one byte between tokens; `false` when a bare token starts there and the byte is
    /// left for the token reader.
    fn read_structural(&mut self, chunk: &str, i: usize) -> Result<bool, ParseError> {
        let b = chunk.as_bytes()[i];
        if b.is_ascii_whitespace() {
            return Ok(true);
        }
        match b {
            b'/' => {
                self.repairs.add(RepairKind::Comment, self.offset + i);
                self.trivia = Trivia::Slash;
                return Ok(true);
            }
            b'#' => {
                self.repairs.add(RepairKind::Comment, self.offset + i);
                self.trivia = Trivia::Line;
                return Ok(true);
            }
            _ => {}
        }
        match self.state {
            State::Value => match b {
                b'{' | b'[' => self.open(b == b'[', i)?,
                b'"' | b'\'' => self.start_string(b, false, i),
                b']' if self.top_is(true) => self.close(true, i)?,
                b',' => return Err(self.error(i, "a `,` where a value was expected")),
                b'}' | b']' | b':' => return Err(self.error(i, format!("unexpected `{}`", b as char))),
                _ => {
                    self.start_bare(false, i);
                    return Ok(false);
                }
            },
            State::Key => match b {
                b'"' | b'\'' => self.start_string(b, true, i),
                b'}' => self.close(false, i)?,
                b',' | b':' | b']' | b'{' | b'[' => {
                    return Err(self.error(i, format!("unexpected `{}` where a key was expected", b as char)));
                }
                _ => {
                    self.repairs.add(RepairKind::UnquotedKey, self.offset + i);
                    self.start_bare(true, i);
                    return Ok(false);
                }
            },
            State::Colon => match b {
                b':' => self.state = State::Value,
                _ => return Err(self.error(i, format!("expected `:` after a key, found `{}`", b as char))),
            },
            State::AfterValue => match b {
                b',' => {
                    let array = self.top_is(true);
                    if let Some(top) = self.stack.last_mut() {
                        top.comma = true;
                    }
                    self.state = if array { State::Value } else { State::Key };
                }
                b'}' | b']' => self.close(b == b']', i)?,
                // A missing comma: the next member or element starts right away.
                b'"' | b'\'' | b'{' | b'[' | b'-' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                    self.repairs.add(RepairKind::MissingComma, self.offset + i);
                    let array = self.top_is(true);
                    self.state = if array { State::Value } else { State::Key };
                    return self.read_structural(chunk, i);
                }
                _ => return Err(self.error(i, format!("expected `,` or a closing bracket, found `{}`", b as char))),
            },
            State::BeforeRoot | State::Str { .. } | State::Bare { .. } | State::Done => {}
        }
        Ok(true)
    }

    fn top_is(&self, array: bool) -> bool {
        self.stack.last().is_some_and(|f| f.array == array)
    }

    fn open(&mut self, array: bool, i: usize) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(i, format!("nesting deeper than {MAX_DEPTH}")));
        }
        let container = if array { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
        let items = self.iterate
            && array
            && !self.items_chosen
            && (self.stack.is_empty() || (self.stack.len() == 1 && !self.stack[0].array));
        self.items_chosen |= items;
        self.insert(container);
        self.stack.push(Frame { array, key: None, comma: false, items });
        self.state = if array { State::Value } else { State::Key };
        Ok(())
    }

    fn close(&mut self, array: bool, i: usize) -> Result<(), ParseError> {
        let Some(top) = self.stack.last() else {
            return Err(self.error(i, "a closing bracket with nothing open"));
        };
        if top.array != array {
            let expected = if top.array { ']' } else { '}' };
            return Err(self.error(i, format!("expected `{expected}`, found `{}`", if array { ']' } else { '}' })));
        }
        if top.comma {
            self.repairs.add(RepairKind::TrailingComma, self.offset + i);
        }
        self.stack.pop();
        self.value_done();
        Ok(())
    }

    fn start_string(&mut self, quote: u8, key: bool, i: usize) {
        if quote == b'\'' {
            self.repairs.add(RepairKind::SingleQuotes, self.offset + i);
        }
        self.state = State::Str { quote, key };
        self.escape = Escape::None;
        if key {
            self.token.clear();
        } else {
            self.insert(Value::String(String::new()));
        }
    }

    fn start_bare(&mut self, key: bool, at: usize) {
        self.token.clear();
        self.token_start = self.offset + at;
        self.state = State::Bare { key };
    }

    /// A bare token ended at a delimiter: a key, a number or a literal.
    fn end_bare(&mut self, key: bool, i: usize) -> Result<(), ParseError> {
        let token = std::mem::take(&mut self.token);
        if key {
            self.set_key(token);
            return Ok(());
        }
        let Some((value, python)) = literal(&token) else {
            let start = self.token_start;
            let shown: String = token.chars().take(40).collect();
            return Err(ParseError { offset: start, message: format!("unexpected `{shown}`") });
        };
        if python {
            self.repairs.add(RepairKind::PythonLiteral, self.offset + i);
        }
        self.insert(value);
        self.value_done();
        Ok(())
    }

    fn set_key(&mut self, key: String) {
        if let Some(top) = self.stack.last_mut() {
            top.key = Some(key);
            top.comma = false;
        }
        self.state = State::Colon;
    }

    /// Reads string bytes from `i`; returns where reading stopped.
    fn read_string(&mut self, chunk: &str, mut i: usize, quote: u8, key: bool) -> Result<usize, ParseError> {
        let bytes = chunk.as_bytes();
        while i < bytes.len() {
            if self.escape == Escape::Start && bytes[i] >= 0x80 {
                // `\` before a non-ASCII character: keep the whole character.
                self.escape = Escape::None;
                let c = chunk[i..].chars().next().unwrap_or('\u{FFFD}');
                self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                if self.high_surrogate.take().is_some() {
                    self.push_text("\u{FFFD}", key);
                }
                self.push_char(c, key);
                i += c.len_utf8();
                continue;
            }
            if self.escape != Escape::None {
                self.read_escape(bytes[i], i)?;
                i += 1;
                continue;
            }
            // Copy the plain run up to the next quote, backslash or control character at once.
            let run =
                bytes[i..].iter().position(|&c| c == quote || c == b'\\' || c < 0x20).map_or(bytes.len(), |p| i + p);
            if run > i {
                if self.high_surrogate.take().is_some() {
                    self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                    self.push_text("\u{FFFD}", key);
                }
                self.push_text(&chunk[i..run], key);
                i = run;
                continue;
            }
            let b = bytes[i];
            i += 1;
            if b == quote {
                self.end_string(key);
                return Ok(i);
            }
            if b == b'\\' {
                self.escape = Escape::Start;
            } else {
                if self.high_surrogate.take().is_some() {
                    self.repairs.add(RepairKind::InvalidEscape, self.offset + i - 1);
                    self.push_text("\u{FFFD}", key);
                }
                // A raw newline or tab inside a string: keep it as the character it is.
                self.repairs.add(RepairKind::ControlCharInString, self.offset + i - 1);
                self.push_text(&chunk[i - 1..i], key);
            }
        }
        Ok(i)
    }

    fn read_escape(&mut self, b: u8, i: usize) -> Result<(), ParseError> {
        let key = matches!(self.state, State::Str { key: true, .. });
        match self.escape {
            Escape::Start => {
                self.escape = Escape::None;
                if b != b'u' && self.high_surrogate.take().is_some() {
                    self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                    self.push_text("\u{FFFD}", key);
                }
                let c = match b {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'\'' => '\'',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'u' => {
                        self.escape = Escape::Unicode { digits: 0, code: 0 };
                        return Ok(());
                    }
                    _ => {
                        // `\x` for an unknown x: keep the character.
                        self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                        b as char
                    }
                };
                if b == b'\'' {
                    self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                }
                self.push_char(c, key);
            }
            Escape::Unicode { digits, code } => {
                let Some(d) = (b as char).to_digit(16) else {
                    return Err(self.error(i, "a `\\u` escape needs four hex digits"));
                };
                let code = code * 16 + d;
                if digits < 3 {
                    self.escape = Escape::Unicode { digits: digits + 1, code };
                    return Ok(());
                }
                self.escape = Escape::None;
                match (self.high_surrogate.take(), code) {
                    (None, 0xD800..=0xDBFF) => self.high_surrogate = Some(code),
                    (Some(high), 0xDC00..=0xDFFF) => {
                        let c = 0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00);
                        self.push_char(char::from_u32(c).unwrap_or('\u{FFFD}'), key);
                    }
                    (high, code) => {
                        if high.is_some() {
                            self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                            self.push_char('\u{FFFD}', key);
                        }
                        match char::from_u32(code) {
                            Some(c) => self.push_char(c, key),
                            None => {
                                self.repairs.add(RepairKind::InvalidEscape, self.offset + i);
                                self.push_char('\u{FFFD}', key);
                            }
                        }
                    }
                }
            }
            Escape::None => {}
        }
        Ok(())
    }

    fn push_char(&mut self, c: char, key: bool) {
        let mut buf = [0u8; 4];
        self.push_text(c.encode_utf8(&mut buf), key);
    }

    fn push_text(&mut self, s: &str, key: bool) {
        if key { self.token.push_str(s) } else { self.text.push_str(s) }
    }

    fn end_string(&mut self, key: bool) {
        if self.high_surrogate.take().is_some() {
            self.repairs.add(RepairKind::InvalidEscape, self.offset);
            self.push_text("\u{FFFD}", key);
        }
        if key {
            let key = std::mem::take(&mut self.token);
            self.set_key(key);
        } else {
            self.flush_text();
            self.value_done();
        }
    }

    /// Copies pending string characters into the value (once per chunk, not per character).
    fn flush_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = std::mem::take(&mut self.text);
        if let Some(Value::String(s)) = self.current_mut() {
            if s.is_empty() {
                *s = text;
            } else {
                s.push_str(&text);
            }
            self.changed = true;
        }
    }

    /// A value finished: hand it out if it is an item, then expect `,` or a close.
    fn value_done(&mut self) {
        self.state = if self.stack.is_empty() { State::Done } else { State::AfterValue };
        if let Some(top) = self.stack.last_mut() {
            top.comma = false;
            if top.items {
                if let Some(item) = self.take_current() {
                    self.items.push(item);
                }
            }
        }
    }

    /// The container the next value goes into.
    fn container_mut(&mut self) -> Option<&mut Value> {
        let root = Arc::make_mut(self.root.as_mut()?);
        let mut node = root;
        let depth = self.stack.len();
        for frame in &self.stack[..depth.saturating_sub(1)] {
            node = if frame.array {
                node.as_array_mut()?.last_mut()?
            } else {
                node.as_object_mut()?.get_mut(frame.key.as_deref()?)?
            };
        }
        Some(node)
    }

    /// The value being read (the last element or the current member of the top container).
    fn current_mut(&mut self) -> Option<&mut Value> {
        let array = self.stack.last()?.array;
        let key = self.stack.last()?.key.clone();
        let container = self.container_mut()?;
        if array { container.as_array_mut()?.last_mut() } else { container.as_object_mut()?.get_mut(key.as_deref()?) }
    }

    fn take_current(&mut self) -> Option<Value> {
        let array = self.stack.last()?.array;
        let container = self.container_mut()?;
        if array { container.as_array_mut()?.pop() } else { None }
    }

    fn remove_current(&mut self) {
        let Some(top) = self.stack.last() else { return };
        let (array, key) = (top.array, top.key.clone());
        if let Some(container) = self.container_mut() {
            match (array, container) {
                (true, Value::Array(a)) => {
                    a.pop();
                }
                (false, Value::Object(o)) => {
                    if let Some(k) = key {
                        o.remove(&k);
                    }
                }
                _ => {}
            }
        }
    }

    fn insert(&mut self, value: Value) {
        self.changed = true;
        if self.stack.is_empty() {
            self.root = Some(Arc::new(value));
            return;
        }
        let array = self.top_is(true);
        let key = if array { None } else { self.stack.last().and_then(|f| f.key.clone()) };
        if let Some(top) = self.stack.last_mut() {
            top.comma = false;
        }
        match self.container_mut() {
            Some(Value::Array(a)) if array => a.push(value),
            Some(Value::Object(o)) => {
                if let Some(k) = key {
                    o.insert(k, value);
                }
            }
            _ => {}
        }
    }
}

/// A number or literal; `true` in the pair when it was a Python literal.
fn literal(token: &str) -> Option<(Value, bool)> {
    match token {
        "true" => return Some((Value::Bool(true), false)),
        "false" => return Some((Value::Bool(false), false)),
        "null" => return Some((Value::Null, false)),
        "True" => return Some((Value::Bool(true), true)),
        "False" => return Some((Value::Bool(false), true)),
        "None" => return Some((Value::Null, true)),
        _ => {}
    }
    let first = *token.as_bytes().first()?;
    if !(first == b'-' || first.is_ascii_digit()) {
        return None;
    }
    if let Ok(n) = token.parse::<i64>() {
        return Some((Value::Number(n.into()), false));
    }
    if let Ok(n) = token.parse::<u64>() {
        return Some((Value::Number(n.into()), false));
    }
    // `parse::<f64>` also takes `inf` and `NaN`, which the first-byte check has ruled out.
    let n: f64 = token.parse().ok()?;
    Number::from_f64(n).map(|n| (Value::Number(n), false))
}

impl fmt::Display for Parsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse_in_pieces(text: &str, size: usize) -> Result<Parsed, ParseError> {
        let mut stream = JsonStream::new();
        let mut rest = text;
        while !rest.is_empty() {
            let mut cut = size.min(rest.len());
            while !rest.is_char_boundary(cut) {
                cut += 1;
            }
            stream.push(&rest[..cut])?;
            rest = &rest[cut..];
        }
        stream.finish()
    }

    fn kinds(parsed: &Parsed) -> Vec<RepairKind> {
        parsed.repairs.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn strict_json_needs_no_repair_at_any_chunk_size() {
        let text = r#" {"a": [1, -2.5e3, true, false, null, {"b": "x\"y\\z\u00e9\ud83d\ude00"}], "c": {}, "d": [], "e": "naïve"} "#;
        let expected: Value = serde_json::from_str(text).unwrap();
        for size in 1..8 {
            let parsed = parse_in_pieces(text, size).unwrap();
            assert_eq!(parsed.value, expected, "chunk size {size}");
            assert!(parsed.repairs.is_empty(), "{:?}", parsed.repairs);
        }
    }

    #[test]
    fn repairs_almost_json() {
        let cases: &[(&str, Value, &[RepairKind])] = &[
            ("Here you go:\n```json\n{\"a\": 1}\n```\nHope it helps", json!({"a": 1}), &[RepairKind::TextAroundJson]),
            ("```json\n{\"a\": 1}\n```", json!({"a": 1}), &[RepairKind::TextAroundJson]),
            ("{\"a\": 1, // one\n \"b\": /* two */ 2}", json!({"a": 1, "b": 2}), &[RepairKind::Comment]),
            ("{\"a\": [1, 2,],}", json!({"a": [1, 2]}), &[RepairKind::TrailingComma]),
            ("{'a': 'it\\'s'}", json!({"a": "it's"}), &[RepairKind::SingleQuotes, RepairKind::InvalidEscape]),
            ("{a: 1, b_2: 2}", json!({"a": 1, "b_2": 2}), &[RepairKind::UnquotedKey]),
            ("{\"a\": True, \"b\": None}", json!({"a": true, "b": null}), &[RepairKind::PythonLiteral]),
            ("{\"a\": \"line\nbreak\"}", json!({"a": "line\nbreak"}), &[RepairKind::ControlCharInString]),
            ("{\"a\": 1 \"b\": 2}", json!({"a": 1, "b": 2}), &[RepairKind::MissingComma]),
            ("[1 2 3]", json!([1, 2, 3]), &[RepairKind::MissingComma]),
            ("{\"a\": \"x\", \"b\": [1, {\"c\": \"unfinish", json!({"a": "x", "b": [1, {}]}), &[RepairKind::Truncated]),
            ("{\"a\": 12", json!({}), &[RepairKind::Truncated]),
            ("{\"a\": true", json!({"a": true}), &[RepairKind::Truncated]),
            ("{\"a\": 1, \"b\"", json!({"a": 1}), &[RepairKind::Truncated]),
        ];
        for (text, expected, repairs) in cases {
            for size in [1, 2, 3, 1000] {
                let parsed = parse_in_pieces(text, size).unwrap_or_else(|e| panic!("{text:?}: {e}"));
                assert_eq!(&parsed.value, expected, "{text:?} in pieces of {size}");
                assert_eq!(kinds(&parsed), *repairs, "{text:?} in pieces of {size}");
            }
        }
    }

    #[test]
    fn rejects_what_cannot_be_repaired() {
        for text in ["no json", "{\"a\": @}", "{\"a\" 1}", "[1, 2}", "{\"a\": Jason}", "{\"a\": \"\\u12g4\"}", "{,}"] {
            assert!(parse_lenient(text).is_err(), "{text:?} should fail");
        }
        let e = parse_lenient("{\"a\": @}").unwrap_err();
        assert_eq!(e.offset, 6, "{e}");
    }

    /// Found by the fuzzer and the property tests: a backslash before a non-ASCII character
    /// stepped into the middle of the character.
    #[test]
    fn a_backslash_before_a_non_ascii_character_keeps_the_character() {
        for size in [1, 2, 3, 100] {
            let parsed = parse_in_pieces("{\"a\": \"caf\\\u{e9}\"}", size).unwrap();
            assert_eq!(parsed.value, json!({"a": "café"}));
            assert_eq!(kinds(&parsed), [RepairKind::InvalidEscape]);
        }
    }

    #[test]
    fn lone_surrogates_are_replaced_and_recorded() {
        for text in [r#"{"a": "\ud83d"}"#, r#"{"a": "x\ud800y"}"#, r#"{"a": "\udc00"}"#] {
            let parsed = parse_lenient(text).unwrap();
            assert!(parsed.value["a"].as_str().unwrap().contains('\u{FFFD}'), "{text}");
            assert_eq!(kinds(&parsed), [RepairKind::InvalidEscape], "{text}");
        }
    }

    #[test]
    fn only_the_first_array_is_iterated() {
        let mut stream = JsonStream::new().iterating();
        stream.push(r#"{"a": [1], "b": [2]}"#).unwrap();
        assert_eq!(stream.take_items().collect::<Vec<_>>(), [json!(1)]);
        assert_eq!(stream.finish().unwrap().value, json!({"a": [], "b": [2]}));
        let mut stream = JsonStream::new().iterating();
        stream.push("[1, true").unwrap();
        assert_eq!(stream.take_items().collect::<Vec<_>>(), [json!(1)]);
        assert_eq!(stream.finish().unwrap().value, json!([]), "a cut-off item is not kept");
    }

    #[test]
    fn trailing_text_after_the_document_is_ignored() {
        let parsed = parse_lenient("{\"a\": 1} and some words {\"b\": 2}").unwrap();
        assert_eq!(parsed.value, json!({"a": 1}));
        assert_eq!(kinds(&parsed), [RepairKind::TextAroundJson]);
    }

    #[test]
    fn partial_values_grow() {
        let mut stream = JsonStream::new();
        let mut seen = Vec::new();
        for piece in ["{\"na", "me\": \"Ja", "son\", \"ag", "e\": 2", "0, \"tags\": [\"a", "\"]}"] {
            if stream.push(piece).unwrap() {
                seen.push(stream.value().cloned().unwrap());
            }
        }
        assert_eq!(
            seen,
            [
                json!({}),
                json!({"name": "Ja"}),
                json!({"name": "Jason"}),
                json!({"name": "Jason", "age": 20, "tags": ["a"]}),
            ]
        );
        assert!(stream.is_complete());
    }

    #[test]
    fn snapshots_are_copy_on_write() {
        let mut stream = JsonStream::new();
        stream.push("{\"a\": \"x").unwrap();
        let held = stream.snapshot().unwrap();
        stream.push("yz").unwrap();
        assert_eq!(*held, json!({"a": "x"}), "a held snapshot does not change");
        assert_eq!(stream.value(), Some(&json!({"a": "xyz"})));
    }

    #[test]
    fn items_are_handed_out_as_they_close() {
        for text in [r#"[{"id": 1}, {"id": 2}, {"id": 3}]"#, r#"{"value": [{"id": 1}, {"id": 2}, {"id": 3}]}"#] {
            let mut stream = JsonStream::new().iterating();
            let mut items = Vec::new();
            for c in text.chars() {
                stream.push(&c.to_string()).unwrap();
                items.extend(stream.take_items());
            }
            assert_eq!(items, [json!({"id": 1}), json!({"id": 2}), json!({"id": 3})], "{text}");
            let rest = stream.finish().unwrap().value;
            assert!(rest == json!([]) || rest == json!({"value": []}), "items are not kept: {rest}");
        }
        // A truncated last item is not handed out.
        let mut stream = JsonStream::new().iterating();
        stream.push(r#"[{"id": 1}, {"id": 2, "na"#).unwrap();
        assert_eq!(stream.take_items().count(), 1);
        assert_eq!(stream.finish().unwrap().value, json!([]));
    }

    #[test]
    fn deep_nesting_and_long_input_do_not_overflow() {
        let deep = "[".repeat(100_000);
        let e = parse_lenient(&deep).unwrap_err();
        assert!(e.message.contains("nesting deeper than"), "{e}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_lenient(&ok).is_ok());
    }
}
