//! Shared by the integration tests: the engine, a server on 127.0.0.1:0, the OpenAI spec, and
//! small HTTP helpers.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use instructor_engine::{Engine, EngineOptions, store};
use instructor_serve::{ServeConfig, Server};
use serde_json::{Value, json};

/// The default model, fetched (and verified) on first use like the CLI does.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let path = std::thread::spawn(move || runtime.block_on(store::ensure_default(&store::Silent)))
            .join()
            .expect("pull thread")
            .expect("the default model can be fetched");
        Engine::load(&path, EngineOptions::default()).expect("the default model loads")
    })
}

pub fn config() -> ServeConfig {
    ServeConfig::new(store::default_model_path()).port(0)
}

/// A running server; it stops when the test's runtime ends (or on `shutdown`).
pub struct Running {
    pub url: String,
    pub model: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn start(config: ServeConfig) -> Running {
    let server = Server::with_engine(engine().clone(), &config).await.expect("binds");
    let url = format!("http://{}", server.local_addr());
    let model = server.model_id().to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .run(async {
                stopped.await.ok();
            })
            .await
            .expect("serves");
    });
    let http = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("http client");
    Running { url, model, http, stop: Some(stop), task }
}

impl Running {
    /// Starts a graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }

    /// POSTs JSON to `/v1/chat/completions`.
    pub async fn chat(&self, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    /// POSTs a streamed request and returns every event's data, `[DONE]` included.
    pub async fn chat_stream(&self, body: &Value) -> (u16, Vec<String>) {
        let response = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .body(body.to_string())
            .send()
            .await
            .expect("the server answers");
        let status = response.status().as_u16();
        if status == 200 {
            let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok());
            assert_eq!(content_type, Some("text/event-stream"));
        }
        let text = response.text().await.expect("a body");
        if status != 200 {
            return (status, vec![text]);
        }
        let events = text
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {e:?}")).to_owned())
            .collect();
        (status, events)
    }

    /// POSTs JSON to `path` with extra headers; the status and the JSON body.
    pub async fn post(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url)).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.body(body.to_string()).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
    }

    /// POSTs a streamed request to `path`; every event as (its `event:` name, its data as JSON).
    pub async fn post_events(&self, path: &str, body: &Value) -> (u16, Vec<(Option<String>, Value)>) {
        let response =
            self.http.post(format!("{}{path}", self.url)).body(body.to_string()).send().await.expect("answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        if status != 200 {
            return (status, vec![(None, serde_json::from_str(&text).unwrap_or(Value::String(text)))]);
        }
        let events = text
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let name = e.lines().find_map(|l| l.strip_prefix("event: ")).map(str::to_owned);
                let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap_or_else(|| panic!("no data: {e:?}"));
                (name, serde_json::from_str(data).unwrap_or_else(|err| panic!("{err}: {data}")))
            })
            .collect();
        (status, events)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.http.get(format!("{}{path}", self.url)).send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// `/health` answers and a small real request is served.
    pub async fn assert_still_serving(&self) {
        let (status, health) = self.get("/health").await;
        assert_eq!((status, health["status"].as_str()), (200, Some("ok")), "{health}");
        let (status, body) = self.chat(&small_request(&self.model)).await;
        assert_eq!(status, 200, "{body}");
        assert_conforms("CreateChatCompletionResponse", &body);
    }

    /// Waits until no generation is running (at most `within`).
    pub async fn wait_idle(&self, within: Duration) -> Duration {
        let started = std::time::Instant::now();
        loop {
            let (_, health) = self.get("/health").await;
            if health["running"] == 0 && health["waiting"] == 0 {
                return started.elapsed();
            }
            assert!(started.elapsed() < within, "still busy after {within:?}: {health}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a generation is running.
    pub async fn wait_running(&self, n: u64) {
        for _ in 0..400 {
            let (_, health) = self.get("/health").await;
            if health["running"].as_u64() >= Some(n) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("no generation started");
    }
}

pub fn small_request(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 3})
}

pub fn user_schema() -> Value {
    json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    })
}

pub fn story_messages() -> Value {
    json!([
        {"role": "system", "content": "You are a world class extractor"},
        {"role": "user", "content": "Extract the following entities: \"Jason is 20\""},
    ])
}

/// A request whose reply is long however the model feels: an array of at least `n` integers.
pub fn long_request(model: &str, n: usize) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "List numbers."}],
        "max_tokens": 3 * n + 64,
        "response_format": {"type": "json_schema", "json_schema": {"name": "numbers", "schema": {
            "type": "array", "items": {"type": "integer", "minimum": 0},
            "minItems": n, "maxItems": n,
        }}},
    })
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
pub struct UserDetails {
    pub name: String,
    pub age: u32,
}

pub fn story() -> instructor::ChatRequest {
    instructor::ChatRequest::new("SmolLM2-135M-Instruct.Q4_1")
        .system("You are a world class extractor")
        .user(r#"Extract the following entities: "Jason is 20""#)
}

#[allow(unused_imports)] // not every test file checks conformance
pub use instructor_testserver::spec::assert_conforms;

/// Parses and checks every chunk of a stream: each a valid chunk, `[DONE]` last.
pub fn chunks(events: &[String]) -> Vec<Value> {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{events:#?}");
    events[..events.len() - 1]
        .iter()
        .map(|e| {
            let chunk: Value = serde_json::from_str(e).unwrap_or_else(|err| panic!("{err}: {e}"));
            assert_conforms("CreateChatCompletionStreamResponse", &chunk);
            chunk
        })
        .collect()
}

/// The text of a stream's content deltas.
pub fn streamed_text(chunks: &[Value]) -> String {
    chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect()
}
