//! A real HTTP server on loopback that speaks the chat-completions API from a script, and the
//! Responses, Anthropic and Gemini APIs too (see [`responses`], [`anthropic`], [`gemini`]).
//!
//! Tests push the replies they want (a completion, a tool call, an error status, a delay, a
//! dropped connection) and read back every request the client sent. It runs on its own thread
//! and runtime, so async tests, blocking tests and child processes can all use it.
//!
//! ```
//! use instructor_testserver::{Reply, TestServer};
//! let server = TestServer::start();
//! server.push(Reply::text(r#"{"name":"Jason","age":20}"#));
//! assert!(server.url().starts_with("http://127.0.0.1:"));
//! ```

pub mod anthropic;
pub mod gemini;
pub mod responses;
pub mod sdk;
pub mod spec;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    delay: Duration,
    drop_connection: bool,
    /// A streamed body: each piece is written as its own frame.
    frames: Option<Arc<Vec<Bytes>>>,
    /// End a streamed body by breaking the connection instead of finishing it.
    abort: bool,
    /// A pause before each piece of a streamed body (a slow model).
    frame_delay: Duration,
}

impl Reply {
    /// A `chat.completion` whose first choice carries `message`, with a usage of 10 + 5 tokens.
    pub fn completion(message: Value, finish_reason: &str) -> Reply {
        let mut message = message;
        if let Some(m) = message.as_object_mut() {
            m.entry("role").or_insert_with(|| json!("assistant"));
            m.entry("content").or_insert(Value::Null);
            m.entry("refusal").or_insert(Value::Null);
        }
        Reply::json(
            200,
            &json!({
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": 1_700_000_000u64,
                "model": "test-model",
                "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason, "logprobs": null }],
                "usage": { "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 },
            }),
        )
    }

    /// A completion whose message text is `content`.
    pub fn text(content: &str) -> Reply {
        Reply::completion(json!({ "content": content }), "stop")
    }

    /// A completion with one tool call to `name` with `arguments` (a JSON text).
    pub fn tool_call(name: &str, arguments: &str) -> Reply {
        Reply::tool_calls(&[(name, arguments)])
    }

    /// A completion with several tool calls, ids `call_0`, `call_1`, ...
    pub fn tool_calls(calls: &[(&str, &str)]) -> Reply {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| {
                json!({ "id": format!("call_{i}"), "type": "function", "function": { "name": name, "arguments": args } })
            })
            .collect();
        Reply::completion(json!({ "tool_calls": calls }), "tool_calls")
    }

