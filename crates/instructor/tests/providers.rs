//! The native providers — Anthropic's Messages API, Gemini, OpenAI's Responses API — against the
//! loopback server speaking each API: the seed extraction in every mode each one supports, the
//! request checked by the API's own published types (the official SDKs' models for Anthropic and
//! Gemini, the OpenAPI spec for Responses), re-asks in each API's shape, streaming partials and
//! iterables, retries with each API's hints, truncation, and broken bodies and streams.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use instructor::{Api, ChatRequest, Client, Error, Mode, PartialEvent, ProviderErrorKind, RetryPolicy};
use instructor_testserver::anthropic::{Block, anthropic_stream_events};
use instructor_testserver::gemini::gemini_stream_events;
use instructor_testserver::responses::{message_item, responses_stream_events};
use instructor_testserver::{sdk, spec};
use serde_json::{Value, json};

const KEY: &str = "sk-test-secret-key";
const SARAH: &str = r#"{"name":"Sarah","age":25}"#;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Native {
    Anthropic,
    Gemini,
    Responses,
}

const NATIVES: [Native; 3] = [Native::Anthropic, Native::Gemini, Native::Responses];

impl Native {
    fn api(self) -> Api {
        match self {
            Native::Anthropic => Api::Anthropic,
            Native::Gemini => Api::Gemini,
            Native::Responses => Api::Responses,
        }
    }

    fn model(self) -> &'static str {
        match self {
            Native::Anthropic => "claude-test",
            Native::Gemini => "gemini-test",
            Native::Responses => "gpt-test",
        }
    }

    fn base(self, server: &TestServer) -> String {
        match self {
            Native::Responses => server.url(),
            _ => server.origin(),
        }
    }

    fn client(self, server: &TestServer, mode: Mode) -> Client {
        Client::builder()
            .api(self.api())
            .base_url(self.base(server))
            .api_key(KEY)
            .mode(mode)
            .retry_policy(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(10))
                    .max_backoff(Duration::from_millis(50))
                    .timeout(Duration::from_secs(10)),
            )
            .build()
            .expect("client builds")
    }

    fn request(self) -> ChatRequest {
        ChatRequest::new(self.model())
            .system("You are a world class extractor")
            .user(r#"Extract the following entities: "Jason is 20""#)
    }

    fn unsupported(self) -> &'static [Mode] {
        match self {
            Native::Anthropic => &[Mode::JsonSchema],
            Native::Gemini => &[Mode::ToolsStrict],
            Native::Responses => &[],
        }
    }

    fn path(self, stream: bool) -> String {
        match (self, stream) {
            (Native::Anthropic, _) => "/v1/messages".into(),
            (Native::Gemini, false) => "/v1beta/models/gemini-test:generateContent".into(),
            (Native::Gemini, true) => "/v1beta/models/gemini-test:streamGenerateContent".into(),
            (Native::Responses, _) => "/v1/responses".into(),
        }
    }

    fn text(self, text: &str) -> Reply {
        match self {
            Native::Anthropic => Reply::anthropic_text(text),
            Native::Gemini => Reply::gemini_text(text),
            Native::Responses => Reply::responses_text(text),
        }
    }

    fn calls(self, calls: &[(&str, &str)]) -> Reply {
        match self {
            Native::Anthropic => Reply::anthropic_tool_uses(calls),
            Native::Gemini => Reply::gemini_function_calls(calls),
            Native::Responses => Reply::responses_function_calls(calls),
        }
    }

    /// A reply for `mode` holding these values.
    fn reply(self, mode: Mode, values: &[&str]) -> Reply {
        match mode {
            Mode::Tools | Mode::ToolsStrict | Mode::ParallelTools => {
                let calls: Vec<(&str, &str)> = values.iter().map(|v| ("UserDetails", *v)).collect();
                self.calls(&calls)
            }
            Mode::MdJson => self.text(&format!("Here it is:\n```json\n{}\n```", values[0])),
            _ => self.text(values[0]),
        }
    }

    /// The same, streamed `n` characters at a time.
    fn stream(self, mode: Mode, values: &[&str], n: usize) -> Reply {
        let calls: Vec<(&str, &str)> = values.iter().map(|v| ("UserDetails", *v)).collect();
        let text = match mode {
            Mode::MdJson => format!("```json\n{}\n```", values[0]),
            _ => values[0].to_owned(),
        };
        match (self, mode.uses_tools()) {
            (Native::Anthropic, true) => Reply::anthropic_stream_tool_uses(&calls, n),
            (Native::Anthropic, false) => Reply::anthropic_stream_text(&text, n),
            (Native::Gemini, true) => Reply::gemini_stream_function_calls(&calls),
            (Native::Gemini, false) => Reply::gemini_stream_text(&text, n),
            (Native::Responses, true) => Reply::responses_stream_function_calls(&calls, n),
            (Native::Responses, false) => Reply::responses_stream_text(&text, n),
        }
    }

    /// Each request body checked by the API's published types.
    fn check_requests(self, bodies: &[Value]) {
        match self {
            Native::Anthropic => sdk::assert_valid_requests("anthropic", bodies),
            Native::Gemini => sdk::assert_valid_requests("gemini", bodies),
            Native::Responses => bodies.iter().for_each(|b| spec::assert_conforms_responses("CreateResponse", b)),
        }
    }
}

