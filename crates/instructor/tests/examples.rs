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

#[test]
fn receipt_story() {
    use base64::Engine as _;
    let server = TestServer::start();
    // A JPEG under a `.png` name; the first reply lacks the total, so the re-ask is seen too.
    let jpeg = include_bytes!("data/media/receipt.jpg");
    let dir = std::env::temp_dir().join(format!("receipt-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("receipt.png");
    std::fs::write(&path, jpeg).expect("write");
    let items = r#"[{"name":"Coffee","price":3.5},{"name":"Bagel","price":2.25}]"#;
    server.push(Reply::responses_text(&format!(r#"{{"merchant":"ACME STORE","items":{items}}}"#)));
    server.push(Reply::responses_text(&format!(r#"{{"merchant":"ACME STORE","items":{items},"total":5.75}}"#)));
    let out = example("receipt")
        .arg(&path)
        .env("OPENAI_BASE_URL", server.url())
        .env("OPENAI_API_KEY", "sk-loopback")
        .output()
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Receipt { merchant: \"ACME STORE\", items: [LineItem { name: \"Coffee\", price: 3.5 }, \
         LineItem { name: \"Bagel\", price: 2.25 }], total: 5.75 }\n"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(request.path, "/v1/responses");
        // The image stays in the first user message on the re-ask, and is sent once.
        let images: Vec<&serde_json::Value> = request.body["input"]
            .as_array()
            .expect("input items")
            .iter()
            .filter_map(|item| item["content"].as_array())
            .flatten()
            .filter(|part| part["type"] == "input_image")
            .collect();
        assert_eq!(images.len(), 1, "{}", request.body);
        let url = images[0]["image_url"].as_str().expect("data URL");
        let b64 = url.strip_prefix("data:image/jpeg;base64,").expect("sent as a JPEG, whatever its name");
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).expect("base64"), jpeg);
    }
    assert_eq!(requests[0].body["text"]["format"]["type"], "json_schema");
}
