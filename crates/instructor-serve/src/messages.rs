//! Anthropic's Messages API (`POST /v1/messages`): requests read into the library's wire types
//! and turned into the engine's job; messages, their event streams and errors written as
//! Anthropic's clients expect them.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use instructor::wire::anthropic::{
    self as wire, Content, ContentBlock, ErrorResponse, EventDelta, MessagesRequest, MessagesResponse, OutputFormat,
    ResponseBlock, Role, StreamEvent, System, ToolChoice,
};
use instructor::{CompletionDelta, FinishReason, Message, ToolCall};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::generate::Generated;
use crate::request::{self, Choice, Draft, Job, ToolSpec};
use crate::response::{Ids, sse_event};
use crate::routes::Dialect;

/// The most stop sequences a request may give.
const MAX_STOP_SEQUENCES: usize = 16;

/// A Messages request being answered, and its stream so far.
#[derive(Debug, Default)]
pub(crate) struct Messages {
    ids: Option<Ids>,
    /// The content block open in the stream: its index, and the tool call it is (if one).
    open: Option<(u32, Option<u32>)>,
    blocks: u32,
    /// Text streamed so far, and the tool calls begun (engine index → block).
    text_sent: usize,
    calls_begun: Vec<u32>,
}

impl Dialect for Messages {
    const NAME: &'static str = "messages";
    const ID_PREFIX: &'static str = "msg_";
    const FITS_WINDOW: bool = true;

