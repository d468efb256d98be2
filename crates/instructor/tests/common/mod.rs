//! Shared by the integration tests: the loopback server, the story's type, and the OpenAI spec.
#![allow(dead_code)]

use std::time::Duration;

use instructor::{Client, Mode, RetryPolicy};
pub use instructor_testserver::{Reply, TestServer};
use serde_json::Value;

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

#[allow(unused_imports)] // not every test file checks conformance
pub use instructor_testserver::spec::assert_conforms;

/// Every request the server saw, as JSON bodies.
pub fn bodies(server: &TestServer) -> Vec<Value> {
    server.requests().into_iter().map(|r| r.body).collect()
}
