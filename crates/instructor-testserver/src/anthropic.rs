//! Anthropic's Messages API, scripted: replies, streams (with `event:` lines, as Anthropic
//! sends them), error bodies and message batches. The official `anthropic` SDK reads every one
//! of them in the conformance tests.

use serde_json::{Value, json};

use crate::{Reply, pieces};

/// The usage every scripted reply reports: 10 prompt tokens (3 of them read from the cache,
/// 2 written to it, so 5 plain) and 5 reply tokens.
pub fn usage() -> Value {
    json!({"input_tokens": 5, "output_tokens": 5, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 3})
}

/// A `message` with these content blocks and stop reason.
pub fn message(content: Vec<Value>, stop_reason: &str) -> Value {
    json!({
        "id": "msg_test", "type": "message", "role": "assistant", "model": "test-model",
        "content": content, "stop_reason": stop_reason, "stop_sequence": null, "usage": usage(),
    })
}

/// A text block.
pub fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A `tool_use` block (ids `toolu_0`, `toolu_1`, ...); `input` is JSON text of an object.
pub fn tool_use_block(i: usize, name: &str, input: &str) -> Value {
    let input: Value = serde_json::from_str(input).unwrap_or_else(|_| json!({}));
    json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": name, "input": input})
}

fn event(kind: &str, data: &Value) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

impl Reply {
    /// A Messages reply whose content is one text block.
    pub fn anthropic_text(text: &str) -> Reply {
        Reply::json(200, &message(vec![text_block(text)], "end_turn"))
    }

    /// A reply with one `tool_use` block.
    pub fn anthropic_tool_use(name: &str, input: &str) -> Reply {
        Reply::anthropic_tool_uses(&[(name, input)])
    }

    /// A reply with several `tool_use` blocks, `stop_reason: "tool_use"`.
    pub fn anthropic_tool_uses(calls: &[(&str, &str)]) -> Reply {
        let blocks = calls.iter().enumerate().map(|(i, (name, input))| tool_use_block(i, name, input)).collect();
        Reply::json(200, &message(blocks, "tool_use"))
    }

    /// A reply with any content blocks and stop reason.
    pub fn anthropic_message(content: Vec<Value>, stop_reason: &str) -> Reply {
        Reply::json(200, &message(content, stop_reason))
    }

    /// An Anthropic error body: `{"type": "error", "error": {"type", "message"}}`.
    pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_test"}),
        )
        .header("request-id", "req_test")
    }

    /// A streamed reply: `message_start`, a `ping`, the blocks (text `chunk_chars` characters
    /// per `text_delta`; tool input `chunk_chars` characters per `input_json_delta`), then
    /// `message_delta` with `stop_reason` and usage, and `message_stop`.
    pub fn anthropic_stream(blocks: &[Block<'_>], chunk_chars: usize, stop_reason: &str) -> Reply {
        Reply::sse_raw(anthropic_stream_events(blocks, chunk_chars, stop_reason))
    }

    /// A streamed text reply.
    pub fn anthropic_stream_text(text: &str, chunk_chars: usize) -> Reply {
        Reply::anthropic_stream(&[Block::Text(text)], chunk_chars, "end_turn")
    }

    /// Streamed `tool_use` blocks, one after another.
    pub fn anthropic_stream_tool_uses(calls: &[(&str, &str)], chunk_chars: usize) -> Reply {
        let blocks: Vec<Block<'_>> = calls.iter().map(|(name, input)| Block::ToolUse(name, input)).collect();
        Reply::anthropic_stream(&blocks, chunk_chars, "tool_use")
    }

    /// A batch as `POST /v1/messages/batches` and `GET .../{id}` answer it; `results_url` is
    /// set once `ended`.
    pub fn anthropic_batch(id: &str, status: &str, results_url: Option<&str>) -> Reply {
        Reply::json(
            200,
            &json!({
                "id": id, "type": "message_batch", "processing_status": status,
                "request_counts": {"processing": if status == "ended" { 0 } else { 1 }, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
                "ended_at": if status == "ended" { json!("2026-12-01T00:00:00Z") } else { Value::Null },
                "created_at": "2026-12-01T00:00:00Z", "expires_at": "2026-12-02T00:00:00Z",
                "archived_at": null, "cancel_initiated_at": null, "results_url": results_url,
            }),
        )
    }
}

/// A content block of a scripted stream.
#[derive(Debug, Clone, Copy)]
pub enum Block<'a> {
    /// A text block.
    Text(&'a str),
    /// A `tool_use` block: the tool's name and its input as JSON text.
    ToolUse(&'a str, &'a str),
}

/// The events of a streamed reply, each a whole SSE event (for scripts that cut them up).
pub fn anthropic_stream_events(blocks: &[Block<'_>], chunk_chars: usize, stop_reason: &str) -> Vec<String> {
    let mut start = message(Vec::new(), "");
    start["stop_reason"] = Value::Null;
    start["usage"] =
        json!({"input_tokens": 5, "output_tokens": 1, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 3});
    let mut out = vec![event("message_start", &json!({"type": "message_start", "message": start}))];
    out.push(event("ping", &json!({"type": "ping"})));
    let mut tools = 0;
    for (index, block) in blocks.iter().enumerate() {
        let (first, kind, field, body) = match block {
            Block::Text(text) => (json!({"type": "text", "text": ""}), "text_delta", "text", *text),
            Block::ToolUse(name, input) => {
                tools += 1;
                let first =
                    json!({"type": "tool_use", "id": format!("toolu_{}", tools - 1), "name": name, "input": {}});
                (first, "input_json_delta", "partial_json", *input)
            }
        };
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": first}),
        ));
        for piece in pieces(body, chunk_chars) {
            out.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": {"type": kind, field: piece}}),
            ));
        }
        out.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": index})));
    }
    out.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
    ));
    out.push(event("message_stop", &json!({"type": "message_stop"})));
    out
}

/// One line of a batch's results: a succeeded `message`, or an `errored` error body.
pub fn batch_result_line(custom_id: &str, result: Result<Value, (&str, &str)>) -> String {
    let result = match result {
        Ok(message) => json!({"type": "succeeded", "message": message}),
        Err((kind, text)) => {
            json!({"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": text}, "request_id": null}})
        }
    };
    json!({"custom_id": custom_id, "result": result}).to_string()
}
