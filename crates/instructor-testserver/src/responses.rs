//! OpenAI's Responses API, scripted: responses (every field the spec requires), typed event
//! streams, and the lifecycle of an incomplete or failed response. Everything here validates
//! against `../shared/spec/openai-responses.schema.json`, and the official `openai` SDK reads it.

use serde_json::{Value, json};

use crate::{Reply, pieces};

/// The usage every scripted response reports: 10 prompt tokens (4 cached), 5 reply tokens.
pub fn usage() -> Value {
    json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
           "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15})
}

/// A response with these output items and status (`incomplete` gets `max_output_tokens` as its
/// reason); `usage` is left out while the response is in progress, as the spec wants.
pub fn response(output: Vec<Value>, status: &str) -> Value {
    let mut out = json!({
        "id": "resp_test", "object": "response", "created_at": 1_700_000_000u64, "status": status,
        "model": "test-model", "output": output, "error": null, "incomplete_details": null,
        "instructions": null, "metadata": null, "temperature": null, "top_p": null,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
    });
    match status {
        "incomplete" => out["incomplete_details"] = json!({"reason": "max_output_tokens"}),
        "failed" => out["error"] = json!({"code": "server_error", "message": "the model failed"}),
        _ => {}
    }
    if status != "in_progress" {
        out["usage"] = usage();
    }
    out
}

/// An assistant message item holding `text`.
pub fn message_item(text: &str, status: &str) -> Value {
    json!({"type": "message", "id": "msg_test", "role": "assistant", "status": status,
           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
}

/// A function call item (`fc_{i}`, call id `call_{i}`).
pub fn function_call_item(i: usize, name: &str, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": format!("call_{i}"), "name": name,
           "arguments": arguments, "status": status})
}

impl Reply {
    /// A completed response whose text is `text`.
    pub fn responses_text(text: &str) -> Reply {
        Reply::json(200, &response(vec![message_item(text, "completed")], "completed"))
    }

    /// A completed response with these function calls.
    pub fn responses_function_calls(calls: &[(&str, &str)]) -> Reply {
        let items =
            calls.iter().enumerate().map(|(i, (name, args))| function_call_item(i, name, args, "completed")).collect();
        Reply::json(200, &response(items, "completed"))
    }

    /// A response with any output and status.
    pub fn responses_response(output: Vec<Value>, status: &str) -> Reply {
        Reply::json(200, &response(output, status))
    }

    /// A streamed text reply, `chunk_chars` characters per `response.output_text.delta`.
    pub fn responses_stream_text(text: &str, chunk_chars: usize) -> Reply {
        Reply::sse_raw(responses_stream_events(Some(text), &[], chunk_chars, "completed"))
    }

    /// Streamed function calls, one item after another, arguments `chunk_chars` characters per
    /// `response.function_call_arguments.delta`.
    pub fn responses_stream_function_calls(calls: &[(&str, &str)], chunk_chars: usize) -> Reply {
        Reply::sse_raw(responses_stream_events(None, calls, chunk_chars, "completed"))
    }
}

/// The typed events of a streamed response, each a whole SSE event (`event:` and `data:`):
/// `response.created`, `response.in_progress`, then per item `output_item.added` (and
/// `content_part.added`), the deltas, the `.done` events, and `response.completed` (or
/// `.incomplete` / `.failed`, by `status`).
pub fn responses_stream_events(
    text: Option<&str>,
    calls: &[(&str, &str)],
    chunk_chars: usize,
    status: &str,
) -> Vec<String> {
    let mut seq = 0u64;
    let mut out = Vec::new();
    let mut push = |mut event: Value| {
        event["sequence_number"] = json!(seq);
        seq += 1;
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        out.push(format!("event: {kind}\ndata: {event}\n\n"));
    };
    push(json!({"type": "response.created", "response": response(Vec::new(), "in_progress")}));
    push(json!({"type": "response.in_progress", "response": response(Vec::new(), "in_progress")}));
    let mut items = Vec::new();
    if let Some(text) = text {
        let index = items.len();
        push(json!({"type": "response.output_item.added", "output_index": index,
                    "item": {"type": "message", "id": "msg_test", "role": "assistant", "status": "in_progress", "content": []}}));
        push(
            json!({"type": "response.content_part.added", "item_id": "msg_test", "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}}),
        );
        for piece in pieces(text, chunk_chars) {
            push(json!({"type": "response.output_text.delta", "item_id": "msg_test", "output_index": index,
                        "content_index": 0, "delta": piece, "logprobs": []}));
        }
        push(json!({"type": "response.output_text.done", "item_id": "msg_test", "output_index": index,
                    "content_index": 0, "text": text, "logprobs": []}));
        push(
            json!({"type": "response.content_part.done", "item_id": "msg_test", "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": text, "annotations": [], "logprobs": []}}),
        );
        let item_status = if status == "incomplete" { "incomplete" } else { "completed" };
        let done = message_item(text, item_status);
        push(json!({"type": "response.output_item.done", "output_index": index, "item": done}));
        items.push(done);
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let index = items.len();
        let id = format!("fc_{i}");
        push(json!({"type": "response.output_item.added", "output_index": index,
                    "item": function_call_item(i, name, "", "in_progress")}));
        for piece in pieces(args, chunk_chars) {
            push(
                json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": index, "delta": piece}),
            );
        }
        push(json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": index,
                    "name": name, "arguments": args}));
        let done = function_call_item(i, name, args, "completed");
        push(json!({"type": "response.output_item.done", "output_index": index, "item": done}));
        items.push(done);
    }
    let kind = match status {
        "incomplete" => "response.incomplete",
        "failed" => "response.failed",
        _ => "response.completed",
    };
    push(json!({"type": kind, "response": response(items, status)}));
    out
}
