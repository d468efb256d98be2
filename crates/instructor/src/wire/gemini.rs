//! Google's Gemini API (`POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`): requests, replies and errors, in the API's camelCase JSON.
//!
//! Written exactly (absent optional fields are left out), read tolerantly (unknown fields are
//! ignored). A part is read flat: whichever of its payload fields is set says what it is.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::RawJson;
use super::cow::opt_cow;
use crate::media::SharedStr;

/// A `generateContent` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentRequest {
    /// The conversation: `user` and `model` turns.
    pub contents: Vec<Content>,
    /// Instructions, apart from the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_instruction: Option<Content>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    /// Whether and which functions it must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<ToolConfig>,
    /// Sampling and output settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_config: Option<GenerationConfig>,
    /// Anything else, sent as it is (`safetySettings`, `cachedContent`, ...).
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// One turn.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Content {
    /// `user` or `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its parts.
    #[serde(default)]
    pub parts: Vec<Part>,
}

/// A part of a turn: one of text, inline data, a file, a function call or a function's answer.
/// All but text are boxed: every turn holds a list of parts, and most parts are text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    /// Text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Bytes in the request (images, PDFs, audio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_data: Option<Box<Blob>>,
    /// A file Gemini fetches (a Files API URI or a public URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<Box<FileData>>,
    /// A call the model made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call: Option<Box<FunctionCall>>,
    /// A function's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_response: Option<Box<FunctionResponse>>,
    /// A thought summary rather than the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought: Option<bool>,
    /// The opaque signature of the model's reasoning, which must come back with the part when the
    /// turn is replayed (thinking models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thought_signature: Option<String>,
}

impl Part {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Part {
        Part { text: Some(text.into()), ..Part::default() }
    }
}

/// Inline bytes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// `image/png`, `application/pdf`, `audio/wav`, ...
    pub mime_type: String,
    /// The bytes, base64 (shared with the media it came from).
    pub data: SharedStr,
}

/// A file by URI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileData {
    /// Its media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its URI.
    pub file_uri: String,
}

/// A function call: `args` is a JSON object, kept as text.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionCall {
    /// The call's id, when the API gives one (it often does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// The arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Box<RawValue>>,
}

/// A function's answer: `response` is a JSON object (`{"output": ...}` or `{"error": ...}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionResponse {
    /// The call's id, when the call had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// What it returned.
    pub response: Value,
}

/// A group of function declarations.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The functions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub function_declarations: Vec<FunctionDeclaration>,
}

/// A function the model may call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionDeclaration {
    /// Its name.
    pub name: String,
    /// What it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its arguments as a JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_json_schema: Option<RawJson>,
    /// Its arguments in the OpenAPI subset older models take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<RawJson>,
}

/// `toolConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolConfig {
    /// How functions are called.
    pub function_calling_config: FunctionCallingConfig,
}

/// `functionCallingConfig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallingConfig {
    /// `AUTO`, `ANY` (a call is required), `NONE` or `VALIDATED`.
    pub mode: String,
    /// With `ANY`: the functions that may be called.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_function_names: Vec<String>,
}

/// `generationConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerationConfig {
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Top-k sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// The most tokens the reply may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Texts that end the reply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// A seed for reproducible sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Lowers tokens by how often they were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Lowers tokens used at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// `application/json` for JSON replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_mime_type: Option<String>,
    /// The reply's JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json_schema: Option<RawJson>,
    /// The reply's schema in the OpenAPI subset older models take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<RawJson>,
}

/// A reply, or one chunk of a streamed reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateContentResponse {
    /// The replies; the first is used.
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    /// Why the prompt was blocked, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_feedback: Option<PromptFeedback>,
    /// Tokens spent (running totals in a stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The reply's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// A stream's error after it began (`{"error": {...}}` as an event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// What a client reads of a [`GenerateContentResponse`] (whole, or one streamed chunk): strings
/// borrow from the reply where they can, and the parts' media and function responses, which a
/// reply does not carry, are skipped. A call reads one of these.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContentReply<'a> {
    /// The first candidate (a client asks for one).
    #[serde(rename = "candidates", borrow, default, deserialize_with = "super::cow::first")]
    pub candidate: Option<CandidateReply<'a>>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub model_version: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub response_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// What a client reads of a [`Candidate`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CandidateReply<'a> {
    #[serde(borrow, default)]
    pub content: Option<ContentPartsReply<'a>>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub finish_reason: Option<Cow<'a, str>>,
}

