//! Responses and stream chunks, shaped as OpenAI's spec says (`CreateChatCompletionResponse`,
//! `CreateChatCompletionStreamResponse`).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use instructor::{ChatCompletion, CompletionDelta, FinishReason, ToolCall, ToolCallDelta, Usage};

use crate::error::ApiError;
use crate::generate::Generated;
use crate::request::{self, Job};
use crate::routes::Dialect;
use serde_json::{Value, json};

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The ids of one completion: its own, and its tool calls'.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    pub id: String,
    call_prefix: String,
    pub created: u64,
    pub model: String,
}

impl Ids {
    /// New ids for a reply whose id starts with `prefix` (`chatcmpl-`, `resp_`, `msg_`).
    pub fn new(prefix: &str, model: &str) -> Self {
        let created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Ids {
            id: format!("{prefix}{:016x}", fastrand::u64(..)),
            call_prefix: format!("call_{:012x}", fastrand::u64(..) >> 16),
            created,
            model: model.to_owned(),
        }
    }

    /// The id of the tool call at `index`.
    pub fn call(&self, index: u32) -> String {
        format!("{}_{index}", self.call_prefix)
    }
}

/// Chat completions, the dialect `serve` began with.
#[derive(Debug)]
pub(crate) struct ChatCompletions {
    chunks: Option<Chunks>,
    tool_reply: bool,
    include_usage: bool,
}

impl Dialect for ChatCompletions {
    const NAME: &'static str = "chat.completions";
    const ID_PREFIX: &'static str = "chatcmpl-";

    fn parse(body: &[u8]) -> Result<(Job, Self), ApiError> {
        let job = request::parse(body)?;
        let dialect = ChatCompletions { chunks: None, tool_reply: job.tool_reply, include_usage: job.include_usage };
        Ok((job, dialect))
    }

    fn reply(&self, ids: &Ids, generated: &Generated) -> Value {
        completion(ids, &generated.completion)
    }

    fn start(&mut self, ids: &Ids) -> Vec<Bytes> {
        let chunks = self.chunks.insert(Chunks::new(ids.clone()));
        vec![chunks.role(self.tool_reply)]
    }

    fn delta(&mut self, delta: &CompletionDelta) -> Vec<Bytes> {
        self.chunks.as_mut().and_then(|c| c.delta(delta)).into_iter().collect()
    }

    fn end(&mut self, generated: &Generated) -> Vec<Bytes> {
        let include_usage = self.include_usage;
        self.chunks.as_mut().map(|c| c.end(&generated.completion, include_usage)).unwrap_or_default()
    }

    fn error_event(&mut self, error: &ApiError) -> Vec<Bytes> {
        vec![sse(&error.body().to_string())]
    }
}

/// The spec's finish reasons; anything else reads as `stop`.
fn finish(reason: Option<&FinishReason>) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls) => "tool_calls",
        Some(FinishReason::ContentFilter) => "content_filter",
        _ => "stop",
    }
}

