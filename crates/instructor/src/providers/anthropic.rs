//! Anthropic's Messages API, natively: the library's request becomes a `POST /v1/messages` body
//! (system prompt at the top level, tool calls as `tool_use` blocks, their answers as
//! `tool_result` blocks, structured outputs as `output_config.format`), and the reply and its
//! stream events become the library's completion and deltas.

use std::fmt;

use reqwest::StatusCode;
use serde_json::Value;

use super::{
    Api, ChatTool, FragmentCache, Outgoing, PENALTIES, ResponseFormat, ToolChoice as ChatToolChoice, arguments_object,
    chat_response_format, chat_tool_choice, chat_tools, rendered, slot, system_text, text_of, unsupported_mode,
};
use crate::error::{Error, ProviderError, ProviderErrorKind};
use crate::http::{ErrorBody, HttpTransport, read_body, snippet};
use crate::media::{self, Media, MediaKind, MediaPolicy};
use crate::modes::Mode;
use crate::provider::{BoxFuture, Provider};
use crate::stream::{CompletionDelta, DeltaStream, EventDecoder, Step, ToolCallDelta, sse_stream, undecodable};
use crate::wire::anthropic::{
    self as wire, BatchCreate, BatchRequest, Content, ContentBlock, MessageParam, MessageReply, MessagesRequest,
    OutputConfig, OutputFormat, Source, StreamEvent, System, Tool, ToolChoice,
};
use crate::wire::{
    AssistantMessage, ChatCompletion, Choice, CompletionRequest, FinishReason, Message, RawJson, Role, ToolCall, Usage,
};

/// The reply allowance sent when a request sets none: Anthropic requires `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// This API's translations of the fragments a mode renders, kept with each (see [`FragmentCache`]).
const TOOLS: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::ANTHROPIC_TOOLS);
const CHOICES: FragmentCache<Option<RawJson>> = FragmentCache::new(slot::ANTHROPIC_CHOICE);
const FORMATS: FragmentCache<Option<OutputFormat>> = FragmentCache::new(slot::ANTHROPIC_FORMAT);

/// Anthropic's Messages API (`POST {base}/v1/messages`), with the key in `x-api-key` and the
/// API version in `anthropic-version`. Built by [`ClientBuilder`](crate::ClientBuilder) with
/// [`Preset::Anthropic`](crate::Preset::Anthropic) or [`Api::Anthropic`].
///
/// API versions from 2026-10-21 (the default) take structured outputs as `output_config.format`
/// and no sampling parameters; an older pinned version (`2023-06-01`) takes `temperature`,
/// `top_p` and `top_k`, and structured outputs in the `structured-outputs-2025-11-13` beta's
/// shape (`output_format`).
pub struct Anthropic {
    transport: HttpTransport,
    endpoint: reqwest::Url,
    /// An API version before 2026-10-21: sampling parameters, and `output_format` with the beta
    /// header instead of `output_config.format`.
    legacy: bool,
    media: MediaPolicy,
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anthropic")
            .field("endpoint", &self.endpoint)
            .field("legacy", &self.legacy)
            .finish_non_exhaustive()
    }
}

/// Whether `version` predates 2026-10-21: such versions take sampling parameters, and structured
/// outputs in the `structured-outputs-2025-11-13` beta's shape (`output_format`).
pub(crate) fn uses_beta_structured_outputs(version: &str) -> bool {
    version < wire::DEFAULT_VERSION
}

impl Anthropic {
    pub(crate) fn new(transport: HttpTransport, version: &str, media: MediaPolicy) -> Result<Self, Error> {
        let endpoint = transport.endpoint("/v1/messages")?;
        Ok(Anthropic { transport, endpoint, legacy: uses_beta_structured_outputs(version), media })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) fn transport(&self) -> &HttpTransport {
        &self.transport
    }

