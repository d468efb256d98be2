//! The bad-input corpus for the Responses and Messages dialects: each case gets the right 4xx in
//! its dialect's error shape (never a 5xx), and the server still answers afterwards.

mod common;

use std::time::Duration;

use common::*;
use instructor_testserver::spec;
use serde_json::{Value, json};

const LIMIT: usize = 64 * 1024;

enum Send {
    Body(Vec<u8>),
    /// A streamed request, dropped by the client after the first chunk.
    CutStream(Value),
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    /// Responses: the `param` named; Messages: a text the message must hold.
    names: Option<&'static str>,
    /// Messages: the error type.
    kind: Option<&'static str>,
}

fn case(name: &'static str, send: Send, status: u16, names: Option<&'static str>) -> Case {
    Case { name, send, status, names, kind: None }
}

fn body(v: Value) -> Send {
    Send::Body(v.to_string().into_bytes())
}

fn responses_corpus(m: &str) -> Vec<Case> {
    let base = || json!({"model": m, "input": "hi", "max_output_tokens": 16});
    let with = |field: &str, value: Value| {
        let mut b = base();
        b[field] = value;
        body(b)
    };
    let items = |items: Value| with("input", items);
    let format = |format: Value| with("text", json!({"format": format}));
    vec![
        case("not JSON", Send::Body(b"{\"model\": ".to_vec()), 400, None),
        case("not an object", body(json!(["hi"])), 400, None),
        case("no model", body(json!({"input": "hi"})), 400, Some("model")),
        case("no input", body(json!({"model": m})), 400, Some("input")),
        case("empty input", with("input", json!("  ")), 400, Some("input")),
        case("no input items", with("input", json!([])), 400, Some("input")),
        case("input a number", with("input", json!(42)), 400, Some("input")),
        case("unknown role", items(json!([{"role": "wizard", "content": "hi"}])), 400, Some("input[0].role")),
        case("message without content", items(json!([{"role": "user"}])), 400, Some("input[0].content")),
        case(
            "image part",
            items(
                json!([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png", "detail": "auto"}]}]),
            ),
            400,
            Some("input[0].content[0]"),
        ),
        case(
            "file part",
            items(json!([{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}])),
            400,
            Some("input[0].content[0]"),
        ),
        case(
            "unknown part",
            items(json!([{"role": "user", "content": [{"type": "input_video"}]}])),
            400,
            Some("input[0].content[0].type"),
        ),
        case(
            "output without its call",
            items(
                json!([{"role": "user", "content": "hi"}, {"type": "function_call_output", "call_id": "call_9", "output": "x"}]),
            ),
            400,
            Some("input[1].call_id"),
        ),
        case(
            "call without a name",
            items(json!([{"type": "function_call", "call_id": "c", "arguments": "{}"}])),
            400,
            Some("input[0].name"),
        ),
        case("item reference", items(json!([{"type": "item_reference", "id": "msg_1"}])), 400, Some("input[0].type")),
        case("unknown item", items(json!([{"type": "web_search_call", "id": "ws_1"}])), 400, Some("input[0].type")),
        case("unknown text.format", format(json!({"type": "yaml"})), 400, Some("text")),
        case("json_schema without schema", format(json!({"type": "json_schema", "name": "x"})), 400, Some("text")),
        case(
            "a schema that is not one",
            format(json!({"type": "json_schema", "name": "x", "schema": {"type": "nonsense"}})),
            400,
            Some("text.format.schema"),
        ),
        case("a non-function tool", with("tools", json!([{"type": "web_search_preview"}])), 400, Some("tools[0]")),
        case(
            "a tool with a bad name",
            with(
                "tools",
                json!([{"type": "function", "name": "no spaces", "parameters": {"type": "object"}, "strict": null}]),
            ),
            400,
            Some("tools[0].name"),
        ),
        case(
            "a tool choice that names nothing",
            body(
                json!({"model": m, "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": null}], "tool_choice": {"type": "function", "name": "g"}}),
            ),
            400,
            Some("tool_choice.name"),
        ),
        case("required without tools", with("tool_choice", json!("required")), 400, Some("tool_choice")),
        case("previous_response_id", with("previous_response_id", json!("resp_1")), 400, Some("previous_response_id")),
        case("temperature out of range", with("temperature", json!(3.5)), 400, Some("temperature")),
        case("max_output_tokens zero", with("max_output_tokens", json!(0)), 400, Some("max_output_tokens")),
        case("unknown model", with("model", json!("gpt-5")), 404, Some("model")),
        case("body over the limit", Send::Body(vec![b' '; LIMIT + 1]), 413, None),
        case(
            "stream cut by the client",
            Send::CutStream(json!({"model": m, "input": "Write a long story.", "max_output_tokens": 400})),
            200,
            None,
        ),
    ]
}

