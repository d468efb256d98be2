//! The official SDKs (`anthropic`, `google-genai`, `openai`) read every kind of reply the
//! scripted server sends — bodies, streams, error bodies, batches — so the fakes the other tests
//! rely on are proved to speak the real protocols. Replies are read strictly (unknown or missing
//! fields are errors).

use instructor_testserver::anthropic::{Block, anthropic_stream_events, batch_result_line, message, text_block};
use instructor_testserver::gemini::gemini_stream_events;
use instructor_testserver::responses::{message_item, responses_stream_events};
use instructor_testserver::{Reply, TestServer, sdk};
use serde_json::{Value, json};

const JASON: &str = r#"{"name":"Jason","age":20}"#;

fn summary(result: &Value) -> &Value {
    assert_eq!(result["ok"], true, "the SDK could not read it: {result}");
    &result["summary"]
}

fn error(result: &Value) -> &Value {
    assert_eq!(result["ok"], false, "expected an error: {result}");
    &result["error"]
}

#[test]
fn anthropic_sdk_reads_every_reply() {
    let server = TestServer::start();
    server.push(Reply::anthropic_text("Hello there"));
    server.push(Reply::anthropic_tool_uses(&[("UserDetails", JASON), ("UserDetails", r#"{"name":"Sarah","age":25}"#)]));
    server.push(Reply::anthropic_message(vec![text_block(r#"{"name":"Ja"#)], "max_tokens"));
    server.push(Reply::anthropic_stream_text("Hello, world", 3));
    server.push(Reply::anthropic_stream(
        &[Block::Text("Let me call."), Block::ToolUse("UserDetails", JASON)],
        4,
        "tool_use",
    ));
    server.push(Reply::anthropic_error(429, "rate_limit_error", "slow down").header("retry-after", "1"));
    server.push(Reply::anthropic_error(529, "overloaded_error", "Overloaded"));
    let mut cut = anthropic_stream_events(&[Block::Text(JASON)], 3, "end_turn")[..4].to_vec();
    cut.push("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".into());
    server.push(Reply::sse_raw(cut));
    // A batch: created, still running, ended (retrieved again by `results()`), then its results.
    let results_url = format!("{}/v1/messages/batches/msgbatch_1/results", server.origin());
    server.push(Reply::anthropic_batch("msgbatch_1", "in_progress", None));
    server.push(Reply::anthropic_batch("msgbatch_1", "ended", Some(&results_url)));
    server.push(Reply::anthropic_batch("msgbatch_1", "ended", Some(&results_url)));
    let lines = [
        batch_result_line("r0", Ok(message(vec![text_block(JASON)], "end_turn"))),
        batch_result_line("r1", Err(("invalid_request_error", "bad"))),
    ];
    server.push(Reply::raw(200, lines.join("\n") + "\n"));

    let op = |op: &str| json!({"sdk": "anthropic", "op": op});
    let read = sdk::read_with_sdks(
        &server.origin(),
        &[
            op("create"),
            op("create"),
            op("create"),
            op("stream"),
            op("stream"),
            op("create"),
            op("create"),
            op("stream"),
            op("batch"),
        ],
    );
    assert_eq!(read.len(), 9);
    let text = summary(&read[0]);
    assert_eq!((&text["text"], &text["stop"]), (&json!("Hello there"), &json!("end_turn")));
    let usage = &text["usage"];
    assert_eq!(
        (&usage["input_tokens"], &usage["cache_read_input_tokens"], &usage["cache_creation_input_tokens"]),
        (&json!(5), &json!(3), &json!(2))
    );
    let calls = &summary(&read[1])["calls"];
    assert_eq!(calls[1]["arguments"], json!({"name": "Sarah", "age": 25}));
    assert_eq!(calls[0]["id"], "toolu_0");
    assert_eq!(summary(&read[2])["stop"], "max_tokens");
    assert_eq!(summary(&read[3])["text"], "Hello, world");
    let events = summary(&read[3])["events"].as_array().expect("events").clone();
    assert_eq!(events.first(), Some(&json!("message_start")));
    assert_eq!(events.last(), Some(&json!("message_stop")));
    let streamed = summary(&read[4]);
    assert_eq!(streamed["calls"][0]["arguments"], json!({"name": "Jason", "age": 20}));
    assert_eq!((&streamed["text"], &streamed["stop"]), (&json!("Let me call."), &json!("tool_use")));
    assert_eq!((&error(&read[5])["status"], &error(&read[5])["type"]), (&json!(429), &json!("rate_limit_error")));
    assert_eq!((&error(&read[6])["status"], &error(&read[6])["type"]), (&json!(529), &json!("overloaded_error")));
    assert_eq!(error(&read[7])["type"], "overloaded_error");
    let batch = summary(&read[8]);
    assert!(batch.to_string().contains("invalid_request_error") && batch.to_string().contains("Jason"), "{batch}");
}

#[test]
fn gemini_sdk_reads_every_reply() {
    let server = TestServer::start();
    server.push(Reply::gemini_text("Hello there"));
    server
        .push(Reply::gemini_function_calls(&[("UserDetails", JASON), ("UserDetails", r#"{"name":"Sarah","age":25}"#)]));
    server.push(Reply::gemini_response(vec![json!({"text": r#"{"name":"Ja"#})], "MAX_TOKENS"));
    server.push(Reply::gemini_stream_text("Hello, world", 4));
    server.push(Reply::sse_raw(gemini_stream_events("", &[("UserDetails", JASON)], 1, "STOP")));
    server.push(Reply::gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", Some("2s")));
    let mut cut = gemini_stream_events(JASON, &[], 3, "STOP")[..2].to_vec();
    cut.push(
        "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n"
            .into(),
    );
    server.push(Reply::sse_raw(cut));

    let op = |op: &str| json!({"sdk": "gemini", "op": op});
    let read = sdk::read_with_sdks(
        &server.origin(),
        &[op("create"), op("create"), op("create"), op("stream"), op("stream"), op("create"), op("stream")],
    );
    let text = summary(&read[0]);
    assert_eq!((&text["text"], &text["stop"]), (&json!("Hello there"), &json!("STOP")));
    assert!(text["usage"].to_string().contains('4'), "cached tokens read: {}", text["usage"]);
    assert_eq!(summary(&read[1])["calls"][1]["arguments"], json!({"name": "Sarah", "age": 25}));
    assert_eq!(summary(&read[2])["stop"], "MAX_TOKENS");
    assert_eq!(summary(&read[3])["text"], "Hello, world");
    assert_eq!(summary(&read[4])["calls"][0]["name"], "UserDetails");
    let quota = error(&read[5]);
    assert_eq!((&quota["status"], &quota["type"]), (&json!(429), &json!("RESOURCE_EXHAUSTED")));
    assert!(quota.to_string().contains("RetryInfo"), "{quota}");
    assert_eq!(error(&read[6])["type"], "UNAVAILABLE");
}

#[test]
fn openai_sdk_reads_every_responses_and_chat_reply() {
    let server = TestServer::start();
    server.push(Reply::responses_text("Hello there"));
    server.push(Reply::responses_function_calls(&[("UserDetails", JASON)]));
    server.push(Reply::responses_response(vec![message_item(r#"{"name":"Ja"#, "incomplete")], "incomplete"));
    server.push(Reply::responses_stream_text("Hello, world", 3));
    server.push(Reply::responses_stream_function_calls(&[("UserDetails", JASON), ("UserDetails", JASON)], 5));
    server.push(Reply::sse_raw(responses_stream_events(Some(r#"{"na"#), &[], 2, "incomplete")));
    server.push(Reply::error(429, "Rate limit reached"));
    server.push(Reply::text("Hello there"));
    server.push(Reply::stream_tool_calls(&[("UserDetails", JASON)], 3));

    let op = |sdk: &str, op: &str| json!({"sdk": sdk, "op": op});
    let read = sdk::read_with_sdks(
        &server.url(),
        &[
            op("openai-responses", "create"),
            op("openai-responses", "create"),
            op("openai-responses", "create"),
            op("openai-responses", "stream"),
            op("openai-responses", "stream"),
            op("openai-responses", "stream"),
            op("openai-responses", "create"),
            op("openai-chat", "create"),
            op("openai-chat", "stream"),
        ],
    );
    assert_eq!(summary(&read[0])["text"], "Hello there");
    assert_eq!(summary(&read[0])["usage"]["input_tokens_details"]["cached_tokens"], 4);
    assert_eq!(summary(&read[1])["calls"][0]["arguments"], json!({"name": "Jason", "age": 20}));
    assert_eq!(summary(&read[2])["stop"], "incomplete");
    assert_eq!(summary(&read[3])["text"], "Hello, world");
    assert_eq!(summary(&read[4])["calls"].as_array().map(Vec::len), Some(2));
    // The SDK's stream helper has no final response for an incomplete one: it says so.
    assert!(error(&read[5])["message"].as_str().is_some_and(|m| m.contains("response.completed")), "{}", read[5]);
    assert_eq!(error(&read[6])["status"], 429);
    assert_eq!(summary(&read[7])["text"], "Hello there");
    assert_eq!(summary(&read[8])["calls"][0]["arguments"], json!({"name": "Jason", "age": 20}));
}
