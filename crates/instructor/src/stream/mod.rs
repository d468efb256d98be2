//! Streamed completions: the deltas a provider yields, the SSE decoding that produces them from
//! an OpenAI-compatible server, and their assembly back into a [`ChatCompletion`].
//!
//! Typed streaming on top of this lives in [`partial`] (`create_partial`) and [`iterable`]
//! (`create_iterable`); both feed the one incremental parser in [`crate::json`].

pub(crate) mod iterable;
pub(crate) mod partial;
pub(crate) mod sse;

use std::collections::HashMap;
use std::pin::Pin;

use futures_core::Stream;

use crate::error::{ProviderError, ProviderErrorKind};
use crate::wire::{AssistantMessage, ChatCompletion, Choice, FinishReason, ToolCall, Usage};

/// A stream of deltas from a provider.
pub type DeltaStream<'a> = Pin<Box<dyn Stream<Item = Result<CompletionDelta, ProviderError>> + Send + 'a>>;

/// One piece of a streamed completion (the first choice of a `chat.completion.chunk`).
///
/// ```
/// let delta = instructor::CompletionDelta { content: Some("{\"na".into()), ..Default::default() };
/// assert!(delta.tool_calls.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionDelta {
    /// More message text.
    pub content: Option<String>,
    /// More refusal text.
    pub refusal: Option<String>,
    /// Pieces of tool calls, by index.
    pub tool_calls: Vec<ToolCallDelta>,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<FinishReason>,
    /// Set on the final chunk when usage was asked for.
    pub usage: Option<Usage>,
    /// The completion's id and model, when the chunk names them.
    pub id: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
}

/// A piece of one tool call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolCallDelta {
    /// Which call (calls in a reply may be interleaved).
    pub index: u32,
    /// The call's id (first piece only).
    pub id: Option<String>,
    /// The function's name (first piece only).
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    pub arguments: Option<String>,
}

impl CompletionDelta {
    /// A whole completion as a single delta: how a provider without native streaming streams.
    pub fn from_completion(completion: ChatCompletion) -> CompletionDelta {
        let usage = completion.usage;
        let mut delta = CompletionDelta {
            usage,
            id: Some(completion.id),
            model: Some(completion.model),
            ..CompletionDelta::default()
        };
        if let Some(choice) = completion.choices.into_iter().next() {
            delta.content = choice.message.content;
            delta.refusal = choice.message.refusal;
            delta.finish_reason = choice.finish_reason;
            delta.tool_calls = choice
                .message
                .tool_calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| ToolCallDelta {
                    index: i as u32,
                    id: Some(call.id),
                    name: Some(call.function.name),
                    arguments: Some(call.function.arguments),
                })
                .collect();
        }
        delta
    }
}

/// Puts deltas back together into the completion they stream.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    completion: ChatCompletion,
    message: AssistantMessage,
    finish_reason: Option<FinishReason>,
    /// Calls in the order they appeared, and where each stream index is among them (indices
    /// need not start at 0 or be dense; a map keeps the lookup per delta constant however many
    /// parallel calls there are).
    calls: Vec<ToolCall>,
    positions: HashMap<u32, usize>,
}

impl Assembler {
    pub(crate) fn push(&mut self, delta: &CompletionDelta) {
        if let Some(text) = &delta.content {
            self.message.content.get_or_insert_with(String::new).push_str(text);
        }
        if let Some(text) = &delta.refusal {
            self.message.refusal.get_or_insert_with(String::new).push_str(text);
        }
        for piece in &delta.tool_calls {
            let call = self.call_mut(piece.index);
            if let Some(id) = &piece.id {
                call.id.clone_from(id);
            }
            if let Some(name) = &piece.name {
                call.function.name.push_str(name);
            }
            if let Some(args) = &piece.arguments {
                call.function.arguments.push_str(args);
            }
        }
        if delta.finish_reason.is_some() {
            self.finish_reason.clone_from(&delta.finish_reason);
        }
        if let Some(usage) = delta.usage {
            self.completion.usage = Some(usage);
        }
        if let (Some(id), true) = (&delta.id, self.completion.id.is_empty()) {
            self.completion.id.clone_from(id);
        }
        if let (Some(model), true) = (&delta.model, self.completion.model.is_empty()) {
            self.completion.model.clone_from(model);
        }
    }

    /// The index of the call `index` in the order calls appeared.
    pub(crate) fn call_position(&self, index: u32) -> Option<usize> {
        self.positions.get(&index).copied()
    }

    fn call_mut(&mut self, index: u32) -> &mut ToolCall {
        let position = match self.call_position(index) {
            Some(p) => p,
            None => {
                let call = ToolCall::function(String::new(), String::new(), String::new());
                self.calls.push(call);
                self.positions.insert(index, self.calls.len() - 1);
                self.calls.len() - 1
            }
        };
        &mut self.calls[position]
    }

    pub(crate) fn finish(mut self) -> ChatCompletion {
        self.message.tool_calls = self.calls;
        self.completion.choices = vec![Choice { index: 0, message: self.message, finish_reason: self.finish_reason }];
        self.completion
    }
}

/// What one server-sent event means for the stream.
pub(crate) enum Step {
    /// A piece of the reply.
    Delta(CompletionDelta),
    /// Nothing for the reply (a keep-alive, a block boundary, an event of no interest).
    Skip,
    /// The stream's own end marker (`[DONE]`, `message_stop`, `response.completed`), maybe with
    /// a last piece.
    Done(Option<CompletionDelta>),
}