    /// The Messages request for `request`, its tools and tool choice kept apart as JSON text
    /// (see [`Outgoing`]).
    pub(crate) fn translate<'r>(
        &self,
        request: &'r CompletionRequest,
    ) -> Result<Outgoing<'r, MessagesRequest>, ProviderError> {
        let mut out = MessagesRequest {
            model: request.model.clone(),
            max_tokens: request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            messages: messages(&request.messages),
            system: system_text(&request.messages).map(System::Text),
            extra: request.extra.clone(),
            ..MessagesRequest::default()
        };
        if self.legacy {
            out.temperature = request.temperature;
            out.top_p = request.top_p;
        }
        if let Some(stop) = out.extra.remove("stop") {
            out.stop_sequences = match stop {
                Value::String(s) => vec![s],
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => Vec::new(),
            };
        }
        if let Some(top_k) = out.extra.remove("top_k").and_then(|v| v.as_u64()) {
            out.top_k = u32::try_from(top_k).ok();
        }
        if let Some(format) = &request.response_format {
            if let Some(format) = FORMATS.get(format, translate_format)?.clone() {
                if self.legacy {
                    out.output_format = Some(format);
                } else {
                    out.output_config = Some(OutputConfig { format: Some(format), ..OutputConfig::default() });
                }
            }
        }
        // Members the body might also carry through `extra` are left to it.
        let mut out = Outgoing::new(out);
        if let Some(tools) = request.tools.as_ref().filter(|_| !out.body.extra.contains_key("tools")) {
            out.member("tools", TOOLS.get(tools, |t| rendered(translate_tools(t)?))?.as_ref());
        }
        if let Some(choice) = request.tool_choice.as_ref().filter(|_| !out.body.extra.contains_key("tool_choice")) {
            out.member("tool_choice", CHOICES.get(choice, |c| rendered(translate_tool_choice(c)?))?.as_ref());
        }
        Ok(out)
    }

    /// The whole typed Messages request for `request` (message batches carry it as a value).
    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) fn translate_typed(&self, request: &CompletionRequest) -> Result<MessagesRequest, ProviderError> {
        let mut out = self.translate(request)?;
        out.body.tools = out.take_member("tools")?.unwrap_or_default();
        out.body.tool_choice = out.take_member("tool_choice")?;
        Ok(out.body)
    }

    pub(crate) fn read_reply(body: &[u8]) -> Result<ChatCompletion, ProviderError> {
        let reply: MessageReply<'_> = read_body(body, "the reply is not an Anthropic message")?;
        Ok(completion(reply))
    }
}

fn translate_tools(tools: &Value) -> Result<Vec<Tool>, String> {
    chat_tools(tools)?
        .into_iter()
        .map(|ChatTool { name, description, parameters, strict }| {
            Ok(Tool {
                name: name.to_owned(),
                description: description.map(str::to_owned),
                input_schema: RawJson::new(parameters).map_err(|e| e.to_string())?,
                strict: strict.then_some(true),
            })
        })
        .collect()
}

fn translate_tool_choice(choice: &Value) -> Result<ToolChoice, String> {
    Ok(match chat_tool_choice(choice)? {
        ChatToolChoice::Auto => ToolChoice::Auto { disable_parallel_tool_use: None },
        ChatToolChoice::Required => ToolChoice::Any { disable_parallel_tool_use: None },
        ChatToolChoice::None => ToolChoice::None,
        ChatToolChoice::Function(name) => ToolChoice::Tool { name, disable_parallel_tool_use: None },
    })
}

/// Structured outputs become the output format; JSON mode has no Anthropic equivalent and the
/// schema is already in the prompt, so it adds nothing.
fn translate_format(format: &Value) -> Result<Option<OutputFormat>, String> {
    Ok(match chat_response_format(format)? {
        ResponseFormat::Schema { schema, .. } => Some(OutputFormat::JsonSchema { schema: schema.clone() }),
        ResponseFormat::AnyObject => None,
        ResponseFormat::ObjectWithSchema(_) => {
            return Err(Api::Anthropic.check_mode(Mode::JsonSchema).err().unwrap_or_default());
        }
    })
}

/// The conversation as Anthropic turns: system messages leave it, tool calls become `tool_use`
/// blocks, tool messages become `tool_result` blocks of a user turn, and consecutive turns of
/// one role merge (tool results first, as the API requires).
fn messages(messages: &[Message]) -> Vec<MessageParam> {
    let mut out: Vec<MessageParam> = Vec::with_capacity(messages.len());
    for message in messages {
        let (role, blocks) = match message.role {
            Role::System => continue,
            Role::User => {
                let mut blocks: Vec<ContentBlock> = message.media.iter().filter_map(media_block).collect();
                if !text_of(message).is_empty() || blocks.is_empty() {
                    blocks.push(ContentBlock::text(text_of(message)));
                }
                (wire::Role::User, blocks)
            }
            Role::Tool => (
                wire::Role::User,
                vec![ContentBlock::ToolResult {
                    tool_use_id: message.tool_call_id.clone().unwrap_or_default(),
                    content: Some(Content::Text(text_of(message).to_owned())),
                    is_error: message.is_error,
                }],
            ),
            Role::Assistant => {
                let mut blocks = Vec::with_capacity(1 + message.tool_calls.len());
                let text = text_of(message);
                if !text.is_empty() {
                    blocks.push(ContentBlock::text(text));
                }
                blocks.extend(message.tool_calls.iter().map(|call| ContentBlock::ToolUse {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    input: arguments_object(&call.function.arguments),
                }));
                (wire::Role::Assistant, blocks)
            }
        };
        match out.last_mut() {
            Some(last) if last.role == role => {
                let merged = std::mem::replace(&mut last.content, Content::Blocks(Vec::new()));
                let mut all = merged.into_blocks();
                all.extend(blocks);
                last.content = Content::Blocks(all);
            }
            _ => {
                let content = match <[ContentBlock; 1]>::try_from(blocks) {
                    Ok([ContentBlock::Text { text, cache_control: None }]) => Content::Text(text),
                    Ok([block]) => Content::Blocks(vec![block]),
                    Err(blocks) => Content::Blocks(blocks),
                };
                out.push(MessageParam { role, content });
            }
        }
    }
    out
}