fn messages_corpus(m: &str) -> Vec<Case> {
    let base = || json!({"model": m, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let with = |field: &str, value: Value| {
        let mut b = base();
        b[field] = value;
        body(b)
    };
    let turns = |messages: Value| with("messages", messages);
    let tool = json!({"name": "f", "input_schema": {"type": "object"}});
    let kind = |mut c: Case, kind: &'static str| {
        c.kind = Some(kind);
        c
    };
    vec![
        case("not JSON", Send::Body(b"{\"model\"".to_vec()), 400, None),
        case(
            "no max_tokens",
            body(json!({"model": m, "messages": [{"role": "user", "content": "hi"}]})),
            400,
            Some("max_tokens"),
        ),
        case("max_tokens zero", with("max_tokens", json!(0)), 400, Some("max_tokens")),
        case("no messages", body(json!({"model": m, "max_tokens": 16})), 400, Some("messages")),
        case("empty messages", turns(json!([])), 400, Some("messages")),
        case("unknown role", turns(json!([{"role": "system", "content": "hi"}])), 400, Some("messages[0]")),
        case(
            "unknown block type",
            turns(json!([{"role": "user", "content": [{"type": "video", "url": "x"}]}])),
            400,
            Some("messages[0]"),
        ),
        case(
            "image block",
            turns(
                json!([{"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "https://x/a.png"}}]}]),
            ),
            400,
            Some("images"),
        ),
        case(
            "document block",
            turns(
                json!([{"role": "user", "content": [{"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}}]}]),
            ),
            400,
            Some("documents"),
        ),
        case(
            "tool_result without its tool_use",
            turns(
                json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]}]),
            ),
            400,
            Some("tool_use_id"),
        ),
        case(
            "tool_use in a user turn",
            turns(json!([{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}])),
            400,
            Some("assistant turns"),
        ),
        case(
            "tool_result in an assistant turn",
            turns(
                json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]),
            ),
            400,
            Some("user turns"),
        ),
        case(
            "tool_use input not an object",
            turns(
                json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]}]),
            ),
            400,
            Some("input"),
        ),
        case(
            "empty assistant turn",
            turns(json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": []}])),
            400,
            Some("assistant turn"),
        ),
        case(
            "system block not text",
            with("system", json!([{"type": "image", "source": {"type": "url", "url": "x"}}])),
            400,
            Some("system"),
        ),
        case("tool without input_schema", with("tools", json!([{"name": "f"}])), 400, Some("input_schema")),
        case(
            "bad input_schema",
            with("tools", json!([{"name": "f", "input_schema": {"type": 12}}])),
            400,
            Some("input_schema"),
        ),
        case(
            "tool choice names nothing",
            body(
                json!({"model": m, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], "tools": [tool], "tool_choice": {"type": "tool", "name": "g"}}),
            ),
            400,
            Some("tool_choice"),
        ),
        case("unknown tool choice", with("tool_choice", json!({"type": "sometimes"})), 400, Some("tool_choice")),
        case("any without tools", with("tool_choice", json!({"type": "any"})), 400, Some("tool_choice")),
        case(
            "bad output format",
            with("output_config", json!({"format": {"type": "json_schema", "schema": {"type": "nonsense"}}})),
            400,
            Some("output_config.format.schema"),
        ),
        case("temperature out of range", with("temperature", json!(1.5)), 400, Some("temperature")),
        case(
            "too many stop sequences",
            with("stop_sequences", json!((0..20).map(|i| i.to_string()).collect::<Vec<_>>())),
            400,
            Some("stop_sequences"),
        ),
        kind(case("unknown model", with("model", json!("claude-opus")), 404, Some("claude-opus")), "not_found_error"),
        kind(case("body over the limit", Send::Body(vec![b' '; LIMIT + 1]), 413, None), "request_too_large"),
        case(
            "stream cut by the client",
            Send::CutStream(
                json!({"model": m, "max_tokens": 400, "messages": [{"role": "user", "content": "Write a long story."}]}),
            ),
            200,
            None,
        ),
    ]
}

