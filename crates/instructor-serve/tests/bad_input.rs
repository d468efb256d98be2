//! The bad-input corpus: each case gets the right 4xx with an OpenAI error body (never a 5xx),
//! and the server still answers afterwards.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// What a case sends.
enum Send {
    /// A POST to /v1/chat/completions with this body.
    Body(Vec<u8>),
    /// A request with this method and path, no body.
    Route(&'static str, &'static str),
    /// A streamed request, dropped by the client after the first chunk.
    CutStream(Value),
}

struct Case {
    name: &'static str,
    send: Send,
    status: u16,
    /// The `param` the error names, when it names one.
    param: Option<&'static str>,
    /// The error `code`, when there is one.
    code: Option<&'static str>,
}

fn json_body(v: Value) -> Send {
    Send::Body(v.to_string().into_bytes())
}

/// A valid request with one field changed (or removed, with `null` as the value... see `without`).
fn with(model: &str, field: &str, value: Value) -> Send {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4});
    body[field] = value;
    json_body(body)
}

fn without(model: &str, field: &str) -> Send {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4});
    body.as_object_mut().expect("object").remove(field);
    json_body(body)
}

fn message(model: &str, message: Value) -> Send {
    json_body(json!({"model": model, "messages": [message], "max_tokens": 4}))
}

fn format(model: &str, format: Value) -> Send {
    with(model, "response_format", format)
}

fn case(name: &'static str, send: Send, status: u16, param: Option<&'static str>, code: Option<&'static str>) -> Case {
    Case { name, send, status, param, code }
}

const LIMIT: usize = 64 * 1024;

