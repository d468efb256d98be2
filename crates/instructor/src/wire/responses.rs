//! OpenAI's Responses API (`POST /responses`): requests, responses and stream events.
//!
//! Written exactly as the OpenAPI spec requires (fields it requires but allows to be `null` are
//! written as `null`), read tolerantly (unknown fields are ignored; items and parts are read
//! flat, `type` saying which fields are set). The client sends requests and reads responses;
//! `instructor serve` reads requests and writes responses with the same types.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::RawJson;
use super::cow::opt_cow;
use crate::media::SharedStr;

/// A `POST /responses` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateResponse {
    /// The model.
    pub model: String,
    /// A string, or input items.
    pub input: Input,
    /// Instructions, apart from the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The reply's format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which tool it must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several calls may come in one reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The most tokens the reply may have (at least 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Whether the provider keeps the response (the library sends `false`: requests are stateless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    /// Stream the reply as typed events.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// A stored response to continue from (never sent by the library).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    /// Anything else, sent as it is (`metadata`, `reasoning`, `service_tier`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// `input`: a string, or items.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    /// One user message.
    Text(String),
    /// Messages, function calls and their outputs.
    Items(Vec<InputItem>),
}

impl Default for Input {
    fn default() -> Self {
        Input::Items(Vec::new())
    }
}

/// An input item, read flat: a message (`role`, `content`; `type` is `message` or absent), a
/// `function_call` (`call_id`, `name`, `arguments`) or a `function_call_output` (`call_id`,
/// `output`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InputItem {
    /// `message`, `function_call`, `function_call_output`, ... (absent on a plain message).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A message's author: `user`, `assistant`, `system` or `developer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A message's content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// A call's id, quoted by its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// A call's function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A call's arguments, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// A call's output (a string, or content parts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The item's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl InputItem {
    /// A message with text content.
    pub fn message(role: &str, text: impl Into<String>) -> InputItem {
        InputItem {
            role: Some(role.to_owned()),
            content: Some(MessageContent::Text(text.into())),
            ..InputItem::default()
        }
    }
}

/// A message's content: a string, or parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    /// Text.
    Text(String),
    /// Parts.
    Parts(Vec<ContentPart>),
}

/// A content part, read flat: `input_text`/`output_text` (`text`), `input_image` (`image_url`
/// or `file_id`, `detail`), `input_file` (`file_data` with `filename`, `file_url` or `file_id`),
/// `refusal` (`refusal`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContentPart {
    /// The part's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image's URL (or a `data:` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<SharedStr>,
    /// An uploaded file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Image detail: `low`, `high`, `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A file's content, as a `data:` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<SharedStr>,
    /// A file's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// A file's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_url: Option<String>,
    /// An output text's annotations (required on `output_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Vec<Value>>,
    /// An output text's log probabilities (required on `output_text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// A refusal's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl ContentPart {
    /// An `output_text` part.
    pub fn output_text(text: impl Into<String>) -> ContentPart {
        ContentPart {
            kind: "output_text".to_owned(),
            text: Some(text.into()),
            annotations: Some(Vec::new()),
            logprobs: Some(Vec::new()),
            ..ContentPart::default()
        }
    }
}

/// `text`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TextConfig {
    /// The format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<TextFormat>,
}

/// `text.format`: `text`, `json_object`, or `json_schema` with flat `name`, `schema`, `strict`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    /// Plain text.
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON satisfying `schema`.
    JsonSchema {
        /// The format's name (`[a-zA-Z0-9_-]`, at most 64).
        name: String,
        /// The schema.
        schema: RawJson,
        /// Hold the reply to the schema exactly.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
        /// What the format is for.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// A function tool, flat: `{"type": "function", "name", "description", "parameters", "strict"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// `function` (other tool types are not function calls).
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments' JSON Schema (written as `null` when absent, as the spec requires).
    #[serde(default)]
    pub parameters: Option<RawJson>,
    /// Hold the arguments to the schema exactly (written as `null` when absent).
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`: `"auto"`, `"required"`, `"none"`, or `{"type": "function", "name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `auto`, `required` or `none`.
    Mode(String),
    /// A named tool.
    Named {
        /// `function`.
        #[serde(rename = "type")]
        kind: String,
        /// The function.
        #[serde(default)]
        name: String,
    },
}

/// A response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Response {
    /// Its id.
    #[serde(default)]
    pub id: String,
    /// Always `response`.
    #[serde(default = "response_object")]
    pub object: String,
    /// Unix time of creation.
    #[serde(default)]
    pub created_at: u64,
    /// `completed`, `incomplete`, `failed`, `in_progress`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// Messages and function calls.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub output: Vec<OutputItem>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<ResponseError>,
    /// Why it is incomplete.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// The instructions it was given.
    #[serde(default)]
    pub instructions: Option<Value>,
    /// Metadata it was given.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f32>,
    /// Whether several calls could come in one reply.
    #[serde(default = "yes", deserialize_with = "super::null_as_default")]
    pub parallel_tool_calls: bool,
    /// The tool choice it was given.
    #[serde(default = "auto")]
    pub tool_choice: Value,
    /// The tools it was given.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub tools: Vec<Value>,
    /// The format it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    /// The reply allowance it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Tokens spent (absent until the response is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

fn response_object() -> String {
    "response".to_owned()
}

/// What a client reads of a [`Response`]: its output, why it stopped and what it cost. The
/// request settings a response echoes (tools, format, instructions, ...) are skipped rather than
/// built, and strings borrow from the reply where they can: a plain call reads one of these.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseReply<'a> {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub created_at: u64,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub status: Option<Cow<'a, str>>,
    #[serde(default)]
    pub model: String,
    #[serde(borrow, default, deserialize_with = "super::cow::short_list")]
    pub output: Vec<ReplyItem<'a>>,
    #[serde(default)]
    pub error: Option<ResponseError>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// What a client reads of an [`OutputItem`].
#[derive(Debug, Deserialize)]
pub(crate) struct ReplyItem<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::short_list")]
    pub content: Vec<ReplyPart<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub call_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub arguments: Option<Cow<'a, str>>,
}

