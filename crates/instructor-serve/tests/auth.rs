//! `--api-key`: 401 without the right bearer token, and the key never reaches a log line or an
//! error body.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use instructor::{Client, Mode};
use serde_json::Value;

const KEY: &str = "sk-serve-secret-0123456789";
const WRONG: &str = "sk-wrong-guess-9876543210";

/// Every log line of this test binary, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Capture(Arc::clone(&writer)))
            .init();
        buffer
    })
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_is_required_and_never_logged() {
    let logs = logs();
    let server = start(config().api_key(KEY)).await;
    let chat = format!("{}/v1/chat/completions", server.url);
    let body = small_request(&server.model).to_string();

    let mut error_bodies = Vec::new();
    for auth in [None, Some(format!("Bearer {WRONG}")), Some(WRONG.to_owned()), Some(format!("Basic {KEY}"))] {
        let mut request = server.http.post(&chat).body(body.clone());
        if let Some(auth) = &auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        assert_eq!(response.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
        let text = response.text().await.expect("body");
        let error: Value = serde_json::from_str(&text).expect("JSON");
        assert_conforms("ErrorResponse", &error);
        assert_eq!(error["error"]["code"], "invalid_api_key");
        error_bodies.push(text);
    }
    let response = server.http.get(format!("{}/v1/models", server.url)).send().await.expect("an answer");
    assert_eq!(response.status().as_u16(), 401, "/v1/models needs the key too");

    // The right key works, for raw requests and for our library.
    let response = server.http.post(&chat).bearer_auth(KEY).body(body.clone()).send().await.expect("an answer");
    assert_eq!(response.status().as_u16(), 200);
    let client = Client::builder()
        .base_url(format!("{}/v1", server.url))
        .api_key(KEY)
        .mode(Mode::Tools)
        .build()
        .expect("client");
    let user: UserDetails = client.chat().create(story()).await.expect("authorised");
    assert_eq!(user, UserDetails { name: "Jason".into(), age: 20 });
    // /health stays open (for load balancers).
    assert_eq!(server.get("/health").await.0, 200);

    let logged = String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(logged.contains("unauthorized") && logged.contains("answered"), "requests are logged:\n{logged}");
    for secret in [KEY, WRONG] {
        assert!(!logged.contains(secret), "a key reached the logs");
        assert!(error_bodies.iter().all(|b| !b.contains(secret)), "a key reached an error body");
    }
    assert!(!format!("{:?}", config().api_key(KEY)).contains(KEY), "nor Debug");
}