/// An image or document block; the media rules refuse audio before this is reached.
fn media_block(media: &Media) -> Option<ContentBlock> {
    let source = match (media.base64(), media.url()) {
        (Some(data), _) => Source::Base64 { media_type: media.media_type().to_owned(), data },
        (None, Some(url)) => Source::Url { url: url.to_owned() },
        (None, None) => return None,
    };
    match media.kind() {
        MediaKind::Image => Some(ContentBlock::Image { source, cache_control: None }),
        MediaKind::Pdf => Some(ContentBlock::Document { source, title: None, cache_control: None }),
        _ => None,
    }
}

fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// A reply as a completion: text blocks joined, tool calls with their input as JSON text.
pub(crate) fn completion(reply: MessageReply<'_>) -> ChatCompletion {
    let mut message = AssistantMessage::default();
    // Sized exactly: a list grown by pushing holds four calls.
    message.tool_calls.reserve_exact(reply.content.iter().filter(|b| b.kind == "tool_use").count());
    for block in reply.content {
        match &*block.kind {
            "text" => message.content.get_or_insert_with(String::new).push_str(block.text.as_deref().unwrap_or("")),
            "tool_use" => message.tool_calls.push(ToolCall::function(
                block.id.unwrap_or_default(),
                block.name.unwrap_or_default(),
                block.input.map(serde_json::value::RawValue::get).unwrap_or_default(),
            )),
            // Thinking and server-side tools are not the answer.
            _ => {}
        }
    }
    let finish = reply.stop_reason.as_deref().map(finish_reason);
    if finish == Some(FinishReason::ContentFilter) {
        message.refusal = Some(message.content.take().unwrap_or_else(|| "the model declined to answer".to_owned()));
    }
    ChatCompletion {
        id: reply.id.into_owned(),
        model: reply.model.into_owned(),
        created: 0,
        choices: vec![Choice { index: 0, message, finish_reason: finish }],
        usage: Some(Usage::from(reply.usage)),
    }
}

/// Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`.
pub(crate) fn error_body(_: StatusCode, body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<wire::ErrorResponse>(body) {
        Ok(e) => ErrorBody { message: e.error.message, error_type: Some(e.error.kind), retry_after: None },
        Err(_) => ErrorBody { message: snippet(body), ..ErrorBody::default() },
    }
}

impl Provider for Anthropic {
    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            let body = self.translate(request)?.encode(request)?;
            let reply = self.transport.post(&self.endpoint, body).await?;
            Anthropic::read_reply(&reply)
        })
    }

    fn check_request(&self, mode: Mode, request: &CompletionRequest) -> Result<(), Error> {
        unsupported_mode(Api::Anthropic, mode)?;
        media::ANTHROPIC.check(&request.messages, self.media.cap)?;
        for penalty in PENALTIES {
            if request.extra.contains_key(penalty) {
                return Err(Error::request(format!("`{penalty}` is not accepted by the Anthropic API; leave it out")));
            }
        }
        let sampling = [("temperature", request.temperature.is_some()), ("top_p", request.top_p.is_some())]
            .into_iter()
            .chain([("top_k", request.extra.contains_key("top_k"))]);
        match sampling.filter(|(_, set)| *set).map(|(name, _)| name).next() {
            Some(name) if !self.legacy => Err(Error::request(format!(
                "`{name}` is not accepted by anthropic-version {} (it removed the sampling parameters); \
                 leave it out, or pin the version that takes it with `.anthropic_version(\"2023-06-01\")`",
                wire::DEFAULT_VERSION
            ))),
            _ => Ok(()),
        }
    }

    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let mut body = self.translate(request)?;
            body.body.stream = true;
            let response = self.transport.open_stream(&self.endpoint, body.encode(request)?).await?;
            let stream: DeltaStream<'a> = Box::pin(sse_stream(response, self.transport.max_body(), Events::default()));
            Ok(stream)
        })
    }
}

/// Reads Anthropic's stream events. Usage arrives in two parts (the prompt's in
/// `message_start`, the reply's in `message_delta`) and is reported whole with the latter.
#[derive(Debug, Default)]
pub(crate) struct Events {
    usage: wire::Usage,
    finished: bool,
}