/// What a client reads of a message's [`ContentPart`].
#[derive(Debug, Deserialize)]
pub(crate) struct ReplyPart<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub refusal: Option<Cow<'a, str>>,
}

fn yes() -> bool {
    true
}

fn auto() -> Value {
    Value::String("auto".to_owned())
}

/// An output item, read flat: a `message` (`id`, `role`, `status`, `content`) or a
/// `function_call` (`id`, `call_id`, `name`, `arguments`, `status`); other types (`reasoning`,
/// hosted tools) keep their type and are skipped by the client.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutputItem {
    /// The item's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A message's role (`assistant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `in_progress`, `completed`, `incomplete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A message's parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<ContentPart>>,
    /// A call's id, quoted by its output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// A call's function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A call's arguments, JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// `error` of a failed response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResponseError {
    /// `server_error`, `rate_limit_exceeded`, ...
    #[serde(default)]
    pub code: String,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
}

/// `incomplete_details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// `max_output_tokens` or `content_filter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Tokens spent.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (cached ones included).
    #[serde(default)]
    pub input_tokens: u64,
    /// Of which cached.
    #[serde(default)]
    pub input_tokens_details: InputTokensDetails,
    /// Reply tokens.
    #[serde(default)]
    pub output_tokens: u64,
    /// Of which reasoning.
    #[serde(default)]
    pub output_tokens_details: OutputTokensDetails,
    /// Their sum.
    #[serde(default)]
    pub total_tokens: u64,
}

/// `input_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cached_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
}

/// `output_tokens_details`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Reasoning tokens.
    #[serde(default)]
    pub reasoning_tokens: u64,
}

impl From<Usage> for super::Usage {
    fn from(u: Usage) -> super::Usage {
        let mut usage = super::Usage::new(u.input_tokens, u.output_tokens);
        usage.total_tokens = usage.total_tokens.max(u.total_tokens);
        usage.cache_read_tokens = u.input_tokens_details.cached_tokens;
        usage.cache_write_tokens = u.input_tokens_details.cache_write_tokens;
        usage
    }
}

impl From<super::Usage> for Usage {
    fn from(u: super::Usage) -> Usage {
        Usage {
            input_tokens: u.prompt_tokens,
            input_tokens_details: InputTokensDetails {
                cached_tokens: u.cache_read_tokens,
                cache_write_tokens: u.cache_write_tokens,
            },
            output_tokens: u.completion_tokens,
            output_tokens_details: OutputTokensDetails::default(),
            total_tokens: u.total_tokens,
        }
    }
}

/// One server-sent event of a streamed response, read flat: `type` says which fields are set
/// (`response.created`, `.in_progress`, `.completed`, `.incomplete`, `.failed`: `response`;
/// `response.output_item.added`/`.done`: `output_index`, `item`; `response.content_part.added`/
/// `.done`: `item_id`, `output_index`, `content_index`, `part`; `response.output_text.delta`:
/// those and `delta`, `logprobs`; `response.function_call_arguments.delta`: `item_id`,
/// `output_index`, `delta`; `...done`: `text` or `arguments` (and `name`); `error`: `code`,
/// `message`, `param`). Deltas borrow from the event's text when they can.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StreamEvent<'a> {
    /// The event type.
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// The event's place in the stream.
    #[serde(default)]
    pub sequence_number: u64,
    /// The response, for the lifecycle events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Which output item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_index: Option<u32>,
    /// The output item, when added or done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<OutputItem>,
    /// The output item's id.
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub item_id: Option<Cow<'a, str>>,
    /// Which content part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_index: Option<u32>,
    /// The content part, when added or done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<ContentPart>,
    /// More text or arguments.
    #[serde(borrow, default, deserialize_with = "opt_cow", skip_serializing_if = "Option::is_none")]
    pub delta: Option<Cow<'a, str>>,
    /// The whole text, when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The whole arguments, when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// The function, when its arguments are done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Log probabilities of text events (`[]` when not asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<Vec<Value>>,
    /// `error`: the error code (`null` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Value>,
    /// `error`: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `error`: the parameter at fault (`null` allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tools_write_the_nullable_fields() {
        let tool = Tool {
            kind: "function".into(),
            name: "f".into(),
            description: None,
            parameters: Some(RawJson::new(&json!({"type": "object"})).expect("raw")),
            strict: None,
        };
        assert_eq!(
            serde_json::to_value(&tool).expect("json"),
            json!({"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": null})
        );
    }

    #[test]
    fn responses_read_flat() {
        let body = json!({"id": "resp_1", "object": "response", "created_at": 1, "status": "incomplete", "model": "m",
            "output": [{"type": "reasoning", "id": "r", "summary": []},
                       {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":", "status": "incomplete"}],
            "incomplete_details": {"reason": "max_output_tokens"}, "usage": null, "parallel_tool_calls": true,
            "error": null, "instructions": null, "metadata": null, "temperature": null, "top_p": null, "tool_choice": "auto", "tools": []});
        let response: Response = serde_json::from_value(body).expect("a response");
        assert_eq!(response.output[1].arguments.as_deref(), Some("{\"a\":"));
        assert_eq!(response.incomplete_details.and_then(|d| d.reason).as_deref(), Some("max_output_tokens"));
        assert!(response.usage.is_none());
    }
}
