//! `create_partial`: the value as it streams in, then the validated value.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Assembler, CompletionDelta};
use crate::client::{Call, Extraction};
use crate::error::Error;
use crate::json::JsonStream;
use crate::modes::Mode;
use crate::schema::{ResponseSchema, WRAPPER_FIELD};
use crate::validate::{Check, Decode};

/// A value while it streams in: the JSON read so far (strings show what has arrived; numbers
/// and literals appear once complete; keys appear when their value starts).
///
/// It is a cheap shared handle. Read it, or turn it into your own partial type (a struct whose
/// fields are all `Option`s and `#[serde(default)]`) with [`deserialize`](Self::deserialize).
///
/// ```
/// # use instructor::Partial;
/// #[derive(Debug, Default, serde::Deserialize)]
/// #[serde(default)]
/// struct UserSoFar { name: Option<String>, age: Option<u32> }
///
/// fn show(partial: &Partial<()>) {
///     let user: UserSoFar = partial.deserialize().unwrap_or_default();
///     println!("{:?} ({} bytes so far)", user.name, partial.json().to_string().len());
/// }
/// ```
pub struct Partial<T> {
    json: Arc<Value>,
    unwrap: bool,
    attempt: u32,
    _target: PhantomData<fn() -> T>,
}

impl<T> Partial<T> {
    /// The JSON so far (inside the `{"value": ...}` wrapper for non-object targets).
    pub fn json(&self) -> &Value {
        match (&*self.json, self.unwrap) {
            (Value::Object(o), true) => o.get(WRAPPER_FIELD).unwrap_or(&Value::Null),
            (json, _) => json,
        }
    }

    /// Which attempt this belongs to: after a re-ask, a new attempt streams from the start.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The partial value as `P`, typically `T` with every field optional.
    pub fn deserialize<P: DeserializeOwned>(&self) -> Result<P, serde_json::Error> {
        P::deserialize(self.json())
    }
}

impl<T> Clone for Partial<T> {
    fn clone(&self) -> Self {
        Partial { json: Arc::clone(&self.json), unwrap: self.unwrap, attempt: self.attempt, _target: PhantomData }
    }
}

impl<T> fmt::Debug for Partial<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Partial").field("attempt", &self.attempt).field("json", self.json()).finish()
    }
}

/// An item of [`Chat::create_partial`](crate::Chat::create_partial)'s stream.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // `Complete` comes once per stream; boxing it would cost every caller a deref
pub enum PartialEvent<T> {
    /// The value changed.
    Partial(Partial<T>),
    /// The last item: the validated value and how it was obtained.
    Complete(Extraction<T>),
}

/// Feeds the streamed text (or each tool call's arguments) to the parser and says when the
/// value changed. A parse failure here only stops the partials; the final reading decides.
#[derive(Debug)]
struct Tracker {
    mode: Mode,
    /// One parser per tool call in parallel-tools mode, else one.
    parsers: Vec<Option<JsonStream>>,
    /// Parallel tools: each call's name (the item's tag when the enum is tagged).
    names: Vec<String>,
    tagged: bool,
    /// Parallel tools: the array a partial shows, one element per call that has a value so far,
    /// in call order. A change replaces its call's element only, so a reply with thousands of
    /// calls costs per change what the changed call costs, not the whole array.
    calls: Arc<Value>,
    /// Where each call's element is in `calls`.
    elements: Vec<Option<usize>>,
    /// The last call that has an element: a call after it appends.
    last_placed: Option<usize>,
}

impl Tracker {
    fn new(mode: Mode, tagged: bool) -> Tracker {
        Tracker {
            mode,
            parsers: Vec::new(),
            names: Vec::new(),
            tagged,
            calls: Arc::new(Value::Array(Vec::new())),
            elements: Vec::new(),
            last_placed: None,
        }
    }

    fn parser(&mut self, position: usize) -> &mut Option<JsonStream> {
        while self.parsers.len() <= position {
            self.parsers.push(Some(JsonStream::new()));
            self.names.push(String::new());
            self.elements.push(None);
        }
        &mut self.parsers[position]
    }

    fn push(&mut self, delta: &CompletionDelta, assembler: &Assembler) -> bool {
        let mut changed = false;
        if self.mode.uses_tools() {
            let parallel = self.mode == Mode::ParallelTools;
            for call in &delta.tool_calls {
                let Some(position) = assembler.call_position(call.index) else { continue };
                if !parallel && position > 0 {
                    continue;
                }
                let mut call_changed = false;
                if let Some(name) = &call.name {
                    self.parser(position);
                    self.names[position].push_str(name);
                    call_changed = self.tagged && self.elements[position].is_some();
                }
                if let Some(args) = &call.arguments {
                    call_changed |= feed(self.parser(position), args);
                }
                if parallel && call_changed {
                    self.update_call(position);
                }
                changed |= call_changed;
            }
        } else if let Some(text) = &delta.content {
            changed |= feed(self.parser(0), text);
        }
        changed
    }

