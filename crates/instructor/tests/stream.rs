//! Streaming against the loopback server: partial values and iterables in every mode, streamed
//! in 1–4 character chunks; broken streams; re-asks; repairs.

mod common;

use std::pin::pin;

use common::*;
use futures_util::StreamExt;
use instructor::json::RepairKind;
use instructor::{ChatRequest, Error, Mode, PartialEvent};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct User {
    id: u32,
    name: String,
    email: String,
    tags: Vec<String>,
}

fn user(i: u32) -> User {
    User {
        id: i,
        name: format!("User \"{i}\" Ñandú"),
        email: format!("u{i}@example.com"),
        tags: vec!["a".into(), format!("t{i}")],
    }
}

fn user_json(u: &User) -> String {
    serde_json::to_string(&json!({"id": u.id, "name": u.name, "email": u.email, "tags": u.tags})).expect("json")
}

/// Whether `partial` could still grow into `full`: same keys so far, prefixes of strings,
/// arrays whose elements so far are prefixes in order.
fn is_prefix(partial: &Value, full: &Value) -> bool {
    match (partial, full) {
        (Value::String(p), Value::String(f)) => f.starts_with(p.as_str()),
        (Value::Array(p), Value::Array(f)) => {
            p.len() <= f.len()
                && p.iter()
                    .zip(f)
                    .enumerate()
                    .all(|(i, (a, b))| if i + 1 == p.len() { is_prefix(a, b) } else { a == b })
        }
        (Value::Object(p), Value::Object(f)) => p.iter().all(|(k, v)| f.get(k).is_some_and(|fv| is_prefix(v, fv))),
        (p, f) => p == f,
    }
}

/// The streamed reply for `mode` carrying `json` (the wire document), in pieces of `n` characters.
fn streamed(mode: Mode, name: &str, json: &str, n: usize) -> Reply {
    match mode {
        Mode::Tools | Mode::ToolsStrict => Reply::stream_tool_calls(&[(name, json)], n),
        Mode::MdJson => Reply::stream_text(&format!("Here it is:\n```json\n{json}\n```\nDone."), n),
        _ => Reply::stream_text(json, n),
    }
}

#[tokio::test]
async fn partials_grow_to_the_value_in_every_mode_and_chunk_size() {
    let team = vec![user(1), user(2), user(3)];
    let wire = format!("{{\"value\":[{}]}}", team.iter().map(user_json).collect::<Vec<_>>().join(","));
    let full: Value = serde_json::from_str::<Value>(&wire).expect("json")["value"].clone();
    for &mode in Mode::all() {
        for n in 1..=4 {
            let server = TestServer::start();
            let reply = if mode == Mode::ParallelTools {
                let calls: Vec<String> = team.iter().map(user_json).collect();
                let calls: Vec<(&str, &str)> = calls.iter().map(|c| ("User", c.as_str())).collect();
                Reply::stream_tool_calls(&calls, n)
            } else {
                streamed(mode, "Vec_of_User", &wire, n)
            };
            server.push(reply);
            let stream = client(&server, mode).chat().create_partial::<Vec<User>>(ChatRequest::new("m").user("team"));
            let mut stream = pin!(stream);
            let mut partials = 0;
            let mut last = Value::Null;
            let mut done = None;
            while let Some(event) = stream.next().await {
                match event.unwrap_or_else(|e| panic!("{mode} n={n}: {e}")) {
                    PartialEvent::Partial(p) => {
                        assert!(done.is_none(), "no partial after the final value");
                        // Parallel calls stream interleaved: each call is a prefix of its item.
                        let prefix = match (mode, p.json()) {
                            (Mode::ParallelTools, Value::Array(calls)) => {
                                calls.iter().zip(full.as_array().expect("array")).all(|(c, f)| is_prefix(c, f))
                            }
                            (_, json) => is_prefix(json, &full),
                        };
                        assert!(prefix, "{mode} n={n}: {} is not a prefix", p.json());
                        assert_ne!(p.json(), &last, "{mode} n={n}: yielded without a change");
                        last = p.json().clone();
                        partials += 1;
                    }
                    PartialEvent::Complete(extraction) => done = Some(extraction),
                }
            }
            let done = done.unwrap_or_else(|| panic!("{mode} n={n}: no final value"));
            assert_eq!(done.value, team, "{mode} n={n}");
            assert_eq!(done.usage.total_tokens, 15, "usage from the final chunk");
            assert!(done.repairs.is_empty() || mode == Mode::MdJson, "{mode}: {:?}", done.repairs);
            assert!(partials > 10, "{mode} n={n}: only {partials} partials");
            let body = &bodies(&server)[0];
            assert_eq!(body["stream"], true);
            assert_eq!(body["stream_options"], json!({"include_usage": true}));
            if !matches!(mode, Mode::JsonSchema | Mode::MdJson) {
                assert_conforms("CreateChatCompletionRequest", body);
            }
        }
    }
}

