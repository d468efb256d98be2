//! Each mode's request shape and reply extraction, against the loopback server, with every
//! OpenAI-mode request checked against the OpenAI spec.

mod common;

use common::*;
use instructor::{ChatRequest, Mode};
use serde_json::{Value, json};

fn system_text(body: &Value) -> &str {
    body["messages"][0]["content"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn story_json_schema_mode() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let user: UserDetails =
        client(&server, Mode::JsonSchema).chat().create(story_request().max_retries(2)).await.expect("Jason");
    assert_eq!(user, UserDetails { name: "Jason".into(), age: 20 });

    let body = &bodies(&server)[0];
    assert_eq!(body["model"], "mistralai/Mixtral-8x7B-Instruct-v0.1");
    // Anyscale/Together dialect: json_object with the schema attached.
    assert_eq!(body["response_format"]["type"], "json_object");
    assert_eq!(body["response_format"]["schema"]["properties"]["age"]["type"], "integer");
    assert_eq!(body["response_format"]["schema"]["required"], json!(["name", "age"]));
    assert!(system_text(body).starts_with("You are a world class extractor"));
    assert!(system_text(body).contains("\"age\""), "schema in the prompt");
    assert_eq!(body["messages"][1]["content"], r#"Extract the following entities: "Jason is 20""#);
    assert!(body.get("tools").is_none());
}

#[tokio::test]
async fn tools_mode_forces_one_function() {
    let server = TestServer::start();
    server.push(Reply::tool_call("UserDetails", JASON));
    let user: UserDetails = client(&server, Mode::Tools).chat().create(story_request()).await.expect("Jason");
    assert_eq!(user.age, 20);
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "UserDetails");
    assert_eq!(body["tools"][0]["function"]["parameters"]["properties"]["name"]["type"], "string");
    assert!(body["tools"][0]["function"].get("strict").is_none());
    assert_eq!(body["tool_choice"], json!({"type": "function", "function": {"name": "UserDetails"}}));
    assert!(body.get("response_format").is_none());
    assert_eq!(system_text(body), "You are a world class extractor", "tools mode leaves the prompt alone");
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Contact {
    name: String,
    email: Option<String>,
    address: Option<Address>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Address {
    city: String,
}

#[tokio::test]
async fn tools_strict_mode_uses_the_strict_subset() {
    let server = TestServer::start();
    server.push(Reply::tool_call("Contact", r#"{"name":"Ann","email":null,"address":{"city":"Oslo"}}"#));
    let c: Contact = client(&server, Mode::ToolsStrict)
        .chat()
        .create(ChatRequest::new("gpt-4o").user("Ann from Oslo"))
        .await
        .expect("contact");
    assert_eq!(c.address.expect("address").city, "Oslo");
    assert_eq!(c.email, None);
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    let f = &body["tools"][0]["function"];
    assert_eq!(f["strict"], true);
    assert_eq!(f["parameters"]["additionalProperties"], false);
    assert_eq!(f["parameters"]["required"], json!(["name", "email", "address"]));
    assert_eq!(f["parameters"]["$defs"]["Address"]["additionalProperties"], false);
}

#[tokio::test]
async fn structured_outputs_mode() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let user: UserDetails =
        client(&server, Mode::StructuredOutputs).chat().create(story_request()).await.expect("Jason");
    assert_eq!(user.name, "Jason");
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    let rf = &body["response_format"];
    assert_eq!(rf["type"], "json_schema");
    assert_eq!(rf["json_schema"]["name"], "UserDetails");
    assert_eq!(rf["json_schema"]["strict"], true);
    assert_eq!(rf["json_schema"]["schema"]["additionalProperties"], false);
    assert_eq!(system_text(body), "You are a world class extractor");
}

#[tokio::test]
async fn json_mode() {
    let server = TestServer::start();
    // Servers in JSON mode sometimes still fence the answer.
    server.push(Reply::text("```json\n{\"name\":\"Jason\",\"age\":20}\n```"));
    let user: UserDetails = client(&server, Mode::Json).chat().create(story_request()).await.expect("Jason");
    assert_eq!(user.age, 20);
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert!(system_text(body).contains("JSON Schema"));
}

#[tokio::test]
async fn md_json_mode() {
    let server = TestServer::start();
    server.push(Reply::text("Sure! Here it is:\n```json\n{\"name\": \"Jason\", \"age\": 20}\n```\nAnything else?"));
    let user: UserDetails = client(&server, Mode::MdJson)
        .chat()
        .create(ChatRequest::new("m").user(r#"Extract the following entities: "Jason is 20""#))
        .await
        .expect("Jason");
    assert_eq!(user.name, "Jason");
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    assert!(body.get("response_format").is_none() && body.get("tools").is_none());
    assert_eq!(body["messages"][0]["role"], "system", "a system message is added for the schema");
    assert!(system_text(body).contains("```json"));
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum Action {
    Weather { city: String },
    Search { query: String },
}

#[tokio::test]
async fn parallel_tools_mode_returns_every_call() {
    let server = TestServer::start();
    server.push(Reply::tool_calls(&[
        ("Weather", r#"{"city":"Oslo"}"#),
        ("Search", r#"{"query":"fjords"}"#),
        ("Weather", r#"{"city":"Bergen"}"#),
    ]));
    let actions: Vec<Action> = client(&server, Mode::ParallelTools)
        .chat()
        .create(ChatRequest::new("gpt-4o").user("Weather in Oslo and Bergen, and search fjords"))
        .await
        .expect("actions");
    assert_eq!(
        actions,
        [
            Action::Weather { city: "Oslo".into() },
            Action::Search { query: "fjords".into() },
            Action::Weather { city: "Bergen".into() }
        ]
    );
    let body = &bodies(&server)[0];
    assert_conforms("CreateChatCompletionRequest", body);
    assert_eq!(body["tool_choice"], "auto");
    let names: Vec<&str> =
        body["tools"].as_array().expect("tools").iter().map(|t| t["function"]["name"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["Weather", "Search"]);

    // A Vec of one struct type: one tool, every call an item.
    server.push(Reply::tool_calls(&[("UserDetails", JASON), ("UserDetails", r#"{"name":"Ann","age":31}"#)]));
    let users: Vec<UserDetails> = client(&server, Mode::ParallelTools)
        .chat()
        .create(ChatRequest::new("gpt-4o").user("Jason is 20, Ann is 31"))
        .await
        .expect("users");
    assert_eq!(users.len(), 2);
    assert_eq!(users[1].name, "Ann");
    let body = &bodies(&server)[1];
    assert_eq!(body["tools"][0]["function"]["name"], "UserDetails", "named after the item type");
    assert!(body["tools"][0]["function"]["parameters"]["properties"]["age"].is_object());
}

#[tokio::test]
async fn parallel_tools_needs_a_vec() {
    let server = TestServer::start();
    let err = client(&server, Mode::ParallelTools)
        .chat()
        .create::<UserDetails>(story_request())
        .await
        .expect_err("not a Vec");
    assert!(err.is_request(), "{err}");
    assert!(server.requests().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn primitive_and_collection_targets() {
    let server = TestServer::start();
    server.push(Reply::tool_call("string", r#"{"value":"Jason"}"#));
    server.push(Reply::tool_call("boolean", r#"{"value":true}"#));
    server.push(Reply::text(r#"{"value":[{"name":"Jason","age":20}]}"#));
    server.push(Reply::text(r#"{"value":null}"#));
    server.push(Reply::tool_call("Color", r#"{"value":"Green"}"#));
    let c = client(&server, Mode::Tools);
    let name: String = c.chat().create(ChatRequest::new("m").user("name?")).await.expect("string");
    assert_eq!(name, "Jason");
    let yes: bool = c.chat().create(ChatRequest::new("m").user("adult?")).await.expect("bool");
    assert!(yes);
    let users: Vec<UserDetails> =
        c.chat().create(ChatRequest::new("m").user("users?").mode(Mode::JsonSchema)).await.expect("vec");
    assert_eq!(users[0].name, "Jason");
    let nobody: Option<UserDetails> =
        c.chat().create(ChatRequest::new("m").user("anyone?").mode(Mode::Json)).await.expect("option");
    assert_eq!(nobody, None);
    let color: Color = c.chat().create(ChatRequest::new("m").user("color?")).await.expect("enum");
    assert_eq!(color, Color::Green);

    let bodies = bodies(&server);
    assert_eq!(bodies[0]["tools"][0]["function"]["parameters"]["properties"]["value"]["type"], "string");
    assert_eq!(bodies[1]["tools"][0]["function"]["name"], "boolean");
    assert_eq!(bodies[2]["response_format"]["schema"]["type"], "object", "arrays are wrapped in an object");
    assert_eq!(bodies[4]["tools"][0]["function"]["parameters"]["properties"]["value"]["enum"], json!(["Red", "Green"]));
    for b in [&bodies[0], &bodies[1], &bodies[3], &bodies[4]] {
        assert_conforms("CreateChatCompletionRequest", b);
    }
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
enum Color {
    Red,
    Green,
}

#[tokio::test]
async fn create_with_completion_returns_the_raw_completion() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let out =
        client(&server, Mode::Json).chat().create_with_completion::<UserDetails>(story_request()).await.expect("Jason");
    assert_eq!(out.value.name, "Jason");
    assert_eq!(out.completion.id, "chatcmpl-test");
    assert_eq!(out.usage.total_tokens, 15);
    assert_eq!(out.attempts, 1);
    assert!(out.failed.is_empty());
}

#[tokio::test]
async fn the_test_server_answers_per_the_spec() {
    for reply in
        [Reply::text(JASON), Reply::tool_call("UserDetails", JASON), Reply::tool_calls(&[("A", "{}"), ("B", "{}")])]
    {
        let server = TestServer::start();
        server.push(reply);
        let url = format!("{}/chat/completions", server.url());
        let body: Value = reqwest_json(&url).await;
        assert_conforms("CreateChatCompletionResponse", &body);
    }
    let server = TestServer::start();
    server.push(Reply::error(429, "slow down"));
    assert_conforms("ErrorResponse", &reqwest_json(&format!("{}/chat/completions", server.url())).await);
}

async fn reqwest_json(url: &str) -> Value {
    // The library's own client is what is under test elsewhere; here a bare HTTP call.
    let client = instructor_testserver_probe::Probe;
    client.post(url).await
}

mod instructor_testserver_probe {
    use serde_json::Value;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A minimal HTTP/1.1 POST over a raw socket, so the test does not depend on the client under test.
    pub struct Probe;

    impl Probe {
        pub async fn post(&self, url: &str) -> Value {
            let rest = url.strip_prefix("http://").expect("http url");
            let (host, path) = rest.split_once('/').expect("path");
            let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
            let body = "{}";
            let req = format!(
                "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(req.as_bytes()).await.expect("write");
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.expect("read");
            let text = String::from_utf8(response).expect("utf-8");
            let (_, body) = text.split_once("\r\n\r\n").expect("headers end");
            serde_json::from_str(body).expect("JSON body")
        }
    }
}
