//! Google's Gemini API, scripted: replies, `alt=sse` streams (each event a whole response
//! holding the new parts; no end marker), and `google.rpc.Status` error bodies. The official
//! `google-genai` SDK reads every one of them in the conformance tests.

use serde_json::{Value, json};

use crate::{Reply, pieces};

/// The usage every scripted reply reports: 10 prompt tokens (4 from the cache), 5 reply tokens.
pub fn usage() -> Value {
    json!({"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15, "cachedContentTokenCount": 4})
}

/// A response whose first candidate has these parts and finish reason.
pub fn response(parts: Vec<Value>, finish_reason: Option<&str>, usage: Option<Value>) -> Value {
    let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
    if let Some(reason) = finish_reason {
        candidate["finishReason"] = json!(reason);
    }
    let mut out = json!({"candidates": [candidate], "modelVersion": "gemini-test", "responseId": "resp-test"});
    if let Some(usage) = usage {
        out["usageMetadata"] = usage;
    }
    out
}

/// A `functionCall` part (no id, as the API often sends them); `args` is JSON text of an object.
pub fn function_call_part(name: &str, args: &str) -> Value {
    let args: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
    json!({"functionCall": {"name": name, "args": args}})
}

impl Reply {
    /// A reply whose text is `text`.
    pub fn gemini_text(text: &str) -> Reply {
        Reply::json(200, &response(vec![json!({"text": text})], Some("STOP"), Some(usage())))
    }

    /// A reply with these function calls (Gemini ends calls with `STOP` too).
    pub fn gemini_function_calls(calls: &[(&str, &str)]) -> Reply {
        let parts = calls.iter().map(|(name, args)| function_call_part(name, args)).collect();
        Reply::json(200, &response(parts, Some("STOP"), Some(usage())))
    }

    /// A reply with any parts and finish reason.
    pub fn gemini_response(parts: Vec<Value>, finish_reason: &str) -> Reply {
        Reply::json(200, &response(parts, Some(finish_reason), Some(usage())))
    }

    /// A `google.rpc.Status` error body; `retry_delay` adds a `RetryInfo` detail (`"2s"`).
    pub fn gemini_error(code: u16, status: &str, message: &str, retry_delay: Option<&str>) -> Reply {
        let mut details = Vec::new();
        if let Some(delay) = retry_delay {
            details.push(json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}));
        }
        Reply::json(code, &json!({"error": {"code": code, "message": message, "status": status, "details": details}}))
    }

    /// A streamed text reply, `chunk_chars` characters per event, the finish reason and usage on
    /// the last one.
    pub fn gemini_stream_text(text: &str, chunk_chars: usize) -> Reply {
        Reply::sse_raw(gemini_stream_events(text, &[], chunk_chars, "STOP"))
    }

    /// Streamed function calls: each arrives whole, in an event of its own.
    pub fn gemini_stream_function_calls(calls: &[(&str, &str)]) -> Reply {
        Reply::sse_raw(gemini_stream_events("", calls, 1, "STOP"))
    }
}

/// The events of a streamed reply: text in pieces, then each call whole, the last event with
/// `finish_reason` and the usage totals (every event repeats running usage, as Gemini does).
pub fn gemini_stream_events(
    text: &str,
    calls: &[(&str, &str)],
    chunk_chars: usize,
    finish_reason: &str,
) -> Vec<String> {
    let running = |n: u64| json!({"promptTokenCount": 10, "candidatesTokenCount": n, "totalTokenCount": 10 + n});
    let mut bodies: Vec<Value> = pieces(text, chunk_chars)
        .into_iter()
        .enumerate()
        .map(|(i, piece)| response(vec![json!({"text": piece})], None, Some(running(i as u64 + 1))))
        .collect();
    bodies.extend(
        calls.iter().map(|(name, args)| response(vec![function_call_part(name, args)], None, Some(running(1)))),
    );
    match bodies.last_mut() {
        Some(last) => {
            last["candidates"][0]["finishReason"] = json!(finish_reason);
            last["usageMetadata"] = usage();
        }
        None => bodies.push(response(vec![json!({"text": ""})], Some(finish_reason), Some(usage()))),
    }
    // Google frames its events with CRLF.
    bodies.into_iter().map(|body| format!("data: {body}\r\n\r\n")).collect()
}
