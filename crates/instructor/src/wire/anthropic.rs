//! Anthropic's Messages API (`POST /v1/messages`): requests, replies, stream events, errors and
//! message batches.
//!
//! Written exactly as Anthropic documents them (absent optional fields are left out), read
//! tolerantly (unknown fields and block types are skipped). The client sends requests and reads
//! replies; `instructor serve` reads requests and writes replies with the same types.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::RawJson;
use super::cow::opt_cow;
use crate::media::SharedStr;

/// The `anthropic-version` the client sends unless told otherwise (the official SDK's).
pub const DEFAULT_VERSION: &str = "2026-10-21";

/// The `anthropic-beta` flag that carried structured outputs before they were part of an API
/// version (`output_format` at the top level of the request).
pub const STRUCTURED_OUTPUTS_BETA: &str = "structured-outputs-2025-11-13";

/// A `POST /v1/messages` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    /// The model.
    pub model: String,
    /// The most tokens the reply may have (required by the API).
    pub max_tokens: u32,
    /// The conversation: user and assistant turns.
    pub messages: Vec<MessageParam>,
    /// Instructions, apart from the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<System>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool it must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The output format (structured outputs, API versions from 2026-10-21).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_config: Option<OutputConfig>,
    /// The output format as the `structured-outputs-2025-11-13` beta took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_format: Option<OutputFormat>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Texts that end the reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Stream the reply as server-sent events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Anything else, sent as it is (`metadata`, `thinking`, `service_tier`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// `system`: a string, or text blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum System {
    /// Plain text.
    Text(String),
    /// Text blocks (which may carry `cache_control`).
    Blocks(Vec<ContentBlock>),
}

impl System {
    /// The text of every block, joined.
    pub fn text(&self) -> String {
        match self {
            System::Text(t) => t.clone(),
            System::Blocks(blocks) => blocks.iter().filter_map(ContentBlock::as_text).collect::<Vec<_>>().join("\n"),
        }
    }
}

/// Who wrote a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (and tool results).
    User,
    /// The model.
    Assistant,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageParam {
    /// Who wrote it.
    pub role: Role,
    /// A string, or blocks.
    pub content: Content,
}

/// A turn's content: a string or a list of blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Blocks.
    Blocks(Vec<ContentBlock>),
}

impl Content {
    /// The blocks (a string is one text block).
    pub fn into_blocks(self) -> Vec<ContentBlock> {
        match self {
            Content::Text(text) => vec![ContentBlock::text(text)],
            Content::Blocks(blocks) => blocks,
        }
    }
}

/// A block of a request turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// Prompt caching (`{"type": "ephemeral"}`), when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// An image.
    Image {
        /// Where the image is.
        source: Source,
        /// Prompt caching, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// A document (PDF or text).
    Document {
        /// Where the document is.
        source: Source,
        /// A title for the model.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Prompt caching, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cache_control: Option<Value>,
    },
    /// A tool call the model made (on assistant turns).
    ToolUse {
        /// The call's id, quoted by its result.
        id: String,
        /// The tool.
        name: String,
        /// The arguments, an object.
        input: Value,
    },
    /// A tool's answer (on user turns).
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// What the tool returned (text, or blocks).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// The call failed; `content` says why.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    /// Extended thinking the model did (echoed back on assistant turns).
    Thinking {
        /// The thinking text.
        thinking: String,
        /// Its signature.
        signature: String,
    },
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> ContentBlock {
        ContentBlock::Text { text: text.into(), cache_control: None }
    }

    /// The text of a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// Where an image or document is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Inline bytes.
    Base64 {
        /// `image/png`, `application/pdf`, ...
        media_type: String,
        /// The bytes, base64 (shared with the media it came from).
        data: SharedStr,
    },
    /// A URL Anthropic fetches.
    Url {
        /// The URL.
        url: String,
    },
    /// Plain text (documents only).
    Text {
        /// `text/plain`.
        media_type: String,
        /// The text.
        data: String,
    },
}

/// A tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments' JSON Schema.
    pub input_schema: RawJson,
    /// Hold the model's arguments to the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// At most one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// Some tool must be called.
    Any {
        /// At most one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// This tool must be called.
    Tool {
        /// The tool.
        name: String,
        /// At most one call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool may be called.
    None,
}

/// `output_config`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct OutputConfig {
    /// The reply's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<OutputFormat>,
    /// Anything else (`effort`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A JSON Schema the reply must satisfy: `{"type": "json_schema", "schema": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputFormat {
    /// The reply is JSON satisfying `schema`.
    JsonSchema {
        /// The schema.
        schema: Value,
    },
}

