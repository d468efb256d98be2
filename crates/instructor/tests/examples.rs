//! Every program in `examples/` runs against the loopback server and prints what it promises.
//! `cargo test` builds the examples before running tests; this test runs the built binaries.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn example(name: &str) -> Command {
    // target/<profile>/deps/examples-<hash> → target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path: PathBuf = dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is not built: run the tests with `cargo test` (which builds examples), not a single --test target",
        path.display()
    );
    let mut cmd = Command::new(path);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

#[test]
fn anyscale_story() {
    let server = TestServer::start();
    // The first reply misses a field, so the story's re-ask is exercised too.
    server.push(Reply::text(r#"{"name":"Jason"}"#));
    server.push(Reply::text(JASON));
    let out = example("anyscale")
        .env("ANYSCALE_BASE_URL", server.url())
        .env("ANYSCALE_API_KEY", "esecret_loopback")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "UserDetails { name: \"Jason\", age: 20 }\n");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let body = &requests[0].body;
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("authorization"), Some("Bearer esecret_loopback"));
    assert_eq!(body["model"], "mistralai/Mixtral-8x7B-Instruct-v0.1");
    assert_eq!(body["response_format"]["type"], "json_object");
    assert!(body["response_format"]["schema"].is_object());
    assert!(body["messages"][0]["content"].as_str().unwrap_or("").starts_with("You are a world class extractor"));
    assert_eq!(body["messages"][1]["content"], r#"Extract the following entities: "Jason is 20""#);
}

#[test]
fn anthropic_story() {
    let server = TestServer::start();
    // A forced tool call, then the list streamed: in Tools mode one call holding `{"value": [...]}`.
    server.push(Reply::anthropic_tool_use("UserDetails", JASON));
    let list = r#"{"value":[{"name":"Ann","age":31},{"name":"Bo","age":42}]}"#;
    server.push(Reply::anthropic_stream_tool_uses(&[("Vec_of_UserDetails", list)], 4));
    let out = example("anthropic")
        .env("ANTHROPIC_BASE_URL", server.origin())
        .env("ANTHROPIC_API_KEY", "sk-ant-loopback")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "UserDetails { name: \"Jason\", age: 20 }\nUserDetails { name: \"Ann\", age: 31 }\nUserDetails { name: \"Bo\", age: 42 }\n"
    );
    let requests = server.requests();
    assert_eq!(requests[0].path, "/v1/messages");
    assert_eq!(requests[0].header("x-api-key"), Some("sk-ant-loopback"));
    assert_eq!(requests[0].body["tool_choice"], serde_json::json!({"type": "tool", "name": "UserDetails"}));
    assert_eq!(requests[1].body["stream"], true);
}

#[test]
fn gemini_story() {
    let server = TestServer::start();
    server.push(Reply::gemini_text(JASON));
    let out = example("gemini")
        .env("GOOGLE_GEMINI_BASE_URL", server.origin())
        .env("GEMINI_API_KEY", "g-loopback")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "UserDetails { name: \"Jason\", age: 20 }\ntokens: 10 in, 5 out\n"
    );
    let request = &server.requests()[0];
    assert_eq!(request.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(request.header("x-goog-api-key"), Some("g-loopback"));
    assert_eq!(request.body["generationConfig"]["responseJsonSchema"]["properties"]["age"]["type"], "integer");
}
