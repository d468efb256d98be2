//! The bounded queue, client disconnects and graceful shutdown. Timing matters here, so these
//! tests run one at a time.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// One test at a time: each measures how quickly the engine frees up.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_full_queue_is_answered_429_at_once() {
    let _serial = SERIAL.lock().await;
    let server = start(config().parallel(1).queue(1)).await;
    let long = long_request(&server.model, 80);
    let first = tokio::spawn({
        let (http, url, long) = (server.http.clone(), server.url.clone(), long.clone());
        async move { http.post(format!("{url}/v1/chat/completions")).body(long.to_string()).send().await }
    });
    server.wait_running(1).await;
    let second = tokio::spawn({
        let (http, url, long) = (server.http.clone(), server.url.clone(), long.clone());
        async move { http.post(format!("{url}/v1/chat/completions")).body(long.to_string()).send().await }
    });
    // The second waits in the queue; the third finds it full.
    for _ in 0..200 {
        if server.get("/health").await.1["waiting"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    let response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .body(small_request(&server.model).to_string())
        .send()
        .await
        .expect("an answer");
    assert!(asked.elapsed() < Duration::from_secs(2), "refused at once, not after waiting");
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let error: Value = response.json().await.expect("JSON");
    assert_conforms("ErrorResponse", &error);
    assert_eq!(error["error"]["code"], "queue_full");

    for task in [first, second] {
        let response = task.await.expect("task").expect("an answer");
        assert_eq!(response.status().as_u16(), 200, "queued requests are served");
    }
    server.assert_still_serving().await;
}

#[tokio::test]
async fn queue_zero_refuses_while_busy() {
    let _serial = SERIAL.lock().await;
    let server = start(config().parallel(1).queue(0)).await;
    let long = long_request(&server.model, 80);
    let first = tokio::spawn({
        let (http, url) = (server.http.clone(), server.url.clone());
        async move { http.post(format!("{url}/v1/chat/completions")).body(long.to_string()).send().await }
    });
    server.wait_running(1).await;
    let (status, body) = server.chat(&small_request(&server.model)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(first.await.expect("task").expect("answer").status().as_u16(), 200);
    server.assert_still_serving().await;
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_cancels_its_generation() {
    let _serial = SERIAL.lock().await;
    let server = start(config().parallel(1)).await;
    // About 1,000 tokens: many seconds of work if it were not cancelled.
    let mut body = long_request(&server.model, 500);
    body["stream"] = serde_json::json!(true);
    let mut response = server
        .http
        .post(format!("{}/v1/chat/completions", server.url))
        .body(body.to_string())
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    for _ in 0..3 {
        response.chunk().await.expect("a chunk").expect("more");
    }
    drop(response);
    let freed = server.wait_idle(Duration::from_secs(5)).await;
    eprintln!("stream: engine free {freed:?} after the client left");
    let asked = Instant::now();
    server.assert_still_serving().await;
    assert!(asked.elapsed() < Duration::from_secs(5), "the next request is served promptly");
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_cancels_its_generation() {
    let _serial = SERIAL.lock().await;
    let server = start(config().parallel(1)).await;
    let body = long_request(&server.model, 500);
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(1500)).build().expect("client");
    let outcome = impatient.post(format!("{}/v1/chat/completions", server.url)).body(body.to_string()).send().await;
    assert!(outcome.is_err_and(|e| e.is_timeout()), "the client gave up");
    let freed = server.wait_idle(Duration::from_secs(5)).await;
    eprintln!("non-stream: engine free {freed:?} after the client left");
    server.assert_still_serving().await;
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let _serial = SERIAL.lock().await;
    let mut server = start(config()).await;
    let body = long_request(&server.model, 60);
    let in_flight = tokio::spawn({
        let (http, url) = (server.http.clone(), server.url.clone());
        async move { http.post(format!("{url}/v1/chat/completions")).body(body.to_string()).send().await }
    });
    server.wait_running(1).await;
    server.shutdown();
    let response = in_flight.await.expect("task").expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let body: Value = response.json().await.expect("JSON");
    assert_conforms("CreateChatCompletionResponse", &body);
    tokio::time::timeout(Duration::from_secs(10), &mut server.task).await.expect("the server stops").expect("cleanly");
    let refused = reqwest::Client::new().get(format!("{}/health", server.url)).send().await;
    assert!(refused.is_err(), "no longer listening");
}
