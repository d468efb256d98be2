//! `serve` speaking OpenAI's Responses API and Anthropic's Messages API: the seed extraction
//! through each, every response and stream event checked (against the Responses spec; read
//! strictly by the official `anthropic` SDK), tools, truncation, errors in each dialect's shape,
//! and our own library's native providers pointed at `serve`.

mod common;

use common::*;
use instructor::{Api, Client, Mode};
use instructor_testserver::{sdk, spec};
use serde_json::{Value, json};

fn story_input() -> Value {
    json!([{"role": "user", "content": "Extract the following entities: \"Jason is 20\""}])
}

fn responses_request(model: &str) -> Value {
    json!({
        "model": model,
        "instructions": "You are a world class extractor",
        "input": story_input(),
        "text": {"format": {"type": "json_schema", "name": "UserDetails", "schema": user_schema(), "strict": true}},
        "max_output_tokens": 200,
        "store": false,
    })
}

fn messages_request(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 200,
        "system": "You are a world class extractor",
        "messages": story_input(),
        "tools": [{"name": "UserDetails", "description": "Correctly extracted `UserDetails`", "input_schema": user_schema()}],
        "tool_choice": {"type": "tool", "name": "UserDetails"},
    })
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn responses_api_seed_extraction_plain_and_streamed() {
    let server = start(config()).await;
    let (status, response) = server.post("/v1/responses", &responses_request(&server.model), &[]).await;
    assert_eq!(status, 200, "{response}");
    spec::assert_conforms_responses("Response", &response);
    assert_eq!(response["status"], "completed");
    let user: Value = serde_json::from_str(&output_text(&response)).expect("JSON text");
    assert_eq!(user, json!({"name": "Jason", "age": 20}));
    assert!(response["usage"]["output_tokens"].as_u64() > Some(0));
    assert_eq!(response["instructions"], "You are a world class extractor");

    let mut streamed = responses_request(&server.model);
    streamed["stream"] = json!(true);
    let (status, events) = server.post_events("/v1/responses", &streamed).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e["type"].as_str().unwrap_or_default()).collect();
    for (i, (name, event)) in events.iter().enumerate() {
        spec::assert_conforms_responses("ResponseStreamEvent", event);
        assert_eq!(name.as_deref(), event["type"].as_str(), "the event: line names the type");
        assert_eq!(event["sequence_number"], i, "sequence numbers count up");
    }
    assert_eq!(
        &kinds[..4],
        ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    );
    assert_eq!(kinds.last(), Some(&"response.completed"));
    let deltas: String = events
        .iter()
        .filter(|(_, e)| e["type"] == "response.output_text.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap_or_default())
        .collect();
    let done = &events.last().expect("completed").1["response"];
    assert_eq!(deltas, output_text(done), "the deltas add up to the final text");
    assert_eq!(serde_json::from_str::<Value>(&deltas).expect("JSON"), json!({"name": "Jason", "age": 20}));
    assert!(kinds.iter().filter(|k| **k == "response.output_text.delta").count() > 3);
}

