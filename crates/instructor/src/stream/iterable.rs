//! `create_iterable`: the items of a list, each handed out as soon as it closes.

use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Assembler;
use crate::client::Call;
use crate::error::{Error, ReplyError};
use crate::json::{self, JsonStream};
use crate::modes::Mode;
use crate::schema::ResponseSchema;
use crate::validate::Check;

/// Turns streamed text into items: the elements of the reply's array (the root, or the array
/// member of the root object), or in parallel-tools mode each call once its arguments close.
#[derive(Debug)]
struct Items {
    mode: Mode,
    parsers: Vec<JsonStream>,
    names: Vec<String>,
    tagged: bool,
    /// Items out, in order.
    ready: Vec<Value>,
    broken: Option<json::ParseError>,
}

impl Items {
    fn new(mode: Mode, tagged: bool) -> Items {
        Items { mode, parsers: Vec::new(), names: Vec::new(), tagged, ready: Vec::new(), broken: None }
    }

    fn parser(&mut self, position: usize) -> &mut JsonStream {
        while self.parsers.len() <= position {
            let parser =
                if self.mode == Mode::ParallelTools { JsonStream::new() } else { JsonStream::new().iterating() };
            self.parsers.push(parser);
            self.names.push(String::new());
        }
        &mut self.parsers[position]
    }

    fn feed(&mut self, position: usize, text: &str) {
        if self.broken.is_some() {
            return;
        }
        let parallel = self.mode == Mode::ParallelTools;
        let parser = self.parser(position);
        if let Err(e) = parser.push(text) {
            self.broken = Some(e);
            return;
        }
        if !parallel {
            let items: Vec<Value> = parser.take_items().collect();
            self.ready.extend(items);
        } else if parser.is_complete() {
            self.close_call(position);
        }
    }

    /// Hands out call `i` (once: a taken call leaves an empty parser, which has nothing to finish).
    fn close_call(&mut self, i: usize) {
        let parser = std::mem::take(&mut self.parsers[i]);
        if parser.value().is_none() {
            return;
        }
        match parser.finish() {
            Ok(parsed) => {
                let value = parsed.value;
                let name = std::mem::take(&mut self.names[i]);
                self.ready.push(if self.tagged { Value::Object(Map::from_iter([(name, value)])) } else { value });
            }
            Err(e) => self.broken = Some(e),
        }
    }

    fn finish(&mut self) {
        if self.mode == Mode::ParallelTools {
            for i in 0..self.parsers.len() {
                self.close_call(i);
            }
        } else if let Some(parser) = self.parsers.pop() {
            match parser.finish() {
                Ok(_) => {}
                // Nothing at all: not even the start of an array.
                Err(e) if self.ready.is_empty() => self.broken = Some(e),
                Err(_) => {}
            }
        }
    }
}

/// Decodes one item, aligned to the item schema first unless strict (repairs are logged: a
/// stream of items has nowhere to carry them).
fn decode_item<T: DeserializeOwned>(
    mut item: Value,
    index: usize,
    item_schema: Option<&Value>,
    root: &Value,
    strict: bool,
) -> Result<T, ReplyError> {
    if let (Some(schema), false) = (item_schema, strict) {
        let repairs = json::align_within(&mut item, schema, root);
        if !repairs.is_empty() {
            tracing::debug!(index, repairs = ?repairs, "item repaired");
        }
    }
    serde_path_to_error::deserialize(item).map_err(|e| {
        let inner = e.path().to_string();
        let inner = if inner == "." { "" } else { inner.as_str() };
        let sep = if inner.is_empty() || inner.starts_with('[') { "" } else { "." };
        ReplyError::parse(Some(format!("[{index}]{sep}{inner}")), e.into_inner().to_string())
    })
}

/// A check's error, located at the item.
fn at_item(error: ReplyError, index: usize) -> ReplyError {
    let path = match error.path() {
        Some(p) if p.starts_with('[') => format!("[{index}]{p}"),
        Some(p) => format!("[{index}].{p}"),
        None => format!("[{index}]"),
    };
    ReplyError::new(error.kind(), Some(path), error.message().to_owned())
}

/// The stream behind [`Chat::create_iterable`](crate::Chat::create_iterable).
pub(crate) fn iterable_stream<T>(
    mut call: Call,
    schema: Arc<ResponseSchema>,
    check: Check<T>,
) -> impl Stream<Item = Result<T, Error>> + Send
where
    T: DeserializeOwned + Send + 'static,
{
    let tagged = schema.parallel().is_some_and(|p| p.tagged);
    async_stream::stream! {
        let root = schema.json().clone();
        let item_schema = root.pointer("/properties/value/items").cloned();
        let mut index = 0usize;
        loop {
            let _span = call.start_attempt();
            let provider = Arc::clone(call.provider());
            let mut items = Items::new(call.mode, tagged);
            let mut assembler = Assembler::default();
            {
                let mut deltas = match provider.stream(&call.outgoing).await {
                    Ok(d) => d,
                    Err(e) => {
                        yield Err(call.provider_failed(e));
                        return;
                    }
                };
                while let Some(delta) = deltas.next().await {
                    let delta = match delta {
                        Ok(d) => d,
                        Err(e) => {
                            yield Err(call.provider_failed(e));
                            return;
                        }
                    };
                    assembler.push(&delta);
                    if call.mode.uses_tools() {
                        for piece in &delta.tool_calls {
                            let Some(position) = assembler.call_position(piece.index) else { continue };
                            if call.mode != Mode::ParallelTools && position > 0 {
                                continue;
                            }
                            if call.mode == Mode::ParallelTools {
                                items.parser(position);
                                if let Some(name) = &piece.name {
                                    items.names[position].push_str(name);
                                }
                            }
                            if let Some(args) = &piece.arguments {
                                items.feed(position, args);
                            }
                        }
                    } else if let Some(text) = &delta.content {
                        items.feed(0, text);
                    }
                    for item in items.ready.drain(..) {
                        let decoded = decode_item::<T>(item, index, item_schema.as_ref(), &root, call.strict())
                            .and_then(|value| check(&value, call.context()).map(|()| value).map_err(|e| at_item(e, index)));
                        index += 1;
                        yield decoded.map_err(Error::Reply);
                    }
                }
            }
            items.finish();
            for item in items.ready.drain(..) {
                let decoded = decode_item::<T>(item, index, item_schema.as_ref(), &root, call.strict())
                    .and_then(|value| check(&value, call.context()).map(|()| value).map_err(|e| at_item(e, index)));
                index += 1;
                yield decoded.map_err(Error::Reply);
            }
            let completion = assembler.finish();
            if completion.finish_reason() == Some(&crate::wire::FinishReason::Length) {
                // Items handed out were whole; the one being written when the limit hit is lost.
                call.spend(completion.usage.unwrap_or_default());
                let cause = ReplyError::parse(None, format!("{index} items were complete"));
                yield Err(Error::Reply(ReplyError::truncated(&cause)));
                return;
            }
            match items.broken.take() {
                // Items already handed out cannot be taken back: no re-ask after the first one.
                Some(e) if index == 0 => {
                    call.spend(completion.usage.unwrap_or_default());
                    let error = ReplyError::parse(None, e.to_string());
                    match call.reject(completion, error) {
                        Some(error) => {
                            yield Err(error);
                            return;
                        }
                        None => continue,
                    }
                }
                Some(e) => {
                    yield Err(Error::Reply(ReplyError::parse(None, e.to_string())));
                    return;
                }
                None => return,
            }
        }
    }
}