/// A reply (`"type": "message"`).
///
/// Content blocks are read as [`ResponseBlock`]s, whose tool input stays raw JSON text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MessagesResponse {
    /// The message id.
    #[serde(default)]
    pub id: String,
    /// Always `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// Always `assistant`.
    #[serde(default = "assistant_role")]
    pub role: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The blocks of the reply.
    #[serde(default)]
    pub content: Vec<ResponseBlock>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, `pause_turn`, `refusal`, ...
    /// (`null` in a stream's `message_start`).
    pub stop_reason: Option<String>,
    /// The stop sequence that ended the reply.
    pub stop_sequence: Option<String>,
    /// Tokens spent.
    #[serde(default)]
    pub usage: Usage,
}

/// What a client reads of a [`MessagesResponse`]: strings borrow from the reply where they can,
/// and what a client does not use (the type, the role, thinking blocks' text) is skipped. A call
/// reads one of these.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageReply<'a> {
    #[serde(borrow, default)]
    pub id: Cow<'a, str>,
    #[serde(borrow, default)]
    pub model: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "super::cow::short_list")]
    pub content: Vec<BlockReply<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    pub usage: Usage,
}

/// What a client reads of a [`ResponseBlock`].
#[derive(Debug, Deserialize)]
pub(crate) struct BlockReply<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
}

/// A whole reply read as a client reads one (a message batch's results carry whole replies).
impl<'a> From<&'a MessagesResponse> for MessageReply<'a> {
    fn from(reply: &'a MessagesResponse) -> Self {
        let borrowed = |s: &'a Option<String>| s.as_deref().map(Cow::Borrowed);
        MessageReply {
            id: Cow::Borrowed(&reply.id),
            model: Cow::Borrowed(&reply.model),
            content: reply
                .content
                .iter()
                .map(|block| BlockReply {
                    kind: Cow::Borrowed(&block.kind),
                    text: borrowed(&block.text),
                    id: borrowed(&block.id),
                    name: borrowed(&block.name),
                    input: block.input.as_deref(),
                })
                .collect(),
            stop_reason: borrowed(&reply.stop_reason),
            usage: reply.usage,
        }
    }
}

fn message_type() -> String {
    "message".to_owned()
}

fn assistant_role() -> String {
    "assistant".to_owned()
}

/// A block of a reply, read flat: `type` says which fields are set. Unknown block types keep
/// their type and are skipped by the client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseBlock {
    /// `text`, `tool_use`, `thinking`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// A text block's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A tool call's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A tool call's tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A tool call's arguments, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Box<RawValue>>,
    /// A thinking block's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// A thinking block's signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ResponseBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> ResponseBlock {
        ResponseBlock { kind: "text".to_owned(), text: Some(text.into()), ..ResponseBlock::default() }
    }

    /// A tool call whose arguments are `input` (JSON text of an object).
    pub fn tool_use(id: impl Into<String>, name: impl Into<String>, input: Box<RawValue>) -> ResponseBlock {
        ResponseBlock {
            kind: "tool_use".to_owned(),
            id: Some(id.into()),
            name: Some(name.into()),
            input: Some(input),
            ..ResponseBlock::default()
        }
    }
}

/// Tokens spent. Input tokens exclude those read from or written to the prompt cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens outside the cache.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub input_tokens: u64,
    /// Reply tokens.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub output_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
}

impl From<Usage> for super::Usage {
    fn from(u: Usage) -> super::Usage {
        let read = u.cache_read_input_tokens.unwrap_or(0);
        let written = u.cache_creation_input_tokens.unwrap_or(0);
        let mut usage = super::Usage::new(u.input_tokens + read + written, u.output_tokens);
        usage.cache_read_tokens = read;
        usage.cache_write_tokens = written;
        usage
    }
}

/// An error body: `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Always `error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What went wrong.
    pub error: ErrorDetail,
    /// The request's id, when the server gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The error itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`,
    /// `request_too_large`, `rate_limit_error`, `api_error`, `overloaded_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
}

impl ErrorResponse {
    /// An error body of `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> ErrorResponse {
        ErrorResponse {
            kind: "error".to_owned(),
            error: ErrorDetail { kind: kind.into(), message: message.into() },
            request_id: None,
        }
    }
}