    /// Puts a parallel call's value so far in its place in `calls`.
    fn update_call(&mut self, position: usize) {
        let Some(value) = self.parsers[position].as_ref().and_then(JsonStream::value) else { return };
        let item = if self.tagged {
            Value::Object(Map::from_iter([(self.names[position].clone(), value.clone())]))
        } else {
            value.clone()
        };
        // In place unless the consumer still holds the previous partial.
        let Value::Array(items) = Arc::make_mut(&mut self.calls) else { return };
        if let Some(element) = self.elements[position] {
            items[element] = item;
        } else if self.last_placed.is_none_or(|last| last < position) {
            self.elements[position] = Some(items.len());
            items.push(item);
            self.last_placed = Some(position);
        } else {
            // A call that started after later ones (rare): insert it before them.
            let element = self.elements[..position].iter().flatten().count();
            for later in self.elements[position + 1..].iter_mut().flatten() {
                *later += 1;
            }
            items.insert(element, item);
            self.elements[position] = Some(element);
        }
    }

    fn snapshot(&self) -> Option<Arc<Value>> {
        if self.mode == Mode::ParallelTools {
            Some(Arc::clone(&self.calls))
        } else {
            self.parsers.first()?.as_ref()?.snapshot()
        }
    }
}

fn feed(parser: &mut Option<JsonStream>, text: &str) -> bool {
    let Some(p) = parser.as_mut() else { return false };
    match p.push(text) {
        Ok(changed) => changed,
        Err(e) => {
            tracing::debug!(error = %e, "partial parsing stopped");
            *parser = None;
            false
        }
    }
}

/// The stream behind [`Chat::create_partial`](crate::Chat::create_partial).
pub(crate) fn partial_stream<T>(
    mut call: Call,
    schema: Arc<ResponseSchema>,
    decoder: Box<dyn Decode<T> + Send>,
    check: Check<T>,
) -> impl Stream<Item = Result<PartialEvent<T>, Error>> + Send
where
    T: Send + 'static,
{
    let unwrap = schema.is_wrapped() && call.mode != Mode::ParallelTools;
    let tagged = schema.parallel().is_some_and(|p| p.tagged);
    async_stream::try_stream! {
        loop {
            let span = call.start_attempt();
            tracing::debug!(parent: &span, "streaming");
            let attempt = call.attempt;
            let provider = Arc::clone(call.provider());
            let mut tracker = Tracker::new(call.mode, tagged);
            let mut assembler = Assembler::default();
            {
                let deltas = provider.stream(&call.outgoing).await;
                let mut deltas = match deltas {
                    Ok(d) => d,
                    Err(e) => Err(call.provider_failed(e))?,
                };
                while let Some(delta) = deltas.next().await {
                    let delta = match delta {
                        Ok(d) => d,
                        Err(e) => Err(call.provider_failed(e))?,
                    };
                    assembler.push(&delta);
                    if tracker.push(&delta, &assembler) {
                        // A wrapped target shows nothing until its wrapper's member starts.
                        let snapshot = tracker.snapshot().filter(|json| !unwrap || json.get(WRAPPER_FIELD).is_some());
                        if let Some(json) = snapshot {
                            yield PartialEvent::Partial(Partial { json, unwrap, attempt, _target: PhantomData });
                        }
                    }
                }
            }
            match call.evaluate(assembler.finish(), &schema, &*decoder, &*check) {
                Ok(extraction) => {
                    yield PartialEvent::Complete(extraction);
                    break;
                }
                Err(Some(error)) => Err(error)?,
                Err(None) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::ToolCallDelta;
    use serde_json::json;

    fn piece(index: u32, name: Option<&str>, arguments: &str) -> CompletionDelta {
        CompletionDelta {
            tool_calls: vec![ToolCallDelta {
                index,
                id: name.map(|_| format!("call_{index}")),
                name: name.map(str::to_owned),
                arguments: Some(arguments.to_owned()),
            }],
            ..CompletionDelta::default()
        }
    }

    /// Pushes the pieces and returns each snapshot after a change.
    fn run(tagged: bool, pieces: &[CompletionDelta]) -> Vec<Value> {
        let mut tracker = Tracker::new(Mode::ParallelTools, tagged);
        let mut assembler = Assembler::default();
        let mut seen = Vec::new();
        for delta in pieces {
            assembler.push(delta);
            if tracker.push(delta, &assembler) {
                seen.push((*tracker.snapshot().expect("a snapshot")).clone());
            }
        }
        seen
    }

    #[test]
    fn parallel_calls_keep_call_order_however_they_interleave() {
        // Call 1 gets a value before call 0 does: call 0's element goes in front of it.
        let seen = run(
            false,
            &[
                piece(0, Some("A"), ""),
                piece(1, Some("A"), "{\"n\": 1,"),
                piece(0, None, "{\"n\": 0,"),
                piece(2, Some("A"), "{\"n\": 2}"),
                piece(1, None, " \"m\": 1}"),
                piece(0, None, " \"m\": 0}"),
            ],
        );
        assert_eq!(seen.first(), Some(&json!([{"n": 1}])));
        assert_eq!(seen.get(1), Some(&json!([{"n": 0}, {"n": 1}])));
        assert_eq!(seen.last(), Some(&json!([{"n": 0, "m": 0}, {"n": 1, "m": 1}, {"n": 2}])));
    }

    #[test]
    fn tagged_parallel_calls_show_their_names() {
        let seen = run(true, &[piece(0, Some("Add"), "{\"a\": 1}"), piece(1, Some("Sub"), "{\"b\": 2}")]);
        assert_eq!(seen.last(), Some(&json!([{"Add": {"a": 1}}, {"Sub": {"b": 2}}])));
    }
}