    fn parse(body: &[u8]) -> Result<(Job, Self), ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(ApiError::malformed)?;
        if !value.is_object() {
            return Err(ApiError::invalid("", "the request body must be a JSON object"));
        }
        let wire: MessagesRequest = serde_path_to_error::deserialize(&value).map_err(|e| request::type_error(&e))?;
        Ok((read(wire)?, Messages::default()))
    }

    fn reply(&self, ids: &Ids, generated: &Generated) -> Value {
        serde_json::to_value(message(ids, generated)).unwrap_or_default()
    }

    fn start(&mut self, ids: &Ids) -> Vec<Bytes> {
        self.ids = Some(ids.clone());
        let started = MessagesResponse {
            id: ids.id.clone(),
            kind: "message".to_owned(),
            role: "assistant".to_owned(),
            model: ids.model.clone(),
            content: Vec::new(),
            stop_reason: None,
            stop_sequence: None,
            usage: wire::Usage::default(),
        };
        vec![
            emit(StreamEvent { message: Some(started), ..StreamEvent::of("message_start") }),
            emit(StreamEvent::of("ping")),
        ]
    }

    fn delta(&mut self, delta: &CompletionDelta) -> Vec<Bytes> {
        let mut out = Vec::new();
        if let Some(text) = delta.content.as_deref().filter(|t| !t.is_empty()) {
            self.text(text, &mut out);
        }
        for call in &delta.tool_calls {
            self.call(call.index, call.name.as_deref(), call.arguments.as_deref().unwrap_or(""), &mut out);
        }
        out
    }

    fn end(&mut self, generated: &Generated) -> Vec<Bytes> {
        let mut out = Vec::new();
        let Some(ids) = self.ids.clone() else { return out };
        if let Some(message) = generated.completion.message() {
            if let Some(rest) =
                message.content.as_deref().and_then(|t| t.get(self.text_sent..)).filter(|r| !r.is_empty())
            {
                self.text(rest, &mut out);
            }
            for (i, call) in message.tool_calls.iter().enumerate() {
                if !self.calls_begun.contains(&(i as u32)) {
                    self.call(i as u32, Some(&call.function.name), &call.function.arguments, &mut out);
                }
            }
        }
        self.close(&mut out);
        let whole = message(&ids, generated);
        out.push(emit(StreamEvent {
            delta: Some(EventDelta {
                stop_reason: whole.stop_reason.map(Into::into),
                stop_sequence: whole.stop_sequence.map(Into::into),
                ..EventDelta::default()
            }),
            usage: Some(whole.usage),
            ..StreamEvent::of("message_delta")
        }));
        out.push(emit(StreamEvent::of("message_stop")));
        out
    }

    fn error_event(&mut self, error: &ApiError) -> Vec<Bytes> {
        let body = anthropic_body(error);
        vec![emit(StreamEvent { error: Some(body.error), ..StreamEvent::of("error") })]
    }

    fn error(error: ApiError) -> Response {
        let (status, body) = (anthropic_status(&error), anthropic_body(&error));
        let mut response =
            crate::response::json(status, &serde_json::to_value(&body).unwrap_or_else(|_| json!({"type": "error"})));
        if let Some(secs) = error.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

fn emit(event: StreamEvent<'_>) -> Bytes {
    sse_event(&event.kind, &serde_json::to_string(&event).unwrap_or_default())
}

/// A full queue is `overloaded_error` (HTTP 529), as Anthropic answers it.
fn anthropic_status(error: &ApiError) -> StatusCode {
    if error.code == Some("queue_full") { StatusCode::from_u16(529).unwrap_or(error.status) } else { error.status }
}

/// The error as Anthropic writes it: its type from the status, the field at fault in the message.
fn anthropic_body(error: &ApiError) -> ErrorResponse {
    let kind = match (error.status.as_u16(), error.code) {
        (_, Some("queue_full")) => "overloaded_error",
        (401, _) => "authentication_error",
        (403, _) => "permission_error",
        (404, _) => "not_found_error",
        (413, _) => "request_too_large",
        (429, _) => "rate_limit_error",
        (500.., _) => "api_error",
        _ => "invalid_request_error",
    };
    let message = match &error.param {
        Some(param) if !error.message.contains(param.as_str()) => format!("{param}: {}", error.message),
        _ => error.message.clone(),
    };
    ErrorResponse::new(kind, message)
}

fn tool_use_id(ids: &Ids, index: u32) -> String {
    format!("toolu_{}_{index}", ids.id.trim_start_matches("msg_"))
}

/// Tool input as Anthropic carries it, a JSON object: the arguments themselves, or (cut by the
/// token limit) what of them reads as an object.
fn input_object(arguments: &str) -> Box<RawValue> {
    let empty = || RawValue::from_string("{}".to_owned()).unwrap_or_default();
    if let Ok(raw) = serde_json::from_str::<Box<RawValue>>(arguments) {
        if raw.get().trim_start().starts_with('{') {
            return raw;
        }
    }
    match instructor::json::parse_lenient(arguments) {
        Ok(parsed) if parsed.value.is_object() => {
            RawValue::from_string(parsed.value.to_string()).unwrap_or_else(|_| empty())
        }
        _ => empty(),
    }
}

fn message(ids: &Ids, generated: &Generated) -> MessagesResponse {
    let completion = &generated.completion;
    let mut content = Vec::new();
    if let Some(message) = completion.message() {
        if let Some(text) = message.content.as_deref().filter(|t| !t.is_empty() || message.tool_calls.is_empty()) {
            content.push(ResponseBlock::text(text));
        }
        for (i, call) in message.tool_calls.iter().enumerate() {
            content.push(ResponseBlock::tool_use(
                tool_use_id(ids, i as u32),
                &call.function.name,
                input_object(&call.function.arguments),
            ));
        }
    }
    let (stop_reason, stop_sequence) = match (completion.finish_reason(), &generated.stop_sequence) {
        (Some(FinishReason::Length), _) if generated.window_capped => ("model_context_window_exceeded", None),
        (Some(FinishReason::Length), _) => ("max_tokens", None),
        (Some(FinishReason::ToolCalls), _) => ("tool_use", None),
        (_, Some(stop)) => ("stop_sequence", Some(stop.clone())),
        _ => ("end_turn", None),
    };
    let usage = completion.usage.unwrap_or_default();
    MessagesResponse {
        id: ids.id.clone(),
        kind: "message".to_owned(),
        role: "assistant".to_owned(),
        model: ids.model.clone(),
        content,
        stop_reason: Some(stop_reason.to_owned()),
        stop_sequence,
        usage: wire::Usage {
            input_tokens: usage.prompt_tokens.saturating_sub(usage.cache_read_tokens),
            output_tokens: usage.completion_tokens,
            cache_creation_input_tokens: Some(0),
            cache_read_input_tokens: Some(usage.cache_read_tokens),
        },
    }
}

impl Messages {
    fn close(&mut self, out: &mut Vec<Bytes>) {
        if let Some((index, _)) = self.open.take() {
            out.push(emit(StreamEvent { index: Some(index), ..StreamEvent::of("content_block_stop") }));
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        if !matches!(self.open, Some((_, None))) {
            self.close(out);
            let index = self.blocks;
            self.blocks += 1;
            self.open = Some((index, None));
            out.push(emit(StreamEvent {
                index: Some(index),
                content_block: Some(ResponseBlock::text("")),
                ..StreamEvent::of("content_block_start")
            }));
        }
        self.text_sent += text.len();
        let index = self.open.map_or(0, |(i, _)| i);
        out.push(emit(StreamEvent {
            index: Some(index),
            delta: Some(EventDelta {
                kind: Some("text_delta".into()),
                text: Some(text.into()),
                ..EventDelta::default()
            }),
            ..StreamEvent::of("content_block_delta")
        }));
    }

    fn call(&mut self, call: u32, name: Option<&str>, arguments: &str, out: &mut Vec<Bytes>) {
        let Some(ids) = self.ids.clone() else { return };
        if self.open.and_then(|(_, c)| c) != Some(call) {
            self.close(out);
            let index = self.blocks;
            self.blocks += 1;
            self.open = Some((index, Some(call)));
            self.calls_begun.push(call);
            let empty = RawValue::from_string("{}".to_owned()).unwrap_or_default();
            out.push(emit(StreamEvent {
                index: Some(index),
                content_block: Some(ResponseBlock::tool_use(tool_use_id(&ids, call), name.unwrap_or_default(), empty)),
                ..StreamEvent::of("content_block_start")
            }));
        }
        if arguments.is_empty() {
            return;
        }
        let index = self.open.map_or(0, |(i, _)| i);
        out.push(emit(StreamEvent {
            index: Some(index),
            delta: Some(EventDelta {
                kind: Some("input_json_delta".into()),
                partial_json: Some(arguments.into()),
                ..EventDelta::default()
            }),
            ..StreamEvent::of("content_block_delta")
        }));
    }
}

/// A Messages request as the engine's job, checked field by field.
fn read(wire: MessagesRequest) -> Result<Job, ApiError> {
    if wire.model.trim().is_empty() {
        return Err(ApiError::invalid("model", "'model' must not be empty"));
    }
    if wire.max_tokens == 0 {
        return Err(ApiError::invalid("max_tokens", "must be at least 1"));
    }
    if wire.messages.is_empty() {
        return Err(ApiError::invalid("messages", "'messages' must hold at least one message"));
    }
    let mut messages = Vec::with_capacity(wire.messages.len() + 1);
    match wire.system {
        Some(System::Text(text)) if !text.is_empty() => messages.push(Message::system(text)),
        Some(System::Blocks(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                match block.as_text() {
                    Some(text) => texts.push(text),
                    None => return Err(ApiError::invalid(format!("system[{j}].type"), "system blocks must be text")),
                }
            }
            messages.push(Message::system(texts.join("\n")));
        }
        _ => {}
    }
    for (i, turn) in wire.messages.into_iter().enumerate() {
        turn_messages(i, turn.role, turn.content, &mut messages)?;
    }

    let mut tools = Vec::with_capacity(wire.tools.len());
    for (i, tool) in wire.tools.into_iter().enumerate() {
        tools.push(ToolSpec {
            name: tool.name,
            description: tool.description,
            parameters: Some(tool.input_schema.to_value()),
            at: format!("tools[{i}]"),
            schema_field: "input_schema",
        });
    }
    let names = request::tool_names(&tools)?;
    let (choice, single_call) = match &wire.tool_choice {
        None => (Choice::Auto, false),
        Some(ToolChoice::Auto { disable_parallel_tool_use }) => {
            (Choice::Auto, *disable_parallel_tool_use == Some(true))
        }
        Some(ToolChoice::Any { disable_parallel_tool_use }) => {
            (Choice::Required, *disable_parallel_tool_use == Some(true))
        }
        Some(ToolChoice::Tool { name, .. }) => {
            if !names.iter().any(|n| n == name) {
                return Err(ApiError::invalid("tool_choice.name", format!("no tool named '{name}' in 'tools'")));
            }
            (Choice::Named(name.clone()), true)
        }
        Some(ToolChoice::None) => (Choice::None, false),
    };
    let choice = match choice {
        Choice::Required if names.is_empty() => {
            return Err(ApiError::invalid("tool_choice", "'any' needs 'tools'"));
        }
        _ if names.is_empty() => Choice::None,
        choice => choice,
    };
    let format = match (wire.output_config.and_then(|c| c.format), wire.output_format) {
        (Some(OutputFormat::JsonSchema { schema }), _) => Some((schema, "output_config.format.schema")),
        (None, Some(OutputFormat::JsonSchema { schema })) => Some((schema, "output_format.schema")),
        (None, None) => None,
    };
    let format = match format {
        Some((schema, param)) => {
            request::check_schema(&schema, param)?;
            Some(json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}))
        }
        None => None,
    };
    if let Some(t) = wire.temperature.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(ApiError::invalid("temperature", format!("must be between 0 and 1, not {t}")));
    }
    if let Some(p) = wire.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(ApiError::invalid("top_p", format!("must be between 0 and 1, not {p}")));
    }
    if wire.stop_sequences.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid("stop_sequences", format!("at most {MAX_STOP_SEQUENCES} stop sequences")));
    }
    if wire.stop_sequences.iter().any(String::is_empty) {
        return Err(ApiError::invalid("stop_sequences", "a stop sequence must not be empty"));
    }
    let mut sampling = request::sampling_extras(&wire.extra)?;
    if let Some(k) = wire.top_k {
        sampling.insert("top_k".into(), json!(k));
    }
    request::build(Draft {
        model: wire.model,
        messages,
        format,
        tools,
        choice,
        single_call,
        max_tokens: Some(wire.max_tokens),
        temperature: wire.temperature,
        top_p: wire.top_p,
        seed: None,
        sampling,
        stops: wire.stop_sequences,
        stream: wire.stream,
        include_usage: false,
    })
}

