//! Schemas known only at run time (feature `dynamic`): validated with a JSON Schema validator,
//! with the failing field named in the re-ask.
#![cfg(feature = "dynamic")]

mod common;

use common::*;
use instructor::{ChatRequest, Mode, ResponseSchema};
use serde_json::json;

#[tokio::test]
async fn values_are_checked_against_the_schema() {
    let schema = ResponseSchema::from_json(json!({
        "title": "UserDetails",
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150}},
        "required": ["name", "age"]
    }))
    .expect("valid schema");
    let server = TestServer::start();
    server.push(Reply::tool_call("UserDetails", r#"{"name":"Jason","age":200}"#));
    server.push(Reply::tool_call("UserDetails", JASON));
    let out = client(&server, Mode::Tools)
        .chat()
        .create_value(ChatRequest::new("m").user("Jason is 20"), &schema)
        .await
        .expect("valid on re-ask");
    assert_eq!(out.value, json!({"name": "Jason", "age": 20}));
    assert_eq!(out.failed[0].error.path(), Some("age"));
    let tool = &bodies(&server)[1]["messages"][2];
    assert!(tool["content"].as_str().unwrap_or("").contains("age: 200 is greater than the maximum of 150"), "{tool}");
}

#[tokio::test]
async fn non_object_schemas_are_wrapped() {
    let schema =
        ResponseSchema::from_json(json!({"type": "array", "items": {"type": "string"}, "minItems": 2})).expect("valid");
    assert!(schema.is_wrapped());
    let server = TestServer::start();
    server.push(Reply::text(r#"{"value":["a"]}"#));
    server.push(Reply::text(r#"{"value":["a","b"]}"#));
    let out = client(&server, Mode::Json)
        .chat()
        .create_value(ChatRequest::new("m").user("two letters"), &schema)
        .await
        .expect("valid");
    assert_eq!(out.value, json!(["a", "b"]));
    assert_eq!(out.attempts, 2);
}

#[test]
fn invalid_schemas_are_rejected() {
    for bad in [json!({"type": "strnig"}), json!({"properties": 3}), json!("object"), json!({"minimum": "zero"})] {
        let err = ResponseSchema::from_json(bad.clone()).expect_err("invalid");
        assert!(err.is_schema(), "{bad}: {err}");
    }
}