#[tokio::test]
async fn the_test_servers_stream_chunks_conform_to_the_spec() {
    let reply = Reply::stream_tool_calls(&[("User", &user_json(&user(1)))], 3);
    let server = TestServer::start();
    server.push(reply);
    let body = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.url()))
        .body("{}")
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("body");
    let mut events = 0;
    for data in body.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).filter(|d| *d != "[DONE]") {
        let chunk: Value = serde_json::from_str(data).expect("chunk");
        assert_conforms("CreateChatCompletionStreamResponse", &chunk);
        events += 1;
    }
    assert!(events > 5);
}

#[tokio::test]
async fn iterables_yield_each_item_in_every_mode() {
    let team: Vec<User> = (1..=5).map(user).collect();
    let items: Vec<String> = team.iter().map(user_json).collect();
    for &mode in Mode::all() {
        for n in [1, 4] {
            let server = TestServer::start();
            let reply = match mode {
                Mode::ParallelTools => {
                    let calls: Vec<(&str, &str)> = items.iter().map(|c| ("User", c.as_str())).collect();
                    Reply::stream_tool_calls(&calls, n)
                }
                // A bare top-level array is accepted as well as the wrapped one.
                Mode::Json => Reply::stream_text(&format!("[{}]", items.join(", ")), n),
                _ => streamed(mode, "Vec_of_User", &format!("{{\"value\": [{}]}}", items.join(",")), n),
            };
            server.push(reply);
            let stream = client(&server, mode).chat().create_iterable::<User>(ChatRequest::new("m").user("team"));
            let got: Vec<User> = stream.map(|r| r.unwrap_or_else(|e| panic!("{mode} n={n}: {e}"))).collect().await;
            assert_eq!(got, team, "{mode} n={n}");
        }
    }
}

#[tokio::test]
async fn an_invalid_item_is_an_error_in_its_place_and_the_stream_goes_on() {
    let server = TestServer::start();
    let text = format!("[{}, {{\"id\": \"x\", \"name\": 1}}, {}]", user_json(&user(1)), user_json(&user(3)));
    server.push(Reply::stream_text(&text, 3));
    let stream = client(&server, Mode::Json).chat().create_iterable::<User>(ChatRequest::new("m").user("team"));
    let got: Vec<Result<User, Error>> = stream.collect().await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].as_ref().expect("first"), &user(1));
    let e = got[1].as_ref().expect_err("second is invalid");
    assert!(e.is_reply(), "{e}");
    assert!(e.to_string().contains("[1]"), "names the item: {e}");
    assert_eq!(got[2].as_ref().expect("third"), &user(3));
}

#[tokio::test]
async fn iterable_with_no_item_is_reasked() {
    let server = TestServer::start();
    server.push(Reply::stream_text("I cannot find any users.", 2));
    server.push(Reply::stream_text(&format!("[{}]", user_json(&user(7))), 2));
    let stream = client(&server, Mode::Json).chat().create_iterable::<User>(ChatRequest::new("m").user("team"));
    let got: Vec<User> = stream.map(|r| r.expect("item")).collect().await;
    assert_eq!(got, [user(7)]);
    let bodies = bodies(&server);
    assert_eq!(bodies.len(), 2);
    let len = |b: &Value| b["messages"].as_array().map_or(0, Vec::len);
    assert_eq!(len(&bodies[1]), len(&bodies[0]) + 2, "the re-ask adds the reply and the error");
}

#[tokio::test]
async fn an_invalid_final_value_is_reasked_and_partials_restart() {
    let server = TestServer::start();
    server.push(Reply::stream_text(r#"{"name": "Jason", "age": "twenty"}"#, 3));
    server.push(Reply::stream_text(JASON, 3));
    let stream = client(&server, Mode::JsonSchema).chat().create_partial::<UserDetails>(story_request());
    let events: Vec<PartialEvent<UserDetails>> = stream.map(|e| e.expect("event")).collect().await;
    let attempts: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            PartialEvent::Partial(p) => Some(p.attempt()),
            PartialEvent::Complete(_) => None,
        })
        .collect();
    assert!(attempts.contains(&1) && attempts.contains(&2) && attempts.is_sorted());
    let Some(PartialEvent::Complete(done)) = events.last() else { panic!("ends with the value") };
    assert_eq!(done.value, UserDetails { name: "Jason".into(), age: 20 });
    assert_eq!(done.attempts, 2);
    assert_eq!(done.failed.len(), 1);
    assert_eq!(done.usage.total_tokens, 30);
    let typed: Option<UserDetails> = match &events[events.len() - 2] {
        PartialEvent::Partial(p) => p.deserialize().ok(),
        PartialEvent::Complete(_) => None,
    };
    assert_eq!(typed, Some(UserDetails { name: "Jason".into(), age: 20 }), "a partial reads as a type");
}