/// One server-sent event of a streamed reply, read flat: `type` says which fields are set
/// (`message_start`: `message`; `content_block_start`: `index`, `content_block`;
/// `content_block_delta`: `index`, `delta`; `content_block_stop`: `index`; `message_delta`:
/// `delta`, `usage`; `message_stop`, `ping`; `error`: `error`). Strings borrow from the event's
/// text when they can, so reading a long stream copies little.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamEvent<'a> {
    /// The event type.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// The content block the event is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// `message_start`: the message so far (no content, usage of the prompt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessagesResponse>,
    /// `content_block_start`: the block, empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_block: Option<ResponseBlock>,
    /// `content_block_delta` and `message_delta`: what changed.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<EventDelta<'a>>,
    /// `message_delta`: tokens spent so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// `error`: what went wrong mid-stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// What a `content_block_delta` or `message_delta` event changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventDelta<'a> {
    /// `text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`, ... (absent on
    /// `message_delta`).
    #[serde(rename = "type", borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'a, str>>,
    /// `text_delta`: more text.
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'a, str>>,
    /// `input_json_delta`: more of the tool arguments' JSON text.
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub partial_json: Option<Cow<'a, str>>,
    /// `message_delta`: why the reply ended.
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<Cow<'a, str>>,
    /// `message_delta`: the stop sequence that ended it (written as `null` when none).
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "skip_stop_sequence")]
    pub stop_sequence: Option<Cow<'a, str>>,
}

/// `message_delta` writes `stop_sequence: null`; content deltas have no such field.
fn skip_stop_sequence(value: &Option<Cow<'_, str>>) -> bool {
    value.is_none()
}

impl StreamEvent<'static> {
    /// An event of `kind` with nothing else set.
    pub fn of(kind: &'static str) -> StreamEvent<'static> {
        StreamEvent { kind: Cow::Borrowed(kind), ..StreamEvent::default() }
    }
}

/// A `POST /v1/messages/batches` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchCreate {
    /// The requests, each with an id of `[a-zA-Z0-9_-]{1,64}`.
    pub requests: Vec<BatchRequest>,
}

/// One request of a batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The id its result will carry.
    pub custom_id: String,
    /// The request, as for `POST /v1/messages` (without `stream`).
    pub params: MessagesRequest,
}

/// A message batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// `in_progress`, `canceling` or `ended`.
    #[serde(default)]
    pub processing_status: String,
    /// Requests by state.
    #[serde(default)]
    pub request_counts: Value,
    /// Where the results are, once the batch has ended.
    #[serde(default)]
    pub results_url: Option<String>,
}

/// One line of a batch's results.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BatchResultLine {
    /// The request's id.
    pub custom_id: String,
    /// What became of it.
    pub result: BatchResult,
}

/// The result of one request of a batch, read flat: `type` is `succeeded` (with `message`),
/// `errored` (with `error`), `canceled` or `expired`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BatchResult {
    /// What became of the request.
    #[serde(rename = "type")]
    pub kind: String,
    /// The reply, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessagesResponse>,
    /// The error body, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_read_flat_and_borrow() {
        let data =
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"na"}}"#;
        let event: StreamEvent<'_> = serde_json::from_str(data).expect("an event");
        assert_eq!(event.kind, "content_block_delta");
        assert_eq!(event.index, Some(1));
        let delta = event.delta.expect("a delta");
        assert_eq!(delta.partial_json.as_deref(), Some("{\"na"));
        let data = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#;
        let event: StreamEvent<'_> = serde_json::from_str(data).expect("an event");
        assert!(matches!(event.delta.expect("delta").text, Some(Cow::Borrowed("Hello"))));
        let data = r#"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}"#;
        let event: StreamEvent<'_> = serde_json::from_str(data).expect("an event");
        assert_eq!(event.delta.expect("delta").stop_reason.as_deref(), Some("tool_use"));
        assert_eq!(event.usage.expect("usage").output_tokens, 15);
    }

    #[test]
    fn replies_keep_tool_input_as_text() {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                        {"type": "tool_use", "id": "toolu_1", "name": "UserDetails", "input": {"name": "Jason", "age": 20}},
                        {"type": "server_tool_use", "id": "x", "name": "web_search", "input": {}, "extra": 1}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": null}
        });
        let reply: MessagesResponse = serde_json::from_value(body).expect("a reply");
        assert_eq!(reply.content[1].input.as_ref().map(|r| r.get()), Some(r#"{"name":"Jason","age":20}"#));
        let usage = crate::Usage::from(reply.usage);
        assert_eq!((usage.prompt_tokens, usage.cache_read_tokens, usage.total_tokens), (110, 100, 115));
    }

    #[test]
    fn requests_are_written_exactly() {
        let request = MessagesRequest {
            model: "claude".into(),
            max_tokens: 1024,
            messages: vec![MessageParam { role: Role::User, content: Content::Text("hi".into()) }],
            tool_choice: Some(ToolChoice::Tool { name: "T".into(), disable_parallel_tool_use: None }),
            ..MessagesRequest::default()
        };
        assert_eq!(
            serde_json::to_value(&request).expect("json"),
            json!({"model": "claude", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}],
                   "tool_choice": {"type": "tool", "name": "T"}})
        );
        let back: MessagesRequest =
            serde_json::from_value(serde_json::to_value(&request).expect("json")).expect("back");
        assert_eq!(back, request);
    }
}