/// What a client reads of a reply's [`Content`]: its parts.
#[derive(Debug, Deserialize)]
pub(crate) struct ContentPartsReply<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::short_list")]
    pub parts: Vec<PartReply<'a>>,
}

/// What a client reads of a reply's [`Part`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PartReply<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub function_call: Option<FunctionCallReply<'a>>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub thought_signature: Option<Cow<'a, str>>,
}

/// What a client reads of a [`FunctionCall`].
#[derive(Debug, Deserialize)]
pub(crate) struct FunctionCallReply<'a> {
    #[serde(borrow, default, deserialize_with = "opt_cow")]
    pub id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub name: Cow<'a, str>,
    #[serde(borrow, default)]
    pub args: Option<&'a RawValue>,
}

/// One reply.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// Its content (may be absent when the reply was blocked or cut before any part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// `STOP`, `MAX_TOKENS`, `SAFETY`, `RECITATION`, `MALFORMED_FUNCTION_CALL`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Its position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// `promptFeedback`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_reason: Option<String>,
}

/// `usageMetadata`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageMetadata {
    /// Prompt tokens (cached ones included).
    #[serde(default)]
    pub prompt_token_count: u64,
    /// Reply tokens.
    #[serde(default)]
    pub candidates_token_count: u64,
    /// Every token.
    #[serde(default)]
    pub total_token_count: u64,
    /// Prompt tokens served from a cache.
    #[serde(default)]
    pub cached_content_token_count: u64,
    /// Tokens the model spent thinking.
    #[serde(default)]
    pub thoughts_token_count: u64,
    /// Tokens of tool-use prompts.
    #[serde(default)]
    pub tool_use_prompt_token_count: u64,
}

impl From<UsageMetadata> for super::Usage {
    fn from(u: UsageMetadata) -> super::Usage {
        let mut usage = super::Usage::new(
            u.prompt_token_count + u.tool_use_prompt_token_count,
            u.candidates_token_count + u.thoughts_token_count,
        );
        usage.total_tokens = usage.total_tokens.max(u.total_token_count);
        usage.cache_read_tokens = u.cached_content_token_count;
        usage
    }
}

/// An error body: `{"error": {"code", "message", "status", "details"}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorDetail,
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The HTTP status.
    #[serde(default)]
    pub code: u16,
    /// A human-readable message.
    #[serde(default)]
    pub message: String,
    /// `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, ...
    #[serde(default)]
    pub status: String,
    /// Typed details (`google.rpc.RetryInfo` with `retryDelay`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Value>,
}

impl ErrorDetail {
    /// The wait a `google.rpc.RetryInfo` detail asks for (`"retryDelay": "37s"`).
    pub fn retry_delay(&self) -> Option<std::time::Duration> {
        self.details
            .iter()
            .filter(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.RetryInfo")))
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(|delay| delay.trim().strip_suffix('s')?.parse::<f64>().ok())
            .filter(|secs| secs.is_finite() && *secs >= 0.0)
            .map(std::time::Duration::from_secs_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn retry_info_is_read() {
        let body = json!({"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"}]}});
        let e: ErrorResponse = serde_json::from_value(body).expect("an error");
        assert_eq!(e.error.retry_delay(), Some(std::time::Duration::from_millis(1500)));
        assert_eq!(e.error.status, "RESOURCE_EXHAUSTED");
    }

    #[test]
    fn replies_keep_args_as_text() {
        let body = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"x","thought":true},{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"sig"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":19,"thoughtsTokenCount":4,"cachedContentTokenCount":6},"modelVersion":"gemini-2.5-flash","unknown":1}"#;
        let reply: GenerateContentResponse = serde_json::from_str(body).expect("a reply");
        let parts = &reply.candidates[0].content.as_ref().expect("content").parts;
        assert_eq!(parts[1].function_call.as_ref().and_then(|c| c.args.as_ref()).map(|a| a.get()), Some(r#"{"a":1}"#));
        let usage = crate::Usage::from(reply.usage_metadata.expect("usage"));
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens), (10, 9, 6));
    }
}