#[tokio::test]
async fn streamed_almost_json_is_repaired_and_recorded() {
    let server = TestServer::start();
    server.push(Reply::stream_text("Sure! {'name': 'Jason', age: '20',} // done", 2));
    let stream = client(&server, Mode::Json).chat().create_partial::<UserDetails>(story_request());
    let events: Vec<_> = stream.map(|e| e.expect("event")).collect().await;
    let Some(PartialEvent::Complete(done)) = events.last() else { panic!("a value") };
    assert_eq!(done.value, UserDetails { name: "Jason".into(), age: 20 });
    let kinds: Vec<RepairKind> = done.repairs.iter().map(|r| r.kind).collect();
    for kind in [
        RepairKind::TextAroundJson,
        RepairKind::SingleQuotes,
        RepairKind::UnquotedKey,
        RepairKind::TrailingComma,
        RepairKind::NumberFromString,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing from {kinds:?}");
    }
    // Strict: the same reply is re-asked, then the attempts run out.
    let server = TestServer::start();
    server.set_fallback(Reply::stream_text("{'name': 'Jason', 'age': 20}", 4));
    let strict = story_request().strict(true).max_retries(1);
    let stream = client(&server, Mode::Json).chat().create_partial::<UserDetails>(strict);
    let last = stream.collect::<Vec<_>>().await.pop().expect("an item");
    assert!(last.expect_err("strict refuses").is_exhausted());
    assert_eq!(server.served(), 2);
}

async fn stream_error(reply: Reply) -> Error {
    let server = TestServer::start();
    server.push(reply);
    let stream = client(&server, Mode::Json).chat().create_partial::<UserDetails>(story_request().max_retries(0));
    let mut stream = pin!(stream);
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            assert!(stream.next().await.is_none(), "an error ends the stream");
            return e;
        }
    }
    panic!("the stream should fail")
}

fn content_event(text: &str) -> String {
    let chunk = json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]});
    format!("data: {chunk}\n\n")
}

#[tokio::test]
async fn broken_streams_are_typed_errors_not_hangs() {
    // Ends without `[DONE]` or a finish reason.
    let e = stream_error(Reply::sse_raw(vec![content_event("{\"name\":")])).await;
    assert!(e.to_string().contains("ended before"), "{e}");
    assert_eq!(e.provider().map(|p| p.kind()), Some(instructor::ProviderErrorKind::Stream));
    // The connection breaks mid-stream.
    let e = stream_error(Reply::sse_raw(vec![content_event("{\"name\":")]).abort()).await;
    assert!(e.is_provider(), "{e}");
    // An error event from the server.
    let error = json!({"error": {"message": "overloaded", "type": "server_error", "code": 503}});
    let e = stream_error(Reply::sse_raw(vec![content_event("{"), format!("data: {error}\n\n")])).await;
    assert!(e.to_string().contains("overloaded"), "{e}");
    // A chunk that is not JSON.
    let e = stream_error(Reply::sse_raw(vec!["data: {not json\n\n".into()])).await;
    assert_eq!(e.provider().map(|p| p.kind()), Some(instructor::ProviderErrorKind::Decode), "{e}");
    // An HTTP error before the stream starts (not retried: 400).
    let e = stream_error(Reply::error(400, "bad request")).await;
    assert_eq!(e.status(), Some(400));
}

#[tokio::test]
async fn sse_framing_variants_are_read() {
    // CRLF, comments and keep-alives, multi-line data, an event split across writes.
    let chunk = |text: &str| json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string();
    let first = chunk("{\"name\": \"Jason\", ");
    let (a, b) = first.split_at(first.len() / 2);
    let pieces = vec![
        ": keep-alive\r\n\r\n".to_owned(),
        format!("data: {a}"),
        format!("{b}\r\n\r\n"),
        // One JSON chunk spread over two `data:` lines (joined with a newline, which JSON allows).
        "data: {\"choices\": [{\"index\": 0,\r\ndata: \"delta\": {\"content\": \"\\\"age\\\": 20}\"}, \"finish_reason\": \"stop\"}]}\r\n\r\n".to_owned(),
        ":\n\n".to_owned(),
        "data: [DONE]\n\n".to_owned(),
    ];
    let server = TestServer::start();
    server.push(Reply::sse_raw(pieces));
    let stream = client(&server, Mode::Json).chat().create_partial::<UserDetails>(story_request().max_retries(0));
    let last = stream.collect::<Vec<_>>().await.pop().expect("an item");
    let Ok(PartialEvent::Complete(done)) = last else { panic!("a value: {last:?}") };
    assert_eq!(done.value, UserDetails { name: "Jason".into(), age: 20 });
}

#[tokio::test]
async fn a_5xx_before_the_stream_is_retried() {
    let server = TestServer::start();
    server.push(Reply::error(503, "busy"));
    server.push(Reply::stream_text(JASON, 4));
    let stream = client(&server, Mode::Json).chat().create_partial::<UserDetails>(story_request());
    let last = stream.collect::<Vec<_>>().await.pop().expect("an item");
    assert!(matches!(last, Ok(PartialEvent::Complete(_))), "{last:?}");
    assert_eq!(server.served(), 2);
}
