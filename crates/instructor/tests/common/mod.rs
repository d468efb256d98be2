//! Shared by the integration tests: the loopback server, the story's type, and the OpenAI spec.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use instructor::{Client, Mode, RetryPolicy};
pub use instructor_testserver::{Reply, TestServer};
use serde_json::{Value, json};

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct UserDetails {
    pub name: String,
    pub age: u32,
}

pub const JASON: &str = r#"{"name":"Jason","age":20}"#;

/// A client for `server` with fast HTTP retries, so failure tests stay quick.
pub fn client(server: &TestServer, mode: Mode) -> Client {
    Client::builder()
        .base_url(server.url())
        .api_key("sk-test-secret-key")
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

pub fn story_request() -> instructor::ChatRequest {
    instructor::ChatRequest::new("mistralai/Mixtral-8x7B-Instruct-v0.1")
        .system("You are a world class extractor")
        .user(r#"Extract the following entities: "Jason is 20""#)
}

/// The shared OpenAI spec (`../shared/spec` beside the project root).
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec/openai-chat-completions.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the OpenAI spec must be at {}: {e}", path.display()));
        let mut spec: Value = serde_json::from_str(&text).expect("the spec is JSON");
        honour_nullable(&mut spec);
        spec
    })
}

/// The spec keeps OpenAPI 3.0's `nullable: true` in places (`finish_reason` in stream chunks),
/// which JSON Schema 2020-12 ignores; it means "or null", so say that.
fn honour_nullable(schema: &mut Value) {
    match schema {
        Value::Object(members) => {
            for member in members.values_mut() {
                honour_nullable(member);
            }
            if members.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(members));
                members.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(honour_nullable),
        _ => {}
    }
}

fn validator(component: &str) -> jsonschema::Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{component}"),
        "components": spec()["components"],
    });
    jsonschema::validator_for(&root).expect("the spec compiles")
}

/// Asserts that `value` is a valid `component` of the OpenAI spec.
pub fn assert_conforms(component: &str, value: &Value) {
    let validator = validator(component);
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not a valid {component}: {errors:#?}\n{value:#}");
}

/// Every request the server saw, as JSON bodies.
pub fn bodies(server: &TestServer) -> Vec<Value> {
    server.requests().into_iter().map(|r| r.body).collect()
}