/// One turn into the conversation: a user turn's tool results become tool messages (each must
/// answer a `tool_use` of the turn before), its text a user message; an assistant turn's text
/// and `tool_use` blocks become one assistant message.
fn turn_messages(i: usize, role: Role, content: Content, messages: &mut Vec<Message>) -> Result<(), ApiError> {
    let at = |j: usize, field: &str| format!("messages[{i}].content[{j}]{field}");
    let blocks = content.into_blocks();
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    let mut results = Vec::new();
    for (j, block) in blocks.into_iter().enumerate() {
        match (role, block) {
            (_, ContentBlock::Text { text, .. }) => texts.push(text),
            (_, ContentBlock::Image { .. }) => {
                return Err(ApiError::invalid(
                    at(j, ""),
                    "the loaded model reads text only: it cannot read images (block 'image')",
                ));
            }
            (_, ContentBlock::Document { .. }) => {
                return Err(ApiError::invalid(
                    at(j, ""),
                    "the loaded model reads text only: it cannot read documents (block 'document')",
                ));
            }
            (Role::Assistant, ContentBlock::ToolUse { id, name, input }) => {
                if !input.is_object() {
                    return Err(ApiError::invalid(at(j, ".input"), "a tool_use input must be an object"));
                }
                calls.push(ToolCall::function(id, name, input.to_string()));
            }
            (Role::Assistant, ContentBlock::Thinking { .. }) => {}
            (Role::User, ContentBlock::ToolResult { tool_use_id, content, is_error }) => {
                let asked = messages.last().is_some_and(|m| m.tool_calls.iter().any(|c| c.id == tool_use_id));
                if !asked {
                    return Err(ApiError::invalid(
                        at(j, ".tool_use_id"),
                        format!("tool_result '{tool_use_id}' answers no tool_use of the assistant turn before it"),
                    ));
                }
                let text = match content {
                    None => String::new(),
                    Some(Content::Text(text)) => text,
                    Some(Content::Blocks(blocks)) => {
                        let mut texts = Vec::with_capacity(blocks.len());
                        for (k, block) in blocks.iter().enumerate() {
                            match block.as_text() {
                                Some(t) => texts.push(t),
                                None => {
                                    return Err(ApiError::invalid(
                                        at(j, &format!(".content[{k}]")),
                                        "the loaded model reads text only: tool results must be text",
                                    ));
                                }
                            }
                        }
                        texts.join("\n")
                    }
                };
                results.push(Message { is_error, ..Message::tool(tool_use_id, text) });
            }
            (Role::User, ContentBlock::ToolUse { .. }) => {
                return Err(ApiError::invalid(at(j, ".type"), "tool_use blocks belong to assistant turns"));
            }
            (Role::User, ContentBlock::Thinking { .. }) => {
                return Err(ApiError::invalid(at(j, ".type"), "thinking blocks belong to assistant turns"));
            }
            (Role::Assistant, ContentBlock::ToolResult { .. }) => {
                return Err(ApiError::invalid(at(j, ".type"), "tool_result blocks belong to user turns"));
            }
        }
    }
    match role {
        Role::User => {
            messages.extend(results);
            if !texts.is_empty() {
                messages.push(Message::user(texts.join("\n")));
            }
        }
        Role::Assistant => {
            let text = texts.join("\n");
            let content = (!text.is_empty()).then_some(text);
            if content.is_none() && calls.is_empty() {
                return Err(ApiError::invalid(
                    format!("messages[{i}].content"),
                    "an assistant turn needs text or tool_use",
                ));
            }
            messages.push(Message { content, tool_calls: calls, ..Message::assistant("") });
        }
    }
    Ok(())
}