impl EventDecoder for Events {
    fn decode(&mut self, _event: Option<&str>, data: &str) -> Result<Step, ProviderError> {
        let event: StreamEvent<'_> = serde_json::from_str(data).map_err(|e| undecodable(data, e))?;
        let mut delta = CompletionDelta::default();
        match &*event.kind {
            "message_start" => {
                let Some(message) = event.message else { return Ok(Step::Skip) };
                self.usage = message.usage;
                delta.id = Some(message.id);
                delta.model = Some(message.model);
            }
            "content_block_start" => {
                let Some(block) = event.content_block else { return Ok(Step::Skip) };
                match block.kind.as_str() {
                    "tool_use" => delta.tool_calls.push(ToolCallDelta {
                        index: event.index.unwrap_or(0),
                        id: block.id,
                        name: block.name,
                        arguments: None,
                    }),
                    "text" => match block.text.filter(|t| !t.is_empty()) {
                        Some(text) => delta.content = Some(text),
                        None => return Ok(Step::Skip),
                    },
                    _ => return Ok(Step::Skip),
                }
            }
            "content_block_delta" => {
                let Some(change) = event.delta else { return Ok(Step::Skip) };
                match change.kind.as_deref() {
                    Some("text_delta") => delta.content = change.text.map(|t| t.into_owned()),
                    Some("input_json_delta") => delta.tool_calls.push(ToolCallDelta {
                        index: event.index.unwrap_or(0),
                        id: None,
                        name: None,
                        arguments: change.partial_json.map(|t| t.into_owned()),
                    }),
                    _ => return Ok(Step::Skip),
                }
            }
            "message_delta" => {
                if let Some(usage) = event.usage {
                    self.usage.output_tokens = usage.output_tokens;
                    // Some servers report the prompt's usage only here.
                    if usage.input_tokens > 0 {
                        self.usage.input_tokens = usage.input_tokens;
                    }
                    self.usage.cache_read_input_tokens =
                        usage.cache_read_input_tokens.or(self.usage.cache_read_input_tokens);
                    self.usage.cache_creation_input_tokens =
                        usage.cache_creation_input_tokens.or(self.usage.cache_creation_input_tokens);
                }
                delta.usage = Some(Usage::from(self.usage));
                if let Some(reason) = event.delta.and_then(|d| d.stop_reason) {
                    let reason = finish_reason(&reason);
                    if reason == FinishReason::ContentFilter {
                        delta.refusal = Some("the model declined to answer".to_owned());
                    }
                    delta.finish_reason = Some(reason);
                    self.finished = true;
                }
            }
            "message_stop" => return Ok(Step::Done(None)),
            "error" => {
                let detail =
                    event.error.unwrap_or_else(|| wire::ErrorDetail { kind: String::new(), message: data.into() });
                let error = ProviderError::new(
                    ProviderErrorKind::Stream,
                    format!("the server reported an error ({}): {}", detail.kind, detail.message),
                );
                return Err(if detail.kind.is_empty() { error } else { error.with_error_type(detail.kind) });
            }
            // `ping`, `content_block_stop`, and event types added later.
            _ => return Ok(Step::Skip),
        }
        Ok(Step::Delta(delta))
    }

    fn complete(&self) -> bool {
        self.finished
    }
}

/// Message Batches: the requests shaped as for a live call, under ids Anthropic accepts.
#[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
pub(crate) fn batch_body(requests: Vec<(String, MessagesRequest)>) -> BatchCreate {
    BatchCreate {
        requests: requests.into_iter().map(|(custom_id, params)| BatchRequest { custom_id, params }).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ToolCall;

    fn call(id: &str, args: &str) -> ToolCall {
        ToolCall::function(id, "UserDetails", args)
    }

    #[test]
    fn reask_turn_becomes_tool_use_and_error_results() {
        let assistant = Message { tool_calls: vec![call("toolu_1", r#"{"name":"Jason"}"#)], ..Message::assistant("") };
        let turns = messages(&[
            Message::system("You are a world class extractor"),
            Message::user("Jason is 20"),
            assistant,
            Message::tool_error("toolu_1", "age: missing"),
            Message::user("Call again."),
        ]);
        let json = serde_json::to_value(&turns).expect("json");
        assert_eq!(
            json,
            serde_json::json!([
                {"role": "user", "content": "Jason is 20"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "UserDetails", "input": {"name": "Jason"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "age: missing", "is_error": true},
                    {"type": "text", "text": "Call again."}
                ]}
            ])
        );
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("pause_turn"), FinishReason::Other("pause_turn".into()));
    }

    #[test]
    fn versions_before_the_ga_take_the_beta_shape() {
        assert!(uses_beta_structured_outputs("2023-06-01"));
        assert!(!uses_beta_structured_outputs(wire::DEFAULT_VERSION));
    }
}