async fn run(server: &Running, path: &str, cases: Vec<Case>, anthropic: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let (status, text) = match case.send {
            Send::Body(bytes) => {
                let response = server
                    .http
                    .post(format!("{}{path}", server.url))
                    .header("content-type", "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{}: no answer: {e}", case.name));
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Send::CutStream(mut body) => {
                body["stream"] = json!(true);
                let mut response = server
                    .http
                    .post(format!("{}{path}", server.url))
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("answer");
                let status = response.status().as_u16();
                let first = response.chunk().await.expect("a chunk").expect("not the end");
                drop(response);
                server.wait_idle(Duration::from_secs(10)).await;
                (status, String::from_utf8_lossy(&first).into_owned())
            }
        };
        if status != case.status {
            failures.push(format!("{path} {}: status {status}, expected {}: {text}", case.name, case.status));
            continue;
        }
        if status >= 400 {
            let Ok(error) = serde_json::from_str::<Value>(&text) else {
                failures.push(format!("{path} {}: not JSON: {text}", case.name));
                continue;
            };
            if anthropic {
                let kind = error["error"]["type"].as_str().unwrap_or_default();
                let message = error["error"]["message"].as_str().unwrap_or_default();
                let expected_kind = case.kind.unwrap_or("invalid_request_error");
                if error["type"] != "error" || kind != expected_kind {
                    failures.push(format!("{path} {}: not an Anthropic {expected_kind} body: {text}", case.name));
                }
                if let Some(names) = case.names.filter(|n| !message.contains(n)) {
                    failures.push(format!("{path} {}: the message does not name {names}: {message}", case.name));
                }
            } else {
                spec::assert_conforms_responses("ErrorResponse", &error);
                let param = error["error"]["param"].as_str();
                if let Some(expected) = case.names.filter(|e| param.is_none_or(|p| !p.starts_with(e))) {
                    failures.push(format!("{path} {}: param {param:?}, expected {expected}: {text}", case.name));
                }
            }
        }
        server.assert_still_serving().await;
    }
    failures
}

#[tokio::test]
async fn bad_responses_and_messages_requests_get_the_right_4xx_and_the_server_keeps_serving() {
    let server = start(config().max_body_bytes(LIMIT)).await;
    let responses = responses_corpus(&server.model);
    let messages = messages_corpus(&server.model);
    assert!(responses.len() >= 20 && messages.len() >= 20);
    let mut failures = run(&server, "/v1/responses", responses, false).await;
    failures.extend(run(&server, "/v1/messages", messages, true).await);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn a_full_queue_is_overloaded_error_529_for_anthropic_clients() {
    let server = start(config().parallel(1).queue(0)).await;
    let long = json!({"model": server.model, "max_tokens": 400, "stream": true,
                      "messages": [{"role": "user", "content": "Write a long story."}]});
    let mut busy =
        server.http.post(format!("{}/v1/messages", server.url)).body(long.to_string()).send().await.expect("answer");
    let _ = busy.chunk().await;
    server.wait_running(1).await;
    let (status, body) = server
        .post(
            "/v1/messages",
            &json!({"model": server.model, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}),
            &[],
        )
        .await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(body["error"]["type"], "overloaded_error");
    drop(busy);
    server.wait_idle(Duration::from_secs(10)).await;
}