    /// An OpenAI-style error body with `status`.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({ "error": { "message": message, "type": "test_error", "param": null, "code": null } }),
        )
    }

    /// Any JSON body.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::raw(status, body.to_string()).header("content-type", "application/json")
    }

    /// Any body, as bytes.
    pub fn raw(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            drop_connection: false,
            frames: None,
            abort: false,
            frame_delay: Duration::ZERO,
        }
    }

    /// A `text/event-stream` body written as the given pieces, one frame each (no framing added).
    pub fn sse_raw(pieces: Vec<String>) -> Reply {
        let frames = pieces.into_iter().map(Bytes::from).collect();
        Reply { frames: Some(Arc::new(frames)), ..Reply::raw(200, Bytes::new()) }
            .header("content-type", "text/event-stream")
    }

    /// A streamed completion: `chat.completion.chunk` events whose `delta`s are `deltas`, then a
    /// chunk with `finish_reason`, a usage chunk (10 + 5 tokens) and `[DONE]`.
    pub fn sse_deltas(deltas: impl IntoIterator<Item = Value>, finish_reason: &str) -> Reply {
        let event = |choices: Value, usage: Value| {
            let mut chunk = json!({
                "id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1_700_000_000u64,
                "model": "test-model", "choices": choices,
            });
            if !usage.is_null() {
                chunk["usage"] = usage;
            }
            format!("data: {chunk}\n\n")
        };
        let mut pieces: Vec<String> = deltas
            .into_iter()
            .map(|delta| event(json!([{ "index": 0, "delta": delta, "finish_reason": null }]), Value::Null))
            .collect();
        pieces.push(event(json!([{ "index": 0, "delta": {}, "finish_reason": finish_reason }]), Value::Null));
        pieces.push(event(json!([]), json!({ "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15 })));
        pieces.push("data: [DONE]\n\n".to_owned());
        Reply::sse_raw(pieces)
    }

    /// A streamed text reply, `chunk_chars` characters per event.
    pub fn stream_text(content: &str, chunk_chars: usize) -> Reply {
        let mut deltas = vec![json!({ "role": "assistant", "content": "" })];
        deltas.extend(pieces(content, chunk_chars).into_iter().map(|p| json!({ "content": p })));
        Reply::sse_deltas(deltas, "stop")
    }

    /// Streamed tool calls (ids `call_0`, ...): each call's id and name first, then its
    /// arguments `chunk_chars` characters per event, the calls' pieces interleaved round-robin
    /// as parallel calls can be.
    pub fn stream_tool_calls(calls: &[(&str, &str)], chunk_chars: usize) -> Reply {
        let mut deltas = Vec::new();
        let mut queues: Vec<VecDeque<String>> = Vec::new();
        for (i, (name, args)) in calls.iter().enumerate() {
            deltas.push(json!({ "tool_calls": [{
                "index": i, "id": format!("call_{i}"), "type": "function",
                "function": { "name": name, "arguments": "" },
            }]}));
            queues.push(pieces(args, chunk_chars).into());
        }
        while queues.iter().any(|q| !q.is_empty()) {
            for (i, queue) in queues.iter_mut().enumerate() {
                if let Some(piece) = queue.pop_front() {
                    deltas.push(json!({ "tool_calls": [{ "index": i, "function": { "arguments": piece } }] }));
                }
            }
        }
        Reply::sse_deltas(deltas, "tool_calls")
    }

    /// Waits this long before each piece of a streamed body, as a slow model streams.
    pub fn frame_delay(mut self, delay: Duration) -> Reply {
        self.frame_delay = delay;
        self
    }

    /// Breaks the connection after the last piece of a streamed body instead of ending it.
    pub fn abort(mut self) -> Reply {
        self.abort = true;
        self
    }

    /// Closes the connection without answering.
    pub fn drop_connection() -> Reply {
        Reply { drop_connection: true, ..Reply::raw(200, Bytes::new()) }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits before answering.
    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// `text` cut into pieces of `n` characters (at least 1).
pub fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `POST`, ...
    pub method: String,
    /// `/v1/chat/completions`, ...
    pub path: String,
    /// The query string, if any (`alt=sse`).
    pub query: Option<String>,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Null` if it was not JSON).
    pub body: Value,
    /// When the request arrived.
    pub received: std::time::Instant,
    /// The body as sent.
    pub raw_body: Bytes,
}

impl Recorded {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    /// Used in turn whenever the script is empty.
    cycle: Mutex<(Vec<Reply>, usize)>,
    requests: Mutex<Vec<Recorded>>,
    record: AtomicBool,
    served: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The server. Stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl TestServer {
    /// Starts on `127.0.0.1` at a free port, with one worker thread.
    pub fn start() -> TestServer {
        Self::start_with_workers(1)
    }

    /// Starts with `workers` runtime threads (for load).
    ///
    /// # Panics
    /// If no loopback port can be bound: a test environment problem, not a product error.
    pub fn start_with_workers(workers: usize) -> TestServer {
        let state = Arc::new(State::default());
        state.record.store(true, Ordering::Relaxed);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("instructor-testserver".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers.max(1))
                    .enable_all()
                    .build()
                    .expect("test server runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind loopback");
                    addr_tx.send(listener.local_addr().expect("local addr")).ok();
                    tokio::select! {
                        () = accept_loop(listener, thread_state) => {}
                        _ = stop_rx => {}
                    }
                });
                runtime.shutdown_background();
            })
            .expect("spawn test server thread");
        let addr = addr_rx.recv().expect("test server address");
        TestServer { addr, state, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// The base URL, ending in `/v1` (OpenAI-style APIs).
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The bare origin, `http://127.0.0.1:PORT` (Anthropic's and Gemini's base URLs, to which
    /// their clients add `/v1/messages` and `/v1beta/models/...`).
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply; replies are used in order.
    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.state.script).push_back(reply);
        self
    }

    /// The reply used whenever the queue is empty (else a 500 saying the script ran out).
    pub fn set_fallback(&self, reply: Reply) -> &Self {
        self.set_cycle(vec![reply])
    }

    /// Replies used in turn, round and round, whenever the queue is empty.
    pub fn set_cycle(&self, replies: Vec<Reply>) -> &Self {
        *lock(&self.state.cycle) = (replies, 0);
        self
    }

    /// Whether to keep requests (on by default; off for load tests).
    pub fn record(&self, on: bool) -> &Self {
        self.state.record.store(on, Ordering::Relaxed);
        self
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    /// How many requests were answered or dropped.
    pub fn served(&self) -> u64 {
        self.state.served.load(Ordering::Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        stream.set_nodelay(true).ok();
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let service_kill = Arc::clone(&kill);
            let service = service_fn(move |req| handle(Arc::clone(&state), req, Arc::clone(&service_kill)));
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            // Dropping the connection future closes the socket with no answer.
            tokio::select! {
                _ = conn => {}
                () = kill.notified() => {}
            }
        });
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
    kill: Arc<Notify>,
) -> Result<Response<BoxBody<Bytes, std::io::Error>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    if state.record.load(Ordering::Relaxed) {
        let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let received = std::time::Instant::now();
        lock(&state.requests).push(Recorded {
            method,
            path,
            query,
            headers,
            body: parsed,
            received,
            raw_body: body.clone(),
        });
    }
    let reply = lock(&state.script)
        .pop_front()
        .or_else(|| {
            let mut cycle = lock(&state.cycle);
            let (replies, next) = &mut *cycle;
            let reply = replies.get(*next % replies.len().max(1)).cloned();
            *next = next.wrapping_add(1);
            reply
        })
        .unwrap_or_else(|| Reply::error(500, "test server: the script has no reply left"));
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    state.served.fetch_add(1, Ordering::Relaxed);
    if reply.drop_connection {
        kill.notify_one();
        std::future::pending::<()>().await;
    }
    let body = match &reply.frames {
        Some(frames) => {
            let frames: Vec<Bytes> = frames.iter().cloned().collect();
            let pause = reply.frame_delay;
            let pieces = futures_util::StreamExt::then(futures_util::stream::iter(frames), move |b| async move {
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                Ok(Frame::data(b))
            });
            if reply.abort {
                // Let the pieces reach the client before the connection breaks, so the break is
                // always mid-stream (not a failure to answer, which a client would retry).
                let end = futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "scripted abort"))
                });
                BodyExt::boxed(StreamBody::new(futures_util::StreamExt::chain(pieces, end)))
            } else {
                BodyExt::boxed(StreamBody::new(pieces))
            }
        }
        None => Full::new(reply.body).map_err(|never| match never {}).boxed(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &reply.headers {
        if let (Ok(n), Ok(v)) =
            (hyper::header::HeaderName::from_bytes(name.as_bytes()), hyper::header::HeaderValue::from_str(value))
        {
            response.headers_mut().append(n, v);
        }
    }
    Ok(response)
}