/// Reads one API's events.
pub(crate) trait EventDecoder: Send {
    /// Decodes the event named `event` (`None` for the default type) whose data is `data`.
    fn decode(&mut self, event: Option<&str>, data: &str) -> Result<Step, ProviderError>;

    /// Whether what came so far is a whole reply, for APIs whose streams have no end marker
    /// (Gemini's last chunk carries the finish reason) or whose servers may omit it.
    fn complete(&self) -> bool;
}

/// Reads an SSE body into deltas, with `decoder` reading each event. A stream that breaks, grows
/// past `max_body`, or ends before the reply is whole (no end marker and no finish reason) is a
/// typed error, never a hang or a silently short reply.
pub(crate) fn sse_stream<D: EventDecoder>(
    mut response: reqwest::Response,
    max_body: usize,
    mut decoder: D,
) -> impl Stream<Item = Result<CompletionDelta, ProviderError>> + Send {
    async_stream::try_stream! {
        let mut reader = sse::SseReader::new(max_body);
        let mut received = 0usize;
        let mut done = false;
        'read: loop {
            let chunk = response.chunk().await.map_err(|e| {
                ProviderError::new(ProviderErrorKind::Stream, format!("the stream broke: {e}")).with_source(e)
            })?;
            let Some(chunk) = chunk else { break };
            received += chunk.len();
            if received > max_body {
                Err(ProviderError::new(
                    ProviderErrorKind::BodyTooLarge,
                    format!("the stream exceeds the {max_body}-byte limit"),
                ))?;
            }
            reader.push(&chunk);
            while let Some(event) = reader.next_event() {
                let event = event.map_err(|e| ProviderError::new(ProviderErrorKind::Stream, e.to_string()))?;
                match decoder.decode(event.event, event.data)? {
                    Step::Delta(delta) => yield delta,
                    Step::Skip => {}
                    Step::Done(last) => {
                        if let Some(delta) = last {
                            yield delta;
                        }
                        done = true;
                        break 'read;
                    }
                }
            }
        }
        if !done && (!decoder.complete() || reader.finish() == sse::Finish::Truncated) {
            Err(ProviderError::new(
                ProviderErrorKind::Stream,
                "the stream ended before the completion was finished",
            ))?;
        }
    }
}

/// A JSON event that could not be read.
pub(crate) fn undecodable(data: &str, e: impl std::fmt::Display) -> ProviderError {
    let start: String = data.chars().take(200).collect();
    ProviderError::new(ProviderErrorKind::Decode, format!("a stream event is not what the API sends ({e}): {start}"))
}

/// Chat-completion chunks: `[DONE]` ends the stream; a chunk with a finish reason makes the reply
/// whole even if a server omits `[DONE]`.
#[derive(Debug, Default)]
pub(crate) struct ChatChunks {
    first: bool,
    finished: bool,
}

impl ChatChunks {
    pub(crate) fn new() -> Self {
        ChatChunks { first: true, finished: false }
    }
}

impl EventDecoder for ChatChunks {
    fn decode(&mut self, event: Option<&str>, data: &str) -> Result<Step, ProviderError> {
        if data == "[DONE]" {
            return Ok(Step::Done(None));
        }
        let delta = decode_event(event, data, self.first)?;
        self.first &= delta.id.is_none();
        self.finished |= delta.finish_reason.is_some();
        Ok(Step::Delta(delta))
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

/// `meta`: whether to keep the chunk's id and model (every chunk repeats them; one copy is enough).
fn decode_event(event: Option<&str>, data: &str, meta: bool) -> Result<CompletionDelta, ProviderError> {
    let chunk = sse::decode_chunk(data).map_err(|e| undecodable(data, e))?;
    if let Some(error) = chunk.error.as_ref() {
        let message = error.message.as_deref().unwrap_or("unknown error");
        let kind = error.kind.as_deref().map(|k| format!(" ({k})")).unwrap_or_default();
        let code = error.code.as_ref().map(|c| format!(" [code {c}]")).unwrap_or_default();
        let mut reported = ProviderError::new(
            ProviderErrorKind::Stream,
            format!("the server reported an error{kind}{code}: {message}"),
        );
        if let Some(kind) = error.kind.as_deref() {
            reported = reported.with_error_type(kind);
        }
        return Err(reported);
    }
    if event == Some("error") {
        let start: String = data.chars().take(200).collect();
        return Err(ProviderError::new(ProviderErrorKind::Stream, format!("the server reported an error: {start}")));
    }
    let mut delta = CompletionDelta {
        usage: chunk.usage,
        id: chunk.id.filter(|_| meta).map(|s| s.into_owned()),
        model: chunk.model.filter(|_| meta).map(|s| s.into_owned()),
        ..CompletionDelta::default()
    };
    // Only the first choice is read (`n` is 1).
    if let Some(choice) = chunk.choices.into_iter().find(|c| c.index == 0) {
        delta.content = choice.delta.content.map(|s| s.into_owned());
        delta.refusal = choice.delta.refusal.map(|s| s.into_owned());
        delta.finish_reason = choice.finish_reason.as_deref().map(FinishReason::from);
        delta.tool_calls = choice
            .delta
            .tool_calls
            .into_iter()
            .map(|call| {
                let (name, arguments) = match call.function {
                    Some(f) => (f.name.map(|s| s.into_owned()), f.arguments.map(|s| s.into_owned())),
                    None => (None, None),
                };
                ToolCallDelta { index: call.index, id: call.id.map(|s| s.into_owned()), name, arguments }
            })
            .collect();
    }
    Ok(delta)
}