fn usage(usage: Option<Usage>) -> Value {
    let u = usage.unwrap_or_default();
    json!({"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens, "total_tokens": u.total_tokens})
}

fn tool_call(ids: &Ids, index: usize, call: &ToolCall) -> Value {
    json!({
        "id": ids.call(index as u32),
        "type": "function",
        "function": {"name": call.function.name, "arguments": call.function.arguments},
    })
}

/// A whole completion.
pub(crate) fn completion(ids: &Ids, completion: &ChatCompletion) -> Value {
    let choice = completion.choices.first();
    let message = choice.map(|c| &c.message);
    let mut body = json!({
        "role": "assistant",
        "content": message.and_then(|m| m.content.clone()),
        "refusal": message.and_then(|m| m.refusal.clone()),
    });
    if let Some(m) = message.filter(|m| !m.tool_calls.is_empty()) {
        body["tool_calls"] = m.tool_calls.iter().enumerate().map(|(i, c)| tool_call(ids, i, c)).collect();
    }
    json!({
        "id": ids.id,
        "object": "chat.completion",
        "created": ids.created,
        "model": ids.model,
        "choices": [{
            "index": 0,
            "message": body,
            "logprobs": null,
            "finish_reason": finish(choice.and_then(|c| c.finish_reason.as_ref())),
        }],
        "usage": usage(completion.usage),
    })
}

/// Builds the chunks of one streamed completion, as SSE events.
#[derive(Debug)]
pub(crate) struct Chunks {
    ids: Ids,
    /// Indices of tool calls already begun.
    calls: Vec<u32>,
    /// Bytes of text already sent.
    sent: usize,
}

impl Chunks {
    pub fn new(ids: Ids) -> Self {
        Chunks { ids, calls: Vec::new(), sent: 0 }
    }

    fn event(&self, choices: Value, usage: Option<Value>) -> Bytes {
        let mut chunk = json!({
            "id": self.ids.id,
            "object": "chat.completion.chunk",
            "created": self.ids.created,
            "model": self.ids.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            chunk["usage"] = u;
        }
        sse(&chunk.to_string())
    }

    fn choice(&self, delta: Value, finish: Option<&str>) -> Bytes {
        self.event(json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]), None)
    }

    /// The first chunk: the role (and empty text, unless the reply is tool calls).
    pub fn role(&self, tool_reply: bool) -> Bytes {
        let content = if tool_reply { Value::Null } else { json!("") };
        self.choice(json!({"role": "assistant", "content": content}), None)
    }

    /// A piece of the reply.
    pub fn delta(&mut self, delta: &CompletionDelta) -> Option<Bytes> {
        let mut out = serde_json::Map::new();
        if let Some(text) = &delta.content {
            self.sent += text.len();
            out.insert("content".into(), json!(text));
        }
        if !delta.tool_calls.is_empty() {
            let calls: Vec<Value> = delta.tool_calls.iter().map(|c| self.call_delta(c)).collect();
            out.insert("tool_calls".into(), Value::Array(calls));
        }
        (!out.is_empty()).then(|| self.choice(Value::Object(out), None))
    }

    fn call_delta(&mut self, call: &ToolCallDelta) -> Value {
        let mut function = serde_json::Map::new();
        let mut out = json!({"index": call.index});
        if !self.calls.contains(&call.index) {
            self.calls.push(call.index);
            out["id"] = json!(self.ids.call(call.index));
            out["type"] = json!("function");
            function.insert("name".into(), json!(call.name.clone().unwrap_or_default()));
        }
        function.insert("arguments".into(), json!(call.arguments.clone().unwrap_or_default()));
        out["function"] = Value::Object(function);
        out
    }

    /// The end: whatever was not streamed (tool calls decided at the end, unsent text), the
    /// finish reason, the usage when asked for, and `[DONE]`.
    pub fn end(&mut self, completion: &ChatCompletion, include_usage: bool) -> Vec<Bytes> {
        let mut out = Vec::new();
        let choice = completion.choices.first();
        if let Some(message) = choice.map(|c| &c.message) {
            if let Some(text) = message.content.as_deref() {
                if text.len() > self.sent && text.is_char_boundary(self.sent) {
                    let rest = &text[self.sent..];
                    self.sent = text.len();
                    out.push(self.choice(json!({"content": rest}), None));
                }
            }
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.calls.contains(&(*i as u32)))
                .map(|(i, c)| {
                    let mut v = tool_call(&self.ids, i, c);
                    v["index"] = json!(i);
                    v
                })
                .collect();
            if !calls.is_empty() {
                out.push(self.choice(json!({"tool_calls": calls}), None));
            }
        }
        out.push(self.choice(json!({}), Some(finish(choice.and_then(|c| c.finish_reason.as_ref())))));
        if include_usage {
            out.push(self.event(json!([]), Some(usage(completion.usage))));
        }
        out.push(sse("[DONE]"));
        out
    }
}

/// One server-sent event.
pub(crate) fn sse(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// One server-sent event with its name (the Responses and Anthropic streams name theirs).
pub(crate) fn sse_event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}
