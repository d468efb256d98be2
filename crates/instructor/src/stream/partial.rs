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
}

impl Tracker {
    fn new(mode: Mode, tagged: bool) -> Tracker {
        Tracker { mode, parsers: Vec::new(), names: Vec::new(), tagged }
    }

    fn parser(&mut self, position: usize) -> &mut Option<JsonStream> {
        while self.parsers.len() <= position {
            self.parsers.push(Some(JsonStream::new()));
            self.names.push(String::new());
        }
        &mut self.parsers[position]
    }

    fn push(&mut self, delta: &CompletionDelta, assembler: &Assembler) -> bool {
        let mut changed = false;
        if self.mode.uses_tools() {
            for call in &delta.tool_calls {
                let Some(position) = assembler.call_position(call.index) else { continue };
                if self.mode != Mode::ParallelTools && position > 0 {
                    continue;
                }
                if let Some(name) = &call.name {
                    self.parser(position);
                    self.names[position].push_str(name);
                }
                if let Some(args) = &call.arguments {
                    changed |= feed(self.parser(position), args);
                }
            }
        } else if let Some(text) = &delta.content {
            changed |= feed(self.parser(0), text);
        }
        changed
    }

    fn snapshot(&self) -> Option<Arc<Value>> {
        if self.mode != Mode::ParallelTools {
            return self.parsers.first()?.as_ref()?.snapshot();
        }
        // Parallel tools: the array of calls so far (rebuilt per change; a reply has few calls).
        let items = self.parsers.iter().zip(&self.names).filter_map(|(parser, name)| {
            let value = parser.as_ref()?.value()?.clone();
            Some(if self.tagged { Value::Object(Map::from_iter([(name.clone(), value)])) } else { value })
        });
        Some(Arc::new(Value::Array(items.collect())))
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
            match call.evaluate(assembler.finish(), &schema, &*decoder, &check) {
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