#[tokio::test]
async fn responses_api_tools_truncation_and_refusals() {
    let server = start(config()).await;
    // A forced function call, plain and streamed.
    let tool = json!({"type": "function", "name": "UserDetails", "description": "Correctly extracted `UserDetails`",
                      "parameters": user_schema(), "strict": true});
    let request = json!({"model": server.model, "input": story_input(), "tools": [tool],
                         "tool_choice": {"type": "function", "name": "UserDetails"}, "max_output_tokens": 200});
    let (status, response) = server.post("/v1/responses", &request, &[]).await;
    assert_eq!(status, 200, "{response}");
    spec::assert_conforms_responses("Response", &response);
    let call = &response["output"][0];
    assert_eq!((&call["type"], &call["name"]), (&json!("function_call"), &json!("UserDetails")));
    let args: Value = serde_json::from_str(call["arguments"].as_str().expect("text")).expect("JSON");
    assert!(args["name"].is_string() && args["age"].is_u64(), "{args}");
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    let (_, events) = server.post_events("/v1/responses", &streamed).await;
    for (_, event) in &events {
        spec::assert_conforms_responses("ResponseStreamEvent", event);
    }
    let done =
        events.iter().find(|(_, e)| e["type"] == "response.function_call_arguments.done").expect("done").1.clone();
    let pieces: String = events
        .iter()
        .filter(|(_, e)| e["type"] == "response.function_call_arguments.delta")
        .map(|(_, e)| e["delta"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(done["arguments"].as_str(), Some(pieces.as_str()));
    // A reply cut at max_output_tokens is incomplete, with the reason.
    let mut cut = responses_request(&server.model);
    cut["max_output_tokens"] = json!(4);
    let (status, response) = server.post("/v1/responses", &cut, &[]).await;
    assert_eq!(status, 200, "{response}");
    spec::assert_conforms_responses("Response", &response);
    assert_eq!(
        (&response["status"], &response["incomplete_details"]["reason"]),
        (&json!("incomplete"), &json!("max_output_tokens"))
    );
    cut["stream"] = json!(true);
    let (_, events) = server.post_events("/v1/responses", &cut).await;
    assert_eq!(events.last().map(|(_, e)| e["type"].clone()), Some(json!("response.incomplete")));
    // Nothing is stored.
    let mut continued = responses_request(&server.model);
    continued["previous_response_id"] = json!("resp_123");
    let (status, error) = server.post("/v1/responses", &continued, &[]).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["param"], "previous_response_id");
    spec::assert_conforms_responses("ErrorResponse", &error);
}

#[tokio::test]
async fn messages_api_seed_extraction_plain_and_streamed() {
    let server = start(config()).await;
    let (status, message) = server.post("/v1/messages", &messages_request(&server.model), &[]).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(
        (&message["type"], &message["role"], &message["stop_reason"]),
        (&json!("message"), &json!("assistant"), &json!("tool_use"))
    );
    let block = &message["content"][0];
    assert_eq!((&block["type"], &block["name"]), (&json!("tool_use"), &json!("UserDetails")));
    assert_eq!(block["input"], json!({"name": "Jason", "age": 20}));
    assert!(block["id"].as_str().is_some_and(|id| id.starts_with("toolu_")));

    // Structured outputs, in the GA shape and the beta's.
    for format in [
        json!({"output_config": {"format": {"type": "json_schema", "schema": user_schema()}}}),
        json!({"output_format": {"type": "json_schema", "schema": user_schema()}}),
    ] {
        let mut request = json!({"model": server.model, "max_tokens": 200, "system": "You are a world class extractor",
                                 "messages": story_input()});
        for (k, v) in format.as_object().expect("object") {
            request[k] = v.clone();
        }
        let (status, message) = server.post("/v1/messages", &request, &[]).await;
        assert_eq!(status, 200, "{message}");
        assert_eq!(message["stop_reason"], "end_turn");
        let text = message["content"][0]["text"].as_str().expect("text");
        assert_eq!(serde_json::from_str::<Value>(text).expect("JSON"), json!({"name": "Jason", "age": 20}));
    }

    let mut streamed = messages_request(&server.model);
    streamed["stream"] = json!(true);
    let (status, events) = server.post_events("/v1/messages", &streamed).await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e["type"].as_str().unwrap_or_default()).collect();
    for (name, event) in &events {
        assert_eq!(name.as_deref(), event["type"].as_str(), "every event is named");
    }
    assert_eq!(&kinds[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(&kinds[kinds.len() - 3..], ["content_block_stop", "message_delta", "message_stop"]);
    let json: String = events
        .iter()
        .filter(|(_, e)| e["delta"]["type"] == "input_json_delta")
        .map(|(_, e)| e["delta"]["partial_json"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&json).expect("JSON"), json!({"name": "Jason", "age": 20}));
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(delta["usage"]["output_tokens"].as_u64() > Some(0));
}

#[tokio::test]
async fn the_anthropic_sdk_reads_every_message_and_stream_strictly() {
    let server = start(config()).await;
    let tools = json!([{"name": "UserDetails", "input_schema": user_schema()}]);
    let base = json!({"model": server.model, "max_tokens": 200, "system": "You are a world class extractor",
                      "messages": story_input()});
    let with = |extra: Value| {
        let mut params = base.clone();
        for (k, v) in extra.as_object().expect("object") {
            params[k] = v.clone();
        }
        params
    };
    let scenarios = [
        json!({"sdk": "anthropic", "op": "create", "params": with(json!({"tools": tools, "tool_choice": {"type": "tool", "name": "UserDetails"}}))}),
        json!({"sdk": "anthropic", "op": "stream", "params": with(json!({"tools": tools, "tool_choice": {"type": "tool", "name": "UserDetails"}}))}),
        json!({"sdk": "anthropic", "op": "create", "params": with(json!({"output_config": {"format": {"type": "json_schema", "schema": user_schema()}}}))}),
        json!({"sdk": "anthropic", "op": "stream", "params": with(json!({"max_tokens": 3}))}),
        json!({"sdk": "anthropic", "op": "create", "params": with(json!({"max_tokens": 0}))}),
        json!({"sdk": "anthropic", "op": "create", "params": with(json!({"model": "claude-opus"}))}),
    ];
    // The SDKs block while the server answers on this runtime: run them on a thread of their own.
    let url = server.url.clone();
    let read = tokio::task::spawn_blocking(move || sdk::read_with_sdks(&url, &scenarios)).await.expect("the SDKs ran");
    let ok = |i: usize| {
        assert_eq!(read[i]["ok"], true, "scenario {i}: {}", read[i]);
        &read[i]["summary"]
    };
    assert_eq!(ok(0)["calls"][0]["arguments"], json!({"name": "Jason", "age": 20}));
    assert_eq!(ok(1)["calls"][0]["arguments"], json!({"name": "Jason", "age": 20}));
    assert_eq!(ok(1)["stop"], "tool_use");
    assert_eq!(
        serde_json::from_str::<Value>(ok(2)["text"].as_str().expect("text")).expect("JSON"),
        json!({"name": "Jason", "age": 20})
    );
    assert_eq!(ok(3)["stop"], "max_tokens");
    assert_eq!(
        (&read[4]["error"]["status"], &read[4]["error"]["type"]),
        (&json!(400), &json!("invalid_request_error"))
    );
    assert_eq!((&read[5]["error"]["status"], &read[5]["error"]["type"]), (&json!(404), &json!("not_found_error")));
}

#[tokio::test]
async fn the_openai_sdk_reads_every_response_and_stream_strictly() {
    let server = start(config()).await;
    let params = json!({"model": server.model, "instructions": "You are a world class extractor", "input": story_input(),
                        "text": {"format": {"type": "json_schema", "name": "UserDetails", "schema": user_schema(), "strict": true}},
                        "max_output_tokens": 200});
    let base = format!("{}/v1", server.url);
    let scenarios = [
        json!({"sdk": "openai-responses", "op": "create", "params": params}),
        json!({"sdk": "openai-responses", "op": "stream", "params": params}),
    ];
    let read = tokio::task::spawn_blocking(move || sdk::read_with_sdks(&base, &scenarios)).await.expect("the SDKs ran");
    for result in &read {
        assert_eq!(result["ok"], true, "{result}");
        let text = result["summary"]["text"].as_str().expect("text");
        assert_eq!(serde_json::from_str::<Value>(text).expect("JSON"), json!({"name": "Jason", "age": 20}));
    }
}

#[tokio::test]
async fn errors_in_each_dialects_shape() {
    let server = start(config().api_key("sk-local")).await;
    // Anthropic's clients send the key as x-api-key; both headers are accepted.
    let (status, body) = server.post("/v1/messages", &messages_request(&server.model), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
    let (status, _) = server.post("/v1/messages", &messages_request(&server.model), &[("x-api-key", "sk-local")]).await;
    assert_eq!(status, 200);
    let (status, _) =
        server.post("/v1/messages", &messages_request(&server.model), &[("authorization", "Bearer sk-local")]).await;
    assert_eq!(status, 200);
    // Missing max_tokens, which Anthropic requires.
    let mut request = messages_request(&server.model);
    request.as_object_mut().expect("object").remove("max_tokens");
    let (status, body) = server.post("/v1/messages", &request, &[("x-api-key", "sk-local")]).await;
    assert_eq!((status, &body["error"]["type"]), (400, &json!("invalid_request_error")), "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("max_tokens")), "{body}");
    // An allowance past the context is lowered to fit it, as Anthropic's models do (clients such
    // as Pydantic AI send 16,384 by default).
    let mut large = messages_request(&server.model);
    large["max_tokens"] = json!(100_000);
    let (status, body) = server.post("/v1/messages", &large, &[("x-api-key", "sk-local")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["content"][0]["input"], json!({"name": "Jason", "age": 20}));
    // The Responses API answers OpenAI error bodies.
    let (status, body) =
        server.post("/v1/responses", &json!({"model": server.model}), &[("x-api-key", "sk-local")]).await;
    assert_eq!((status, &body["error"]["param"]), (400, &json!("input")), "{body}");
    spec::assert_conforms_responses("ErrorResponse", &body);
}

#[tokio::test]
async fn our_library_through_each_dialect_gets_jason() {
    let server = start(config()).await;
    for (api, base, mode) in [
        (Api::Responses, format!("{}/v1", server.url), Mode::StructuredOutputs),
        (Api::Responses, format!("{}/v1", server.url), Mode::Tools),
        (Api::Anthropic, server.url.clone(), Mode::Tools),
        (Api::Anthropic, server.url.clone(), Mode::StructuredOutputs),
    ] {
        let client = Client::builder().api(api).base_url(base).api_key("unused").mode(mode).build().expect("client");
        let user: UserDetails =
            client.chat().create(story().max_tokens(200)).await.unwrap_or_else(|e| panic!("{api} {mode}: {e}"));
        assert_eq!(user, UserDetails { name: "Jason".into(), age: 20 }, "{api} {mode}");
    }
}