fn request_bodies(server: &TestServer) -> Vec<Value> {
    server.requests().into_iter().map(|r| r.body).collect()
}

/// The messages of a request in each API's terms.
fn turns(native: Native, body: &Value) -> Vec<Value> {
    let key = match native {
        Native::Anthropic => "messages",
        Native::Gemini => "contents",
        Native::Responses => "input",
    };
    body[key].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn seed_extraction_in_every_mode_each_api_supports() {
    for native in NATIVES {
        let server = TestServer::start();
        let mut expected_requests = 0;
        for &mode in Mode::all() {
            if native.unsupported().contains(&mode) {
                let err = native
                    .client(&server, mode)
                    .chat()
                    .create::<UserDetails>(native.request())
                    .await
                    .expect_err("a mode the API cannot do");
                assert!(err.is_request(), "{native:?} {mode}: {err}");
                assert!(err.to_string().contains(native.api().as_str()), "names the API: {err}");
                assert_eq!(server.requests().len(), expected_requests, "{native:?} {mode}: nothing was sent");
                continue;
            }
            expected_requests += 1;
            let client = native.client(&server, mode);
            if mode == Mode::ParallelTools {
                server.push(native.reply(mode, &[JASON, SARAH]));
                let users: Vec<UserDetails> = client.chat().create(native.request()).await.expect("two users");
                assert_eq!(users.len(), 2, "{native:?}");
                assert_eq!(users[1].name, "Sarah");
                continue;
            }
            server.push(native.reply(mode, &[JASON]));
            let out = client
                .chat()
                .create_with_completion::<UserDetails>(native.request())
                .await
                .unwrap_or_else(|e| panic!("{native:?} {mode}: {e}"));
            assert_eq!(out.value, UserDetails { name: "Jason".into(), age: 20 }, "{native:?} {mode}");
            assert_eq!(out.usage.prompt_tokens, 10, "{native:?} {mode}: {:?}", out.usage);
            assert_eq!(out.usage.completion_tokens, 5);
            assert!(out.usage.cache_read_tokens > 0, "{native:?}: cache tokens kept: {:?}", out.usage);
        }
        let requests = server.requests();
        for (request, &mode) in requests.iter().zip(Mode::all().iter().filter(|m| !native.unsupported().contains(m))) {
            assert_eq!(request.path, native.path(false), "{native:?} {mode}");
            check_shape(native, mode, &request.body, request);
        }
        native.check_requests(&request_bodies(&server));
    }
}

/// What each mode puts in each API's request.
fn check_shape(native: Native, mode: Mode, body: &Value, request: &instructor_testserver::Recorded) {
    let at = format!("{native:?} {mode}: {body}");
    match native {
        Native::Anthropic => {
            assert_eq!(request.header("x-api-key"), Some(KEY), "{at}");
            assert_eq!(request.header("anthropic-version"), Some(instructor::wire::anthropic::DEFAULT_VERSION));
            assert!(request.header("authorization").is_none());
            assert_eq!(body["max_tokens"], instructor::ANTHROPIC_DEFAULT_MAX_TOKENS, "{at}");
            assert!(body["system"].as_str().is_some_and(|s| s.starts_with("You are a world class extractor")), "{at}");
            assert_eq!(
                body["messages"][0],
                json!({"role": "user", "content": r#"Extract the following entities: "Jason is 20""#})
            );
            match mode {
                Mode::Tools => {
                    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "UserDetails"}), "{at}");
                    assert_eq!(body["tools"][0]["input_schema"]["properties"]["age"]["type"], "integer", "{at}");
                    assert!(body["tools"][0].get("strict").is_none(), "{at}");
                }
                Mode::ToolsStrict => assert_eq!(body["tools"][0]["strict"], true, "{at}"),
                Mode::ParallelTools => assert_eq!(body["tool_choice"], json!({"type": "auto"}), "{at}"),
                Mode::StructuredOutputs => {
                    assert_eq!(body["output_config"]["format"]["type"], "json_schema", "{at}");
                    assert_eq!(body["output_config"]["format"]["schema"]["additionalProperties"], false, "{at}");
                }
                Mode::Json | Mode::MdJson => {
                    assert!(body.get("output_config").is_none() && body.get("tools").is_none(), "{at}");
                    assert!(
                        body["system"].as_str().is_some_and(|s| s.contains("\"age\"")),
                        "schema in the prompt: {at}"
                    );
                }
                _ => {}
            }
        }
        Native::Gemini => {
            assert_eq!(request.header("x-goog-api-key"), Some(KEY), "{at}");
            assert!(
                body["systemInstruction"]["parts"][0]["text"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("You are a world class extractor"))
            );
            assert_eq!(body["contents"][0]["role"], "user");
            let config = &body["generationConfig"];
            match mode {
                Mode::Tools => {
                    assert_eq!(
                        body["toolConfig"],
                        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["UserDetails"]}}),
                        "{at}"
                    );
                    let declaration = &body["tools"][0]["functionDeclarations"][0];
                    assert_eq!(declaration["parametersJsonSchema"]["properties"]["age"]["type"], "integer", "{at}");
                }
                Mode::ParallelTools => assert_eq!(body["toolConfig"]["functionCallingConfig"]["mode"], "AUTO", "{at}"),
                Mode::Json => {
                    assert_eq!(config["responseMimeType"], "application/json", "{at}");
                    assert!(config.get("responseJsonSchema").is_none(), "{at}");
                }
                Mode::JsonSchema | Mode::StructuredOutputs => {
                    assert_eq!(config["responseMimeType"], "application/json", "{at}");
                    assert_eq!(config["responseJsonSchema"]["properties"]["name"]["type"], "string", "{at}");
                }
                _ => {}
            }
        }
        Native::Responses => {
            assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()), "{at}");
            assert_eq!(body["store"], false, "stateless: {at}");
            assert!(body["instructions"].as_str().is_some_and(|s| s.starts_with("You are a world class extractor")));
            assert_eq!(
                body["input"][0],
                json!({"role": "user", "content": r#"Extract the following entities: "Jason is 20""#})
            );
            let format = &body["text"]["format"];
            match mode {
                Mode::Tools | Mode::ToolsStrict => {
                    assert_eq!(body["tool_choice"], json!({"type": "function", "name": "UserDetails"}), "{at}");
                    assert_eq!(body["tools"][0]["type"], "function");
                    assert_eq!(body["tools"][0]["strict"], mode == Mode::ToolsStrict, "{at}");
                }
                Mode::ParallelTools => assert_eq!(body["tool_choice"], "auto", "{at}"),
                Mode::Json => assert_eq!(format, &json!({"type": "json_object"}), "{at}"),
                Mode::JsonSchema => assert_eq!(format["strict"], false, "{at}"),
                Mode::StructuredOutputs => {
                    assert_eq!(
                        (&format["type"], &format["name"], &format["strict"]),
                        (&json!("json_schema"), &json!("UserDetails"), &json!(true)),
                        "{at}"
                    );
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn reasks_in_each_apis_own_shape() {
    for native in NATIVES {
        // A tool call missing a field: the turn is echoed and answered as an error.
        let server = TestServer::start();
        server.push(native.calls(&[("UserDetails", r#"{"name":"Jason"}"#)]));
        server.push(native.calls(&[("UserDetails", JASON)]));
        let out = native
            .client(&server, Mode::Tools)
            .chat()
            .create_with_completion::<UserDetails>(native.request())
            .await
            .expect("the second reply is valid");
        assert_eq!((out.attempts, out.usage.total_tokens), (2, 30), "{native:?}");
        let bodies = request_bodies(&server);
        let (first, second) = (turns(native, &bodies[0]), turns(native, &bodies[1]));
        assert_eq!(&second[..first.len()], &first[..], "{native:?}: the original turns stay");
        let added = &second[first.len()..];
        match native {
            Native::Anthropic => {
                assert_eq!(added.len(), 2, "{added:?}");
                assert_eq!(added[0]["role"], "assistant");
                assert_eq!(
                    added[0]["content"][0],
                    json!({"type": "tool_use", "id": "toolu_0", "name": "UserDetails", "input": {"name": "Jason"}})
                );
                assert_eq!(added[1]["role"], "user");
                let result = &added[1]["content"][0];
                assert_eq!(
                    (&result["type"], &result["tool_use_id"], &result["is_error"]),
                    (&json!("tool_result"), &json!("toolu_0"), &json!(true))
                );
                assert!(result["content"].as_str().is_some_and(|e| e.contains("age")), "{result}");
                assert_eq!(added[1]["content"][1]["type"], "text");
            }
            Native::Gemini => {
                assert_eq!(added.len(), 2, "{added:?}");
                assert_eq!(
                    added[0],
                    json!({"role": "model", "parts": [{"functionCall": {"name": "UserDetails", "args": {"name": "Jason"}}}]})
                );
                let answer = &added[1]["parts"][0]["functionResponse"];
                assert_eq!(answer["name"], "UserDetails", "{added:?}");
                assert!(answer["response"]["error"].as_str().is_some_and(|e| e.contains("age")), "{answer}");
                assert!(added[1]["parts"][1]["text"].is_string());
            }
            Native::Responses => {
                assert_eq!(added.len(), 3, "{added:?}");
                assert_eq!(
                    added[0],
                    json!({"type": "function_call", "call_id": "call_0", "name": "UserDetails", "arguments": r#"{"name":"Jason"}"#})
                );
                assert_eq!(added[1]["type"], "function_call_output");
                assert_eq!(added[1]["call_id"], "call_0");
                assert!(added[1]["output"].as_str().is_some_and(|e| e.contains("age")));
                assert_eq!(added[2]["role"], "user");
            }
        }
        native.check_requests(&bodies);

        // A text reply in JSON mode: echoed, then a user message with the error.
        let server = TestServer::start();
        server.push(native.text(r#"{"name":"Jason"}"#));
        server.push(native.text(JASON));
        let user: UserDetails =
            native.client(&server, Mode::Json).chat().create(native.request()).await.expect("valid");
        assert_eq!(user.age, 20);
        let bodies = request_bodies(&server);
        let second = turns(native, &bodies[1]);
        let n = second.len();
        let (reply, fix) = (&second[n - 2], &second[n - 1]);
        match native {
            Native::Anthropic => {
                assert_eq!(reply, &json!({"role": "assistant", "content": r#"{"name":"Jason"}"#}));
                assert!(fix["content"].as_str().is_some_and(|t| t.contains("missing field `age`")), "{fix}");
            }
            Native::Gemini => {
                assert_eq!(reply, &json!({"role": "model", "parts": [{"text": r#"{"name":"Jason"}"#}]}));
                assert!(fix["parts"][0]["text"].as_str().is_some_and(|t| t.contains("missing field `age`")));
            }
            Native::Responses => {
                assert_eq!(reply, &json!({"role": "assistant", "content": r#"{"name":"Jason"}"#}));
                assert!(fix["content"].as_str().is_some_and(|t| t.contains("missing field `age`")));
            }
        }
        native.check_requests(&bodies);
    }
}

fn team() -> Vec<UserDetails> {
    (0..6).map(|i| UserDetails { name: format!("User {i} \"q\" é"), age: 20 + i }).collect()
}

#[tokio::test]
async fn partials_and_iterables_stream_in_each_apis_events() {
    let team = team();
    let items: Vec<String> =
        team.iter().map(|u| serde_json::to_string(&json!({"name": u.name, "age": u.age})).expect("json")).collect();
    let array = format!("[{}]", items.join(","));
    let wrapped = format!(r#"{{"value":{array}}}"#);
    for native in NATIVES {
        for mode in [Mode::Tools, Mode::Json, Mode::ParallelTools] {
            for n in 1..=4 {
                // Partials of the whole value (a list, wrapped for every mode but parallel tools).
                let server = TestServer::start();
                let values: Vec<&str> = match mode {
                    Mode::ParallelTools => items.iter().map(String::as_str).collect(),
                    _ => vec![wrapped.as_str()],
                };
                server.push(native.stream(mode, &values, n));
                let client = native.client(&server, mode);
                let mut stream = std::pin::pin!(client.chat().create_partial::<Vec<UserDetails>>(native.request()));
                let (mut partials, mut done) = (0, None);
                while let Some(event) = stream.next().await {
                    match event.unwrap_or_else(|e| panic!("{native:?} {mode} n={n}: {e}")) {
                        PartialEvent::Partial(_) => partials += 1,
                        PartialEvent::Complete(c) => done = Some(c),
                    }
                }
                let done = done.expect("a final value");
                assert_eq!(done.value, team, "{native:?} {mode} n={n}");
                assert!(partials > 3 || native == Native::Gemini && mode.uses_tools(), "{native:?} {mode}: {partials}");
                assert!(done.usage.total_tokens > 0, "{native:?} {mode}: usage {:?}", done.usage);
                let request = &server.requests()[0];
                assert_eq!(request.path, native.path(true), "{native:?}");
                if native == Native::Gemini {
                    assert_eq!(request.query.as_deref(), Some("alt=sse"));
                }
                // Iterables: each item as it closes.
                let server = TestServer::start();
                server.push(native.stream(mode, &values, n));
                let client = native.client(&server, mode);
                let got: Vec<UserDetails> = client
                    .chat()
                    .create_iterable::<UserDetails>(native.request())
                    .map(|item| item.unwrap_or_else(|e| panic!("{native:?} {mode} n={n}: {e}")))
                    .collect()
                    .await;
                assert_eq!(got, team, "{native:?} {mode} n={n}");
            }
        }
    }
}

#[tokio::test]
async fn streamed_requests_conform() {
    for native in NATIVES {
        let server = TestServer::start();
        for mode in [Mode::Tools, Mode::StructuredOutputs] {
            server.push(native.stream(mode, &[JASON], 3));
            let client = native.client(&server, mode);
            let mut stream = std::pin::pin!(client.chat().create_partial::<UserDetails>(native.request()));
            let mut last = None;
            while let Some(event) = stream.next().await {
                last = Some(event.expect("streams"));
            }
            assert!(matches!(last, Some(PartialEvent::Complete(_))), "{native:?} {mode}");
        }
        let bodies = request_bodies(&server);
        if native != Native::Gemini {
            assert!(bodies.iter().all(|b| b["stream"] == true), "{native:?}");
        }
        native.check_requests(&bodies);
    }
}

#[tokio::test]
async fn each_apis_test_server_events_and_bodies_conform() {
    // Responses: every event and body against the published spec.
    for event in responses_stream_events(Some(JASON), &[("UserDetails", JASON)], 3, "completed")
        .into_iter()
        .chain(responses_stream_events(Some("{\"na"), &[], 2, "incomplete"))
        .chain(responses_stream_events(None, &[], 2, "failed"))
    {
        let data = event.lines().find_map(|l| l.strip_prefix("data: ")).expect("data");
        spec::assert_conforms_responses("ResponseStreamEvent", &serde_json::from_str(data).expect("json"));
    }
    for reply in [
        instructor_testserver::responses::response(vec![message_item(JASON, "completed")], "completed"),
        instructor_testserver::responses::response(vec![message_item("{", "incomplete")], "incomplete"),
    ] {
        spec::assert_conforms_responses("Response", &reply);
    }
}

#[tokio::test]
async fn retries_follow_each_apis_hints() {
    // Anthropic: 429 with retry-after, then 529 overloaded (retried as a 5xx), then the reply.
    let server = TestServer::start();
    server.push(Reply::anthropic_error(429, "rate_limit_error", "slow down").header("retry-after", "0.2"));
    server.push(Reply::anthropic_error(529, "overloaded_error", "Overloaded"));
    server.push(Reply::anthropic_tool_use("UserDetails", JASON));
    let started = Instant::now();
    let user: UserDetails = Native::Anthropic
        .client(&server, Mode::Tools)
        .chat()
        .create(Native::Anthropic.request())
        .await
        .expect("retried");
    assert_eq!(user.age, 20);
    assert_eq!(server.served(), 3);
    assert!(started.elapsed() >= Duration::from_millis(200), "retry-after honoured: {:?}", started.elapsed());

    // Gemini: 429 RESOURCE_EXHAUSTED whose RetryInfo asks for 300 ms, then 503 UNAVAILABLE.
    let server = TestServer::start();
    server.push(Reply::gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", Some("0.3s")));
    server.push(Reply::gemini_error(503, "UNAVAILABLE", "The model is overloaded", None));
    server.push(Reply::gemini_function_calls(&[("UserDetails", JASON)]));
    let started = Instant::now();
    let user: UserDetails =
        Native::Gemini.client(&server, Mode::Tools).chat().create(Native::Gemini.request()).await.expect("retried");
    assert_eq!(user.age, 20);
    assert_eq!(server.served(), 3);
    assert!(started.elapsed() >= Duration::from_millis(300), "RetryInfo honoured: {:?}", started.elapsed());

    // Responses: 429 with retry-after-ms.
    let server = TestServer::start();
    server.push(Reply::error(429, "Rate limit reached").header("retry-after-ms", "150"));
    server.push(Reply::responses_function_calls(&[("UserDetails", JASON)]));
    let started = Instant::now();
    let _: UserDetails = Native::Responses
        .client(&server, Mode::Tools)
        .chat()
        .create(Native::Responses.request())
        .await
        .expect("retried");
    assert!(started.elapsed() >= Duration::from_millis(150));

    // Errors that are not retried keep the provider's own type and message.
    for (native, reply, kind) in [
        (
            Native::Anthropic,
            Reply::anthropic_error(400, "invalid_request_error", "max_tokens: too large"),
            "invalid_request_error",
        ),
        (Native::Gemini, Reply::gemini_error(400, "INVALID_ARGUMENT", "Unknown name \"x\"", None), "INVALID_ARGUMENT"),
        (Native::Responses, Reply::error(400, "Invalid schema"), "test_error"),
    ] {
        let server = TestServer::start();
        server.push(reply);
        let err =
            native.client(&server, Mode::Tools).chat().create::<UserDetails>(native.request()).await.expect_err("400");
        assert_eq!(err.status(), Some(400), "{native:?}");
        assert_eq!(err.provider().and_then(|p| p.error_type()), Some(kind), "{native:?}: {err}");
        assert_eq!(server.served(), 1, "{native:?}: a 400 is not retried");
        assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY), "the key never shows");
    }
}

#[tokio::test]
async fn a_reply_cut_at_the_token_limit_is_truncation_not_a_parse_error() {
    let cut = r#"{"name":"Jason","ag"#;
    for native in NATIVES {
        let plain = match native {
            Native::Anthropic => Reply::anthropic_message(vec![json!({"type": "text", "text": cut})], "max_tokens"),
            Native::Gemini => Reply::gemini_response(vec![json!({"text": cut})], "MAX_TOKENS"),
            Native::Responses => Reply::responses_response(vec![message_item(cut, "incomplete")], "incomplete"),
        };
        let streamed = match native {
            Native::Anthropic => Reply::sse_raw(anthropic_stream_events(&[Block::Text(cut)], 3, "max_tokens")),
            Native::Gemini => Reply::sse_raw(gemini_stream_events(cut, &[], 3, "MAX_TOKENS")),
            Native::Responses => Reply::sse_raw(responses_stream_events(Some(cut), &[], 3, "incomplete")),
        };
        let server = TestServer::start();
        server.push(plain);
        let err = native
            .client(&server, Mode::Json)
            .chat()
            .create::<UserDetails>(native.request().max_retries(2))
            .await
            .expect_err("cut");
        assert!(err.is_truncated(), "{native:?}: {err}");
        assert_eq!(server.served(), 1, "{native:?}: not re-asked");
        assert_eq!(err.usage().total_tokens, 15, "{native:?}");

        let server = TestServer::start();
        server.push(streamed);
        let client = native.client(&server, Mode::Json);
        let mut stream = std::pin::pin!(client.chat().create_partial::<UserDetails>(native.request()));
        let mut last = None;
        while let Some(event) = stream.next().await {
            last = Some(event);
        }
        let err = last.expect("an event").expect_err("cut");
        assert!(err.is_truncated(), "{native:?}: {err}");
    }
}

async fn stream_error(native: Native, reply: Reply) -> Error {
    let server = TestServer::start();
    server.push(reply);
    let client = native.client(&server, Mode::Json);
    let mut stream = std::pin::pin!(client.chat().create_partial::<UserDetails>(native.request()));
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            assert!(stream.next().await.is_none(), "an error ends the stream");
            return e;
        }
    }
    panic!("{native:?}: the stream ended without an error");
}

#[tokio::test]
async fn broken_bodies_and_streams_are_typed_errors() {
    for native in NATIVES {
        // A body that is not the API's reply.
        let server = TestServer::start();
        server.push(Reply::raw(200, "<html>gateway</html>"));
        let err =
            native.client(&server, Mode::Json).chat().create::<UserDetails>(native.request()).await.expect_err("html");
        assert_eq!(err.provider().map(|p| p.kind()), Some(ProviderErrorKind::Decode), "{native:?}: {err}");

        // A stream cut off mid-way, and one that ends without its end.
        let events = match native {
            Native::Anthropic => anthropic_stream_events(&[Block::Text(JASON)], 3, "end_turn"),
            Native::Gemini => gemini_stream_events(JASON, &[], 3, "STOP"),
            Native::Responses => responses_stream_events(Some(JASON), &[], 3, "completed"),
        };
        let half = events[..events.len() / 2].to_vec();
        let e = stream_error(native, Reply::sse_raw(half.clone()).abort()).await;
        assert_eq!(e.provider().map(|p| p.kind()), Some(ProviderErrorKind::Stream), "{native:?}: {e}");
        let e = stream_error(native, Reply::sse_raw(half)).await;
        assert!(e.to_string().contains("ended before"), "{native:?}: {e}");

        // An error reported inside the stream keeps the provider's type.
        let mut events = events[..3].to_vec();
        let (event, kind) = match native {
            Native::Anthropic => (
                "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_owned(),
                "overloaded_error",
            ),
            Native::Gemini => (
                "data: {\"error\":{\"code\":503,\"message\":\"The model is overloaded\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n".to_owned(),
                "UNAVAILABLE",
            ),
            Native::Responses => (
                "event: error\ndata: {\"type\":\"error\",\"sequence_number\":3,\"code\":\"server_error\",\"message\":\"Something went wrong\",\"param\":null}\n\n".to_owned(),
                "server_error",
            ),
        };
        events.push(event);
        let e = stream_error(native, Reply::sse_raw(events)).await;
        assert_eq!(e.provider().and_then(|p| p.error_type()), Some(kind), "{native:?}: {e}");

        // Garbage where an event should be.
        let e = stream_error(native, Reply::sse_raw(vec!["data: {not json\n\n".to_owned()])).await;
        assert!(e.is_provider(), "{native:?}: {e}");
    }
}

#[tokio::test]
async fn anthropic_api_versions() {
    // The default version takes no sampling parameters: refused before sending.
    let server = TestServer::start();
    let err = Native::Anthropic
        .client(&server, Mode::Tools)
        .chat()
        .create::<UserDetails>(Native::Anthropic.request().temperature(0.2))
        .await
        .expect_err("temperature");
    assert!(err.is_request() && err.to_string().contains("2023-06-01"), "{err}");
    assert_eq!(server.served(), 0);

    // A pinned 2023-06-01: sampling goes through, structured outputs take the beta's shape.
    let client = Client::builder()
        .api(Api::Anthropic)
        .base_url(server.origin())
        .api_key(KEY)
        .anthropic_version("2023-06-01")
        .mode(Mode::StructuredOutputs)
        .build()
        .expect("client");
    server.push(Reply::anthropic_text(JASON));
    let user: UserDetails = client.chat().create(Native::Anthropic.request().temperature(0.2)).await.expect("Jason");
    assert_eq!(user.age, 20);
    let request = &server.requests()[0];
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("anthropic-beta"), Some(instructor::wire::anthropic::STRUCTURED_OUTPUTS_BETA));
    assert_eq!(request.body["output_format"]["type"], "json_schema");
    assert!(request.body.get("output_config").is_none());
    assert!((request.body["temperature"].as_f64().expect("temperature") - 0.2).abs() < 1e-6);
    sdk::assert_valid_requests("anthropic-legacy", std::slice::from_ref(&request.body));
}

#[tokio::test]
async fn gemini_before_2_5_takes_the_openapi_subset() {
    let server = TestServer::start();
    server.push(Reply::gemini_text(JASON));
    let client = Native::Gemini.client(&server, Mode::StructuredOutputs);
    let _: UserDetails =
        client.chat().create(ChatRequest::new("gemini-2.0-flash").user("Jason is 20")).await.expect("Jason");
    let config = &server.requests()[0].body["generationConfig"];
    assert!(config.get("responseJsonSchema").is_none());
    assert_eq!(config["responseSchema"]["properties"]["age"]["type"], "INTEGER");
    assert!(config["responseSchema"].get("additionalProperties").is_none());
    sdk::assert_valid_requests("gemini", &[server.requests()[0].body.clone()]);
}

#[tokio::test]
async fn presets_keep_their_api_behind_another_base_url() {
    // `--provider anthropic --base-url URL`: the Anthropic API at another host.
    let server = TestServer::start();
    server.push(Reply::anthropic_tool_use("UserDetails", JASON));
    let client = Client::builder()
        .preset(instructor::Preset::Anthropic)
        .base_url(server.origin())
        .api_key(KEY)
        .build()
        .expect("client");
    let _: UserDetails = client.chat().create(Native::Anthropic.request()).await.expect("Jason");
    assert_eq!(server.requests()[0].path, "/v1/messages");
    assert!(!format!("{client:?}").contains(KEY), "the key never shows in Debug");
}
