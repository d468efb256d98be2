//! `instructor serve` end to end on the real engine: every response and chunk against OpenAI's
//! spec, both structured-output dialects, tools, stop sequences, and this project's own library
//! as the client in every mode.

mod common;

use common::*;
use futures_util::StreamExt;
use instructor::{Client, Mode, PartialEvent};
use serde_json::{Value, json};

fn client(server: &Running, mode: Mode) -> Client {
    Client::builder().base_url(format!("{}/v1", server.url)).api_key("unused").mode(mode).build().expect("client")
}

fn user_tool() -> Value {
    json!([{"type": "function", "function": {"name": "UserDetails", "description": "A user", "parameters": user_schema()}}])
}

fn two_tools() -> Value {
    let mut tools = user_tool();
    tools.as_array_mut().expect("array").push(json!({"type": "function", "function": {"name": "GetWeather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}));
    tools
}

/// A question, the model's call to `GetWeather`, and the tool's answer.
fn answered_conversation() -> Value {
    json!([
        {"role": "user", "content": "What is the weather like in Paris today?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0", "type": "function",
            "function": {"name": "GetWeather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_0", "content": "18 degrees Celsius and sunny"},
    ])
}

fn content_json(body: &Value) -> Value {
    let text = body["choices"][0]["message"]["content"].as_str().unwrap_or_else(|| panic!("text: {body}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn assert_jason(args: &Value) {
    assert_eq!((args["name"].as_str(), args["age"].as_u64()), (Some("Jason"), Some(20)), "{args}");
}

#[tokio::test]
async fn every_response_conforms_in_both_dialects_and_with_tools() {
    let server = start(config()).await;
    let m = &server.model;
    let schema = user_schema();
    let with = |extra: Value| {
        let mut body = json!({"model": m, "messages": story_messages()});
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body
    };

    // The json_object + schema dialect (Anyscale, Together, llama.cpp).
    let (status, body) =
        server.chat(&with(json!({"response_format": {"type": "json_object", "schema": schema}}))).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);
    assert_jason(&content_json(&body));
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["completion_tokens"].as_u64() > Some(0) && body["usage"]["prompt_tokens"].as_u64() > Some(0));

    // OpenAI's json_schema, strict and not.
    for strict in [true, false] {
        let format =
            json!({"type": "json_schema", "json_schema": {"name": "UserDetails", "strict": strict, "schema": schema}});
        let (status, body) = server.chat(&with(json!({"response_format": format}))).await;
        assert_eq!(status, 200, "{body}");
        assert_conforms("CreateChatCompletionResponse", &body);
        assert_jason(&content_json(&body));
    }

    // json_object alone: any object.
    let (status, body) =
        server.chat(&with(json!({"response_format": {"type": "json_object"}, "max_tokens": 40}))).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);
    if body["choices"][0]["finish_reason"] == "stop" {
        assert!(content_json(&body).is_object());
    }

    // A named (forced) tool: grammar-constrained arguments, returned as tool_calls with an id.
    let named = json!({"type": "function", "function": {"name": "UserDetails"}});
    let (status, body) = server.chat(&with(json!({"tools": user_tool(), "tool_choice": named}))).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().is_some_and(|id| id.starts_with("call_")), "{call}");
    assert_eq!((call["type"].as_str(), call["function"]["name"].as_str()), (Some("function"), Some("UserDetails")));
    assert_jason(&serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments")).expect("JSON"));

    // One tool with auto or required: a forced call too.
    for choice in [json!("auto"), json!("required")] {
        let (status, body) = server.chat(&with(json!({"tools": user_tool(), "tool_choice": choice}))).await;
        assert_eq!(status, 200, "{body}");
        assert_conforms("CreateChatCompletionResponse", &body);
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_jason(&serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments")).expect("JSON"));
    }

    // Several tools with auto or required: a grammar-constrained list of calls, each with its id.
    let tools = two_tools();
    for choice in [json!("auto"), json!("required")] {
        let (status, body) = server.chat(&with(json!({"tools": tools, "tool_choice": choice}))).await;
        assert_eq!(status, 200, "{body}");
        assert_conforms("CreateChatCompletionResponse", &body);
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{body}");
        let calls = body["choices"][0]["message"]["tool_calls"].as_array().expect("calls");
        assert!(!calls.is_empty());
        let ids: std::collections::HashSet<&str> = calls.iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids.len(), calls.len(), "distinct ids: {body}");
    }
    // Once a tool has answered, `auto` lets the model answer in words (an agent's loop ends),
    // with one tool or several; `required` still calls.
    let answered = answered_conversation();
    let weather = json!([two_tools()[1].clone()]);
    for (tools, choice, words) in
        [(&tools, "auto", true), (&weather, "auto", true), (&tools, "required", false), (&weather, "required", false)]
    {
        let request =
            json!({"model": m, "messages": answered, "tools": tools, "tool_choice": choice, "max_tokens": 40});
        let (status, body) = server.chat(&request).await;
        assert_eq!(status, 200, "{body}");
        assert_conforms("CreateChatCompletionResponse", &body);
        let message = &body["choices"][0]["message"];
        let case = format!("{} tool(s), {choice}: {body}", tools.as_array().map_or(0, Vec::len));
        if words {
            assert!(message["content"].as_str().is_some_and(|t| !t.trim().is_empty()), "{case}");
            assert!(message.get("tool_calls").is_none_or(Value::is_null), "{case}");
            assert_ne!(body["choices"][0]["finish_reason"], "tool_calls", "{case}");
        } else {
            assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{case}");
        }
    }

    // parallel_tool_calls: false keeps one call.
    let (status, body) =
        server.chat(&with(json!({"tools": tools, "tool_choice": "required", "parallel_tool_calls": false}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["tool_calls"].as_array().map(Vec::len), Some(1));

    // tool_choice none: text, and the response_format still applies.
    let (status, body) = server
        .chat(&with(json!({"tools": user_tool(), "tool_choice": "none",
            "response_format": {"type": "json_object", "schema": schema}})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);
    assert_jason(&content_json(&body));

    // A whole conversation: developer role, content parts, an assistant's call and its result.
    let conversation = json!([
        {"role": "developer", "content": [{"type": "text", "text": "You are a world class extractor"}]},
        {"role": "user", "content": [{"type": "text", "text": "Extract the following entities:"}, {"type": "text", "text": "\"Jason is 20\""}]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "UserDetails", "arguments": "{\"name\":\"Jason\",\"age\":2}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "age: expected 20"},
        {"role": "user", "content": "Try again.", "name": "jason"},
    ]);
    let (status, body) = server
        .chat(&json!({"model": m, "messages": conversation, "max_completion_tokens": 40, "temperature": 0.7,
            "top_p": 0.9, "seed": 7, "n": 1, "tools": user_tool(), "tool_choice": named,
            "some_future_field": {"ignored": true}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);

    // max_tokens cuts: finish_reason length.
    let (status, body) = server.chat(&json!({"model": m, "messages": story_messages(), "max_tokens": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_conforms("CreateChatCompletionResponse", &body);
    assert_eq!(body["choices"][0]["finish_reason"], "length");
    assert_eq!(body["usage"]["completion_tokens"], 2);

    // The file name is accepted as the model too.
    let (status, _) =
        server.chat(&json!({"model": format!("{m}.gguf"), "messages": story_messages(), "max_tokens": 1})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_stream_chunk_conforms() {
    let server = start(config()).await;
    let m = &server.model;
    let schema = user_schema();
    let named = json!({"type": "function", "function": {"name": "UserDetails"}});
    let cases = [
        ("text", json!({"max_tokens": 12})),
        (
            "json_schema",
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "U", "schema": schema}}}),
        ),
        ("json_object+schema", json!({"response_format": {"type": "json_object", "schema": schema}})),
        ("named tool", json!({"tools": user_tool(), "tool_choice": named})),
        ("one tool, auto", json!({"tools": user_tool(), "tool_choice": "auto"})),
        ("two tools, auto", json!({"tools": two_tools(), "tool_choice": "auto"})),
        // A reply in words where tools were offered.
        (
            "two tools, auto, answered",
            json!({"tools": two_tools(), "tool_choice": "auto", "messages": answered_conversation(), "max_tokens": 30}),
        ),
    ];
    for (name, extra) in cases {
        for include_usage in [true, false] {
            let mut body = json!({"model": m, "messages": story_messages(), "stream": true,
                "stream_options": {"include_usage": include_usage}});
            body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            let (status, events) = server.chat_stream(&body).await;
            assert_eq!(status, 200, "{name}: {events:?}");
            let chunks = chunks(&events);
            let first = &chunks[0]["choices"][0];
            assert_eq!(first["delta"]["role"], "assistant", "{name}");
            let id = &chunks[0]["id"];
            assert!(chunks.iter().all(|c| &c["id"] == id), "{name}: one id");
            let finals: Vec<&Value> = chunks
                .iter()
                .filter(|c| !c["choices"][0]["finish_reason"].is_null() && c["choices"][0].is_object())
                .collect();
            assert_eq!(finals.len(), 1, "{name}: one finish_reason");
            let usage_chunks: Vec<&Value> = chunks.iter().filter(|c| c.get("usage").is_some()).collect();
            if include_usage {
                assert_eq!(usage_chunks.len(), 1, "{name}");
                assert_eq!(usage_chunks[0]["choices"], json!([]));
                assert!(std::ptr::eq(usage_chunks[0], chunks.last().expect("last")), "{name}: usage last");
                assert!(usage_chunks[0]["usage"]["completion_tokens"].as_u64() > Some(0));
            } else {
                assert!(usage_chunks.is_empty(), "{name}");
            }
            // The pieces add up to the same answer a plain request gets.
            let mut plain = body.clone();
            plain["stream"] = json!(false);
            plain.as_object_mut().expect("object").remove("stream_options");
            let (_, whole) = server.chat(&plain).await;
            let message = &whole["choices"][0]["message"];
            match name {
                "named tool" | "one tool, auto" | "two tools, auto" => {
                    let args: String = chunks
                        .iter()
                        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
                        .collect();
                    assert_eq!(
                        args,
                        message["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or(""),
                        "{name}"
                    );
                    let first_call =
                        chunks.iter().find_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0)).expect("a call");
                    assert!(first_call["id"].is_string(), "{first_call}");
                    assert_eq!(first_call["function"]["name"], message["tool_calls"][0]["function"]["name"], "{name}");
                    assert_eq!(finals[0]["choices"][0]["finish_reason"], "tool_calls");
                }
                _ => assert_eq!(streamed_text(&chunks), message["content"].as_str().unwrap_or(""), "{name}"),
            }
        }
    }
}

#[tokio::test]
async fn stop_sequences_cut_the_text() {
    let server = start(config()).await;
    let body = json!({"model": server.model, "messages": [{"role": "user", "content": "Tell me about the sea."}],
        "max_tokens": 40});
    let (_, whole) = server.chat(&body).await;
    let text = whole["choices"][0]["message"]["content"].as_str().expect("text").to_owned();
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(words.len() >= 6, "a long enough reply: {text:?}");
    let stop = format!("{} {}", words[3], words[4]);
    let expected = &text[..text.find(&stop).expect("the stop is in the text")];

    let mut cut = body.clone();
    cut["stop"] = json!(["never-appears", stop]);
    let (status, cut_body) = server.chat(&cut).await;
    assert_eq!(status, 200);
    assert_conforms("CreateChatCompletionResponse", &cut_body);
    assert_eq!(cut_body["choices"][0]["message"]["content"], expected);
    assert_eq!(cut_body["choices"][0]["finish_reason"], "stop");
    assert!(cut_body["usage"]["completion_tokens"].as_u64() < whole["usage"]["completion_tokens"].as_u64());

    cut["stream"] = json!(true);
    let (_, events) = server.chat_stream(&cut).await;
    let chunks = chunks(&events);
    assert_eq!(streamed_text(&chunks), expected);
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"));
}

#[tokio::test]
async fn models_and_health() {
    let server = start(config()).await;
    let (status, models) = server.get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], server.model.as_str());
    assert_eq!(models["data"][0]["object"], "model");
    let (status, model) = server.get(&format!("/v1/models/{}", server.model)).await;
    assert_eq!((status, &model["id"]), (200, &json!(server.model)));
    let (status, missing) = server.get("/v1/models/gpt-4o").await;
    assert_eq!(status, 404);
    assert_conforms("ErrorResponse", &missing);
    assert_eq!(missing["error"]["code"], "model_not_found");
    let (status, health) = server.get("/health").await;
    assert_eq!((status, health["status"].as_str(), health["running"].as_u64()), (200, Some("ok"), Some(0)));

    // --model-id renames the model.
    let renamed = start(config().model_id("local")).await;
    assert_eq!(renamed.model, "local");
    let (status, body) = renamed.chat(&small_request("local")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "local");
}

/// The seed example through our library in every mode. Where the schema reaches the server as
/// a grammar (tools, `json_schema`, `json_object` + `schema`) the answer is exact; where it is
/// only in the prompt (`Json`, `MdJson`) the 135M default model echoes the schema instead of
/// filling it, so there the check is that every attempt was served (the library re-asked and
/// gave up on the model's answers, not on the server).
#[tokio::test]
async fn our_library_in_every_mode() {
    let server = start(config()).await;
    let jason = UserDetails { name: "Jason".into(), age: 20 };
    let mut failures = Vec::new();
    for mode in [Mode::Tools, Mode::ToolsStrict, Mode::StructuredOutputs, Mode::JsonSchema, Mode::Json, Mode::MdJson] {
        // The prompt-only modes (Json, MdJson) work because the engine holds the reply to the
        // schema written in the prompt, and leaves that text out of what the model reads.
        let request = story().max_retries(0);
        let outcome = client(&server, mode).chat().create_with_completion::<UserDetails>(request).await;
        eprintln!("{mode}: {:?}", outcome.as_ref().map(|o| (&o.value, o.attempts)));
        match outcome {
            Err(e) => failures.push(format!("{mode}: {e}")),
            Ok(out) => {
                assert!(out.usage.completion_tokens > 0, "{mode}: usage");
                if out.value != jason {
                    failures.push(format!("{mode}: {:?}", out.value));
                }
            }
        }
    }
    match client(&server, Mode::ParallelTools).chat().create::<Vec<UserDetails>>(story().max_retries(2)).await {
        Ok(users) if users.first() == Some(&jason) => {}
        other => failures.push(format!("parallel-tools: {other:?}")),
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn our_library_streams_partials() {
    let server = start(config()).await;
    for mode in [Mode::StructuredOutputs, Mode::Tools, Mode::ToolsStrict] {
        let events: Vec<PartialEvent<UserDetails>> = client(&server, mode)
            .chat()
            .create_partial::<UserDetails>(story().max_retries(1))
            .map(|e| e.unwrap_or_else(|e| panic!("{mode}: {e}")))
            .collect()
            .await;
        let partials = events.iter().filter(|e| matches!(e, PartialEvent::Partial(_))).count();
        assert!(partials >= 3, "{mode}: {partials} partials: the reply arrives in pieces");
        let Some(PartialEvent::Complete(done)) = events.last() else { panic!("{mode}: a final value") };
        assert_eq!(done.value, UserDetails { name: "Jason".into(), age: 20 }, "{mode}");
        assert!(done.usage.completion_tokens > 0, "{mode}: usage from the last chunk");
    }
}