fn corpus(m: &str) -> Vec<Case> {
    let tool = |parameters: Value| json!([{"type": "function", "function": {"name": "f", "parameters": parameters}}]);
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    vec![
        case("malformed JSON", Send::Body(br#"{"model": "#.to_vec()), 400, None, Some("invalid_json")),
        case("empty body", Send::Body(Vec::new()), 400, None, Some("invalid_json")),
        case("not UTF-8", Send::Body(vec![b'{', 0xff, 0xfe, b'}']), 400, None, Some("invalid_json")),
        case("nesting bomb", Send::Body(deep.into_bytes()), 400, None, Some("invalid_json")),
        case("body is an array", Send::Body(b"[]".to_vec()), 400, None, None),
        case("body is a string", Send::Body(br#""hello""#.to_vec()), 400, None, None),
        case("missing model", without(m, "model"), 400, Some("model"), None),
        case("model is a number", with(m, "model", json!(7)), 400, Some("model"), None),
        case("missing messages", without(m, "messages"), 400, Some("messages"), None),
        case("messages not a list", with(m, "messages", json!("hi")), 400, Some("messages"), None),
        case("messages empty", with(m, "messages", json!([])), 400, Some("messages"), None),
        case("message not an object", with(m, "messages", json!(["hi"])), 400, Some("messages[0]"), None),
        case("bad role", message(m, json!({"role": "robot", "content": "hi"})), 400, Some("messages[0].role"), None),
        case("missing role", message(m, json!({"content": "hi"})), 400, Some("messages[0].role"), None),
        case(
            "content a number",
            message(m, json!({"role": "user", "content": 5})),
            400,
            Some("messages[0].content"),
            None,
        ),
        case("user without content", message(m, json!({"role": "user"})), 400, Some("messages[0].content"), None),
        case(
            "image part (the model reads text only)",
            message(m, json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]})),
            400,
            Some("messages[0].content[0]"),
            None,
        ),
        case(
            "audio part",
            message(
                m,
                json!({"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}),
            ),
            400,
            Some("messages[0].content[1]"),
            None,
        ),
        case(
            "file part",
            message(
                m,
                json!({"role": "user", "content": [{"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}}]}),
            ),
            400,
            Some("messages[0].content[0]"),
            None,
        ),
        case(
            "tool message without id",
            message(m, json!({"role": "tool", "content": "x"})),
            400,
            Some("messages[0].tool_call_id"),
            None,
        ),
        case(
            "function role",
            message(m, json!({"role": "function", "content": "x"})),
            400,
            Some("messages[0].role"),
            None,
        ),
        case("max_tokens a string", with(m, "max_tokens", json!("ten")), 400, Some("max_tokens"), None),
        case("max_tokens negative", with(m, "max_tokens", json!(-1)), 400, Some("max_tokens"), None),
        case("max_tokens zero", with(m, "max_tokens", json!(0)), 400, Some("max_tokens"), None),
        case("temperature too high", with(m, "temperature", json!(5)), 400, Some("temperature"), None),
        case("top_p a string", with(m, "top_p", json!("high")), 400, Some("top_p"), None),
        case("seed a float", with(m, "seed", json!(1.5)), 400, Some("seed"), None),
        case("n = 2", with(m, "n", json!(2)), 400, Some("n"), None),
        case("stream a string", with(m, "stream", json!("yes")), 400, Some("stream"), None),
        case("stop a number", with(m, "stop", json!(5)), 400, Some("stop"), None),
        case("five stops", with(m, "stop", json!(["a", "b", "c", "d", "e"])), 400, Some("stop"), None),
        case("unknown format type", format(m, json!({"type": "xml"})), 400, Some("response_format.type"), None),
        case("format without type", format(m, json!({"schema": {}})), 400, Some("response_format.type"), None),
        case(
            "json_schema without json_schema",
            format(m, json!({"type": "json_schema"})),
            400,
            Some("response_format.json_schema"),
            None,
        ),
        case(
            "json_schema: invalid schema",
            format(m, json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "strin"}}})),
            400,
            Some("response_format.json_schema.schema"),
            Some("invalid_schema"),
        ),
        case(
            "json_schema: schema not an object",
            format(m, json!({"type": "json_schema", "json_schema": {"name": "x", "schema": [1]}})),
            400,
            Some("response_format.json_schema.schema"),
            Some("invalid_schema"),
        ),
        case(
            "json_object + schema: invalid schema",
            format(m, json!({"type": "json_object", "schema": {"properties": 5}})),
            400,
            Some("response_format.schema"),
            Some("invalid_schema"),
        ),
        case(
            "schema with a dangling $ref",
            format(m, json!({"type": "json_object", "schema": {"$ref": "#/$defs/missing"}})),
            400,
            Some("response_format.schema"),
            Some("invalid_schema"),
        ),
        case(
            "schema the grammar compiler refuses",
            format(m, json!({"type": "json_schema", "json_schema": {"name": "x", "schema": overlapping_patterns()}})),
            400,
            Some("response_format"),
            Some("invalid_schema"),
        ),
        case(
            "tool with invalid parameters",
            with(m, "tools", tool(json!({"type": "object", "required": "a"}))),
            400,
            Some("tools[0].function.parameters"),
            Some("invalid_schema"),
        ),
        case(
            "tool of another type",
            with(m, "tools", json!([{"type": "custom", "function": {"name": "f"}}])),
            400,
            Some("tools[0].type"),
            None,
        ),
        case(
            "tool with a bad name",
            with(m, "tools", json!([{"type": "function", "function": {"name": "a b"}}])),
            400,
            Some("tools[0].function.name"),
            None,
        ),
        case("tools not a list", with(m, "tools", json!({"a": 1})), 400, Some("tools"), None),
        case("tool_choice unknown string", with(m, "tool_choice", json!("sometimes")), 400, Some("tool_choice"), None),
        case(
            "tool_choice required without tools",
            with(m, "tool_choice", json!("required")),
            400,
            Some("tool_choice"),
            None,
        ),
        case(
            "tool_choice names a missing tool",
            json_body(
                json!({"model": m, "messages": [{"role": "user", "content": "hi"}], "tools": tool(json!({"type": "object"})),
                "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            ),
            400,
            Some("tool_choice.function.name"),
            None,
        ),
        case(
            "prompt too long for the context",
            with(m, "max_tokens", json!(1_000_000)),
            400,
            Some("messages"),
            Some("context_length_exceeded"),
        ),
        case("unknown model", with(m, "model", json!("gpt-4o")), 404, Some("model"), Some("model_not_found")),
        case("unknown route", Send::Route("POST", "/v1/completions"), 404, None, Some("unknown_url")),
        case("unknown route (GET)", Send::Route("GET", "/v2/anything"), 404, None, Some("unknown_url")),
        case("wrong method", Send::Route("GET", "/v1/chat/completions"), 405, None, None),
        case("body over the limit", Send::Body(vec![b' '; LIMIT + 1]), 413, None, Some("request_too_large")),
        case("stream cut by the client", Send::CutStream(long_request(m, 400)), 200, None, None),
    ]
}

#[tokio::test]
async fn every_bad_input_gets_the_right_4xx_and_the_server_keeps_serving() {
    let server = start(config().max_body_bytes(LIMIT)).await;
    let cases = corpus(&server.model);
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let (status, body) = match case.send {
            Send::Body(bytes) => {
                let response = server
                    .http
                    .post(format!("{}/v1/chat/completions", server.url))
                    .header("content-type", "application/json")
                    .body(bytes)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{}: no answer: {e}", case.name));
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Send::Route(method, path) => {
                let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                let response =
                    server.http.request(method, format!("{}{path}", server.url)).send().await.expect("an answer");
                let status = response.status().as_u16();
                (status, response.text().await.unwrap_or_default())
            }
            Send::CutStream(mut body) => {
                body["stream"] = json!(true);
                let mut response = server
                    .http
                    .post(format!("{}/v1/chat/completions", server.url))
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("an answer");
                let status = response.status().as_u16();
                let first = response.chunk().await.expect("a chunk").expect("not the end");
                drop(response);
                // The generation stops soon (it would take many seconds to finish).
                server.wait_idle(Duration::from_secs(10)).await;
                (status, String::from_utf8_lossy(&first).into_owned())
            }
        };
        if status != case.status {
            failures.push(format!("{}: status {status}, expected {}: {body}", case.name, case.status));
            continue;
        }
        if status >= 400 {
            let error: Value = match serde_json::from_str(&body) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{}: not a JSON body ({e}): {body}", case.name));
                    continue;
                }
            };
            assert_conforms("ErrorResponse", &error);
            let param = error["error"]["param"].as_str();
            if let Some(expected) = case.param {
                if param.is_none_or(|p| !p.starts_with(expected)) {
                    failures.push(format!("{}: param {param:?}, expected {expected}: {body}", case.name));
                }
            }
            if case.code.is_some() && error["error"]["code"].as_str() != case.code {
                failures.push(format!("{}: code {}, expected {:?}", case.name, error["error"]["code"], case.code));
            }
        }
        server.assert_still_serving().await;
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A schema the grammar compiler refuses: `patternProperties` whose regexes overlap (`ab` matches
/// both) without either matching every key, which the engine could leave to the other.
fn overlapping_patterns() -> Value {
    json!({"type": "object", "patternProperties": {"^a": {"type": "string"}, "b$": {"type": "integer"}}})
}

#[tokio::test]
async fn a_schema_the_grammar_refuses_is_a_400_when_streaming_too() {
    let server = start(config()).await;
    let body = json!({"model": server.model, "messages": [{"role": "user", "content": "hi"}], "stream": true,
        "response_format": {"type": "json_object", "schema": overlapping_patterns()}});
    let (status, events) = server.chat_stream(&body).await;
    assert_eq!(status, 400, "{events:?}");
    let error: Value = serde_json::from_str(&events[0]).expect("a JSON error");
    assert_conforms("ErrorResponse", &error);
    assert_eq!(error["error"]["code"], "invalid_schema");
    server.assert_still_serving().await;
}
