//! The HTTP retry policy and failure handling, against a real loopback server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use instructor::{ChatRequest, Client, Mode, ProviderErrorKind, RetryPolicy};

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = TestServer::start();
    server.push(Reply::error(429, "rate limited").header("retry-after", "1"));
    server.push(Reply::text(JASON));
    let started = Instant::now();
    let user: UserDetails = client(&server, Mode::Json).chat().create(story_request()).await.expect("after waiting");
    assert_eq!(user.age, 20);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_ms_is_honoured() {
    let server = TestServer::start();
    server.push(Reply::error(503, "busy").header("retry-after-ms", "300"));
    server.push(Reply::text(JASON));
    let started = Instant::now();
    client(&server, Mode::Json).chat().create::<UserDetails>(story_request()).await.expect("after waiting");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn server_errors_then_success() {
    let server = TestServer::start();
    server.push(Reply::error(500, "oops"));
    server.push(Reply::error(502, "bad gateway"));
    server.push(Reply::text(JASON));
    let out = client(&server, Mode::Json)
        .chat()
        .create_with_completion::<UserDetails>(story_request())
        .await
        .expect("third try");
    assert_eq!(out.attempts, 1, "HTTP retries are not re-asks");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retries_give_up_with_the_last_status() {
    let server = TestServer::start();
    for _ in 0..3 {
        server.push(Reply::error(500, "still broken"));
    }
    let err = client(&server, Mode::Json).chat().create::<UserDetails>(story_request()).await.expect_err("down");
    assert_eq!(err.status(), Some(500));
    assert!(err.to_string().contains("still broken"), "{err}");
    assert_eq!(server.requests().len(), 3, "two retries by default");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 422] {
        let server = TestServer::start();
        server.push(Reply::error(status, "no"));
        server.push(Reply::text(JASON));
        let err = client(&server, Mode::Json).chat().create::<UserDetails>(story_request()).await.expect_err("error");
        assert_eq!(err.status(), Some(status));
        assert_eq!(server.requests().len(), 1, "{status} is not retried");
    }
}

#[tokio::test]
async fn timeouts_are_typed() {
    let server = TestServer::start();
    server.set_fallback(Reply::text(JASON).delay(Duration::from_secs(3)));
    let c = Client::builder()
        .base_url(server.url())
        .retry_policy(RetryPolicy::none().timeout(Duration::from_millis(200)))
        .build()
        .expect("client");
    let started = Instant::now();
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("too slow");
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_budget_bounds_all_retries() {
    let server = TestServer::start();
    server.set_fallback(Reply::error(503, "busy").header("retry-after", "5"));
    let c = Client::builder()
        .base_url(server.url())
        .retry_policy(RetryPolicy::default().max_retries(10).budget(Duration::from_secs(2)))
        .build()
        .expect("client");
    let started = Instant::now();
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("budget");
    assert_eq!(err.provider().map(|e| e.kind()), Some(ProviderErrorKind::Budget), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn dropped_connections_are_retried_then_reported() {
    let server = TestServer::start();
    server.push(Reply::drop_connection());
    server.push(Reply::text(JASON));
    let user: UserDetails = client(&server, Mode::Json).chat().create(story_request()).await.expect("retried");
    assert_eq!(user.name, "Jason");

    let server = TestServer::start();
    server.set_fallback(Reply::drop_connection());
    let err = client(&server, Mode::Json).chat().create::<UserDetails>(story_request()).await.expect_err("dropped");
    assert!(err.provider().is_some_and(|e| e.is_connect()), "{err}");
}

#[tokio::test]
async fn refused_connections_are_typed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = Client::builder()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .retry_policy(RetryPolicy::default().max_retries(1).initial_backoff(Duration::from_millis(5)))
        .build()
        .expect("client");
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("nothing listens");
    assert!(err.provider().is_some_and(|e| e.is_connect()), "{err}");
}

#[tokio::test]
async fn a_non_json_200_is_a_decode_error() {
    let server = TestServer::start();
    server.push(Reply::raw(200, "<html>gateway says hi</html>"));
    let err = client(&server, Mode::Json).chat().create::<UserDetails>(story_request()).await.expect_err("html");
    assert_eq!(err.provider().map(|e| e.kind()), Some(ProviderErrorKind::Decode));
    assert!(err.to_string().contains("<html>gateway"), "{err}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn huge_bodies_are_refused() {
    let server = TestServer::start();
    server.push(Reply::raw(200, vec![b' '; 64 * 1024]));
    let c = Client::builder().base_url(server.url()).max_body_bytes(16 * 1024).build().expect("client");
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("too big");
    assert_eq!(err.provider().map(|e| e.kind()), Some(ProviderErrorKind::BodyTooLarge));
}

/// A reply body in several chunks (no `content-length`), the way a proxy may send one.
fn chunked_completion(content: &str, pieces: usize) -> Reply {
    let body = serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
    })
    .to_string();
    let size = body.len().div_ceil(pieces);
    let chunks = body.as_bytes().chunks(size).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    Reply::sse_raw(chunks).frame_delay(Duration::from_millis(5))
}

#[tokio::test]
async fn a_body_in_many_chunks_is_read_whole() {
    let server = TestServer::start();
    server.push(chunked_completion(JASON, 4));
    let user: UserDetails = client(&server, Mode::Json).chat().create(story_request()).await.expect("whole body");
    assert_eq!((user.name.as_str(), user.age), ("Jason", 20));
}

#[tokio::test]
async fn a_huge_body_in_many_chunks_is_refused() {
    let server = TestServer::start();
    server.push(chunked_completion(&"x".repeat(48 * 1024), 6));
    let c = Client::builder().base_url(server.url()).max_body_bytes(16 * 1024).build().expect("client");
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("too big");
    assert_eq!(err.provider().map(|e| e.kind()), Some(ProviderErrorKind::BodyTooLarge));
}

#[tokio::test]
async fn unknown_fields_and_finish_reasons_are_tolerated() {
    let server = TestServer::start();
    server.push(Reply::json(
        200,
        &serde_json::json!({
            "id": "x", "object": "chat.completion", "created": 1, "model": "m", "x_groq": {"id": "r"},
            "system_fingerprint": null,
            "choices": [{"index": 0, "finish_reason": "eos", "stop_reason": 128009,
                "message": {"role": "assistant", "content": JASON, "reasoning_content": "hmm"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10, "queue_time": 0.01}
        }),
    ));
    let out = client(&server, Mode::Json)
        .chat()
        .create_with_completion::<UserDetails>(story_request())
        .await
        .expect("tolerated");
    assert_eq!(out.value.age, 20);
    assert_eq!(out.usage.total_tokens, 10);
}

#[tokio::test]
async fn the_api_key_is_sent_but_never_shown() {
    let server = TestServer::start();
    server.push(Reply::error(401, "invalid key"));
    let c = client(&server, Mode::Json);
    let err = c.chat().create::<UserDetails>(story_request()).await.expect_err("401");
    assert_eq!(server.requests()[0].header("authorization"), Some("Bearer sk-test-secret-key"));
    for shown in [format!("{c:?}"), format!("{err:?}"), err.to_string()] {
        assert!(!shown.contains("sk-test-secret-key"), "key leaked: {shown}");
    }
    let builder = Client::builder().api_key("sk-test-secret-key");
    assert!(!format!("{builder:?}").contains("sk-test-secret-key"));
}

#[test]
fn blocking_facade() {
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let c = instructor::blocking::Client::new(client(&server, Mode::Json)).expect("runtime");
    let user: UserDetails = c.chat().create(story_request()).expect("Jason");
    assert_eq!(user.age, 20);
}

#[tokio::test]
async fn blocking_inside_a_runtime_is_an_error_not_a_panic() {
    let server = TestServer::start();
    let c = instructor::blocking::Client::new(client(&server, Mode::Json)).expect("runtime");
    let err = c.chat().create::<UserDetails>(story_request());
    assert!(err.expect_err("inside a runtime").is_request());
    // Dropping a runtime inside another panics; hand it to a plain thread.
    std::thread::spawn(move || drop(c)).join().expect("dropped");
}

#[tokio::test]
async fn presets_and_provider_model_strings() {
    let (preset, model) =
        instructor::Preset::split_model("together/mistralai/Mixtral-8x7B-Instruct-v0.1").expect("split");
    assert_eq!(preset, instructor::Preset::Together);
    assert_eq!(model, "mistralai/Mixtral-8x7B-Instruct-v0.1");
    assert_eq!(instructor::Preset::all().count(), 15);
    let server = TestServer::start();
    server.push(Reply::text(JASON));
    let c = Client::builder().preset(instructor::Preset::LlamaCpp).base_url(server.url()).build().expect("client");
    assert_eq!(c.mode(), Mode::JsonSchema);
    let _: UserDetails = c.chat().create(ChatRequest::new(model).user("Jason is 20")).await.expect("Jason");
}
