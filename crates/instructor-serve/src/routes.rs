//! The routes, the middleware (auth, request logging), and the one generation path every
//! dialect (chat completions, Responses, Anthropic Messages) goes through.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use instructor::{ApiKey, ChatCompletion, CompletionDelta};
use instructor_engine::{Engine, EngineError};
use serde_json::json;
use tracing::Instrument;

use crate::ServeConfig;
use crate::error::ApiError;
use crate::generate::{self, Generated};
use crate::messages::Messages;
use crate::queue::Queue;
use crate::request::Job;
use crate::response::{self, ChatCompletions, Ids};
use crate::responses::Responses;

/// What every handler shares.
#[derive(Debug)]
struct App {
    engine: Engine,
    model_id: String,
    /// The model's file name, accepted in `model` too.
    file_name: String,
    api_key: Option<ApiKey>,
    queue: Queue,
    max_body: usize,
    created: u64,
}

/// The id a served model goes by: the configured one, else the file name without `.gguf`.
pub(crate) fn model_id(engine: &Engine, config: &ServeConfig) -> String {
    config.model_id.clone().unwrap_or_else(|| {
        let name = engine.name();
        name.strip_suffix(".gguf").unwrap_or(name).to_owned()
    })
}

/// The HTTP routes for `engine`, configured by `config`: its model id, key, queue and body limit
/// (the address, threads and context are not used here; the model file's date becomes `created`
/// in `/v1/models`). Serve it with `axum::serve`, or use [`Server`](crate::Server).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use instructor_engine::{Engine, EngineOptions};
/// use instructor_serve::{ServeConfig, router};
///
/// let config = ServeConfig::new("model.gguf").api_key("sk-local");
/// let engine = Engine::load(config.model_path(), EngineOptions::default())?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// axum::serve(listener, router(engine, &config)).await?;
/// # Ok(()) }
/// ```
pub fn router(engine: Engine, config: &ServeConfig) -> Router {
    let created = std::fs::metadata(&config.model_path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let app = Arc::new(App {
        model_id: model_id(&engine, config),
        file_name: engine.name().to_owned(),
        engine,
        api_key: config.api_key.clone(),
        queue: Queue::new(config.parallel, config.queue),
        max_body: config.max_body_bytes,
        created,
    });
    let api = Router::new()
        .route("/v1/chat/completions", post(serve_dialect::<ChatCompletions>))
        .route("/chat/completions", post(serve_dialect::<ChatCompletions>))
        .route("/v1/responses", post(serve_dialect::<Responses>))
        .route("/responses", post(serve_dialect::<Responses>))
        .route("/v1/messages", post(serve_dialect::<Messages>))
        .route("/v1/models", get(models))
        .route("/models", get(models))
        .route("/v1/models/{*model}", get(model))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), authorize));
    Router::new()
        .route("/health", get(health))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log))
        .with_state(app)
}

/// One span per request: method, path, status, time. Never headers (the key is in one).
async fn log(request: Request, next: Next) -> Response {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let started = Instant::now();
    let id = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let span = tracing::info_span!("request", id);
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    span.in_scope(|| {
        if status >= 500 {
            tracing::error!(%method, %path, status, ms, "answered");
        } else if status >= 400 {
            tracing::warn!(%method, %path, status, ms, "answered");
        } else {
            tracing::info!(%method, %path, status, ms, "answered");
        }
    });
    response
}

/// With a key configured, `Authorization: Bearer <key>` (or Anthropic's `x-api-key: <key>`)
/// must match it.
async fn authorize(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(key) = &app.api_key else { return next.run(request).await };
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let given = bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim));
    match given {
        Some(token) if same(token.as_bytes(), key.expose().as_bytes()) => next.run(request).await,
        given => {
            tracing::warn!(key_given = given.is_some(), "unauthorized");
            let error = ApiError::unauthorized(given.is_some());
            if request.uri().path().ends_with("/messages") { Messages::error(error) } else { error.into_response() }
        }
    }
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(app): State<Arc<App>>) -> Response {
    response::json(
        StatusCode::OK,
        &json!({
            "status": "ok",
            "model": app.model_id,
            "running": app.queue.running(),
            "waiting": app.queue.waiting(),
        }),
    )
}

fn model_object(app: &App) -> serde_json::Value {
    json!({"id": app.model_id, "object": "model", "created": app.created, "owned_by": "instructor"})
}

async fn models(State(app): State<Arc<App>>) -> Response {
    response::json(StatusCode::OK, &json!({"object": "list", "data": [model_object(&app)]}))
}

async fn model(State(app): State<Arc<App>>, Path(model): Path<String>) -> Response {
    match app.check_model(&model) {
        Ok(()) => response::json(StatusCode::OK, &model_object(&app)),
        Err(e) => e.into_response(),
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    ApiError::unknown_route(method.as_str(), uri.path()).into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::method_not_allowed(method.as_str(), uri.path()).into_response()
}

impl App {
    fn check_model(&self, model: &str) -> Result<(), ApiError> {
        if model == self.model_id || model == self.file_name {
            Ok(())
        } else {
            Err(ApiError::unknown_model(model, &self.model_id))
        }
    }
}

/// Reads the body, refusing more than `limit` bytes (at once when `Content-Length` says so).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::too_large(limit)),
        Err(e) => Err(ApiError::invalid("", format!("cannot read the request body: {e}"))),
    }
}

/// Sets the generation's cancel flag when dropped: the handler's future (or the stream) is
/// dropped when the client goes away.
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
    done: bool,
}

impl CancelOnDrop {
    fn new() -> Self {
        CancelOnDrop { flag: Arc::new(AtomicBool::new(false)), done: false }
    }

    /// The generation ended on its own: nothing to cancel.
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.done {
            tracing::info!("the client went away: generation cancelled");
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// What differs between the APIs `serve` speaks: how a request is read, and how the reply, its
/// stream and its errors are written. Everything between (the model check, the queue, the
/// engine, cancellation) is one path, [`generate`].
pub(crate) trait Dialect: Send + Sized + 'static {
    /// Its name in the request log.
    const NAME: &'static str;
    /// The prefix of its reply ids (`chatcmpl-`, `resp_`, `msg_`).
    const ID_PREFIX: &'static str;
    /// A reply allowance past the context is lowered to fit it (Anthropic's clients send large
    /// ones and expect the model to stop at its window), rather than refused.
    const FITS_WINDOW: bool = false;

    /// Reads and checks a body: the engine's job, and what the writer needs to know of it.
    fn parse(body: &[u8]) -> Result<(Job, Self), ApiError>;
    /// The whole reply.
    fn reply(&self, ids: &Ids, generated: &Generated) -> serde_json::Value;
    /// The first events of a stream.
    fn start(&mut self, ids: &Ids) -> Vec<Bytes>;
    /// The events for a piece of the reply.
    fn delta(&mut self, delta: &CompletionDelta) -> Vec<Bytes>;
    /// The last events.
    fn end(&mut self, generated: &Generated) -> Vec<Bytes>;
    /// A failure after the stream began.
    fn error_event(&mut self, error: &ApiError) -> Vec<Bytes>;
    /// A failure before anything was sent.
    fn error(error: ApiError) -> Response {
        error.into_response()
    }
}

async fn serve_dialect<D: Dialect>(State(app): State<Arc<App>>, request: Request) -> Response {
    match generate::<D>(app, request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::debug!(status = e.status.as_u16(), message = %e.message, param = ?e.param, "refused");
            D::error(e)
        }
    }
}

async fn generate<D: Dialect>(app: Arc<App>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body, app.max_body).await?;
    let (mut job, dialect) = D::parse(&body)?;
    app.check_model(&job.model)?;
    if D::FITS_WINDOW {
        if let Some(max) = job.request.max_tokens {
            let room = app.engine.reply_room(&job.request).map_err(|e| ApiError::engine(&e, job.schema_param))?;
            if max > room {
                job.request.max_tokens = Some(room.max(1));
                job.window_capped = true;
            }
        }
    }
    let check = Check::new(&app.engine, &job)?;
    let Some(ticket) = app.queue.admit() else {
        tracing::warn!(running = app.queue.running(), waiting = app.queue.waiting(), "queue full");
        return Err(ApiError::busy());
    };
    let mut guard = CancelOnDrop::new();
    let queued = Instant::now();
    let permit = app.queue.slot(&ticket).await.ok_or_else(|| ApiError::server("the queue is closed"))?;
    let ids = Ids::new(D::ID_PREFIX, &app.model_id);
    tracing::info!(
        dialect = D::NAME,
        id = %ids.id,
        stream = job.stream,
        messages = job.request.messages.len(),
        max_tokens = job.request.max_tokens,
        queued_ms = queued.elapsed().as_millis() as u64,
        "generating"
    );
    let engine = app.engine.clone();
    // The slot is held until the engine is done, even if the client left.
    let held = (ticket, permit);
    if job.stream {
        let mut response = stream(job, dialect, ids, engine, guard, held, check.clone()).await?;
        if let Some(check) = &check {
            response.headers_mut().insert("warning", check.header());
        }
        return Ok(response);
    }
    let flag = Arc::clone(&guard.flag);
    let schema_param = job.schema_param;
    let started = Instant::now();
    let outcome = tokio::task::spawn_blocking(move || {
        let _held = held;
        generate::run(&engine, &job, &flag, &mut |_| {})
    })
    .await;
    guard.finish();
    let generated = outcome
        .map_err(|e| ApiError::server(format!("the generation task failed: {e}")))?
        .map_err(|e| ApiError::engine(&e, schema_param))?;
    log_done(&generated.completion, started);
    if let Some(check) = &check {
        check.reply(&generated.completion)?;
    }
    let mut response = response::json(StatusCode::OK, &dialect.reply(&ids, &generated));
    if let Some(check) = &check {
        response.headers_mut().insert("warning", check.header());
    }
    Ok(response)
}

fn log_done(completion: &ChatCompletion, started: Instant) {
    let usage = completion.usage.unwrap_or_default();
    tracing::info!(
        prompt_tokens = usage.prompt_tokens,
        completion_tokens = usage.completion_tokens,
        finish = completion.finish_reason().map(|f| f.as_str()).unwrap_or("none"),
        ms = started.elapsed().as_millis() as u64,
        "done"
    );
}

/// The check of a reply against the parts of its schema the grammar cannot enforce (keywords
/// llguidance does not implement, formats it does not know): the request is served, with a
/// `Warning` header naming them, and a reply that breaks them is an error, never a 200.
#[derive(Debug)]
struct Check {
    validator: jsonschema::Validator,
    unenforced: Vec<String>,
}

impl Check {
    /// `None` when the grammar enforces the whole schema (or there is none); a 400 when the
    /// schema cannot be used at all.
    fn new(engine: &Engine, job: &Job) -> Result<Option<Arc<Check>>, ApiError> {
        let Some(schema) = &job.schema else { return Ok(None) };
        let unenforced = engine.unenforced_in(&job.request).map_err(|e| ApiError::engine(&e, job.schema_param))?;
        if unenforced.is_empty() {
            return Ok(None);
        }
        tracing::warn!(unenforced = ?unenforced, "the grammar cannot enforce all of the schema; replies are checked after generation");
        let validator = jsonschema::options()
            .should_validate_formats(false)
            .build(schema)
            .map_err(|e| ApiError::invalid(job.schema_param, format!("the JSON Schema cannot be compiled: {e}")))?;
        Ok(Some(Arc::new(Check { validator, unenforced })))
    }

    fn header(&self) -> HeaderValue {
        let text =
            format!("299 instructor \"not enforced while generating, checked after: {}\"", self.unenforced.join("; "))
                .replace(|c: char| !c.is_ascii() || c.is_ascii_control(), " ");
        HeaderValue::from_str(&text)
            .unwrap_or_else(|_| HeaderValue::from_static("299 instructor \"schema partly unenforced\""))
    }

    /// The reply (text, or the first call's arguments) against the whole schema. A reply cut at
    /// the token limit is reported as cut, not checked.
    fn reply(&self, completion: &ChatCompletion) -> Result<(), ApiError> {
        if completion.finish_reason() == Some(&instructor::FinishReason::Length) {
            return Ok(());
        }
        let Some(message) = completion.message() else { return Ok(()) };
        let text = match message.tool_calls.first() {
            Some(call) => call.function.arguments.as_str(),
            None => message.content.as_deref().unwrap_or_default(),
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| self.failed(&e.to_string()))?;
        match self.validator.iter_errors(&value).next() {
            Some(error) => Err(self.failed(&format!("{error} at '{}'", error.instance_path()))),
            None => Ok(()),
        }
    }

    fn failed(&self, why: &str) -> ApiError {
        ApiError::unenforced(format!(
            "the reply does not satisfy the schema ({why}); the grammar cannot enforce {}, so it was checked after generation",
            self.unenforced.join("; ")
        ))
    }
}

/// What the blocking generation sends to the stream.
enum Event {
    Delta(CompletionDelta),
    Done(Result<Generated, EngineError>),
}

/// Streams a generation as server-sent events. The response starts once the first piece (or
/// an error) is known, so a schema the engine refuses is still a plain 400.
async fn stream<D: Dialect>(
    job: Job,
    mut dialect: D,
    ids: Ids,
    engine: Engine,
    mut guard: CancelOnDrop,
    held: impl Send + 'static,
    check: Option<Arc<Check>>,
) -> Result<Response, ApiError> {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let flag = Arc::clone(&guard.flag);
    let schema_param = job.schema_param;
    let started = Instant::now();
    tokio::task::spawn_blocking(move || {
        let _held = held;
        let mut emit = |delta: CompletionDelta| {
            if sender.send(Event::Delta(delta)).is_err() {
                flag.store(true, Ordering::Relaxed);
            }
        };
        let outcome = generate::run(&engine, &job, &flag, &mut emit);
        sender.send(Event::Done(outcome)).ok();
    });
    let first = match receiver.recv().await {
        Some(Event::Done(Err(e))) => {
            guard.finish();
            return Err(ApiError::engine(&e, schema_param));
        }
        Some(event) => event,
        None => {
            guard.finish();
            return Err(ApiError::server("the generation task failed"));
        }
    };
    let span = tracing::Span::current();
    let body = async_stream::stream! {
        // The whole guard moves into the stream: dropping the stream cancels the generation.
        let mut guard = guard;
        for bytes in dialect.start(&ids) {
            yield Ok::<Bytes, Infallible>(bytes);
        }
        let mut next = Some(first);
        loop {
            match next {
                Some(Event::Delta(delta)) => {
                    for bytes in dialect.delta(&delta) {
                        yield Ok(bytes);
                    }
                }
                Some(Event::Done(Ok(generated))) => {
                    guard.finish();
                    span.in_scope(|| log_done(&generated.completion, started));
                    // A reply that breaks what the grammar could not enforce ends in an error.
                    let failed = check.as_ref().and_then(|c| c.reply(&generated.completion).err());
                    let events = match failed {
                        Some(error) => dialect.error_event(&error),
                        None => dialect.end(&generated),
                    };
                    for bytes in events {
                        yield Ok(bytes);
                    }
                    break;
                }
                Some(Event::Done(Err(e))) => {
                    guard.finish();
                    let error = ApiError::engine(&e, schema_param);
                    span.in_scope(|| tracing::error!(message = %error.message, "the generation failed mid-stream"));
                    for bytes in dialect.error_event(&error) {
                        yield Ok(bytes);
                    }
                    break;
                }
                None => {
                    guard.finish();
                    for bytes in dialect.error_event(&ApiError::server("the generation task failed")) {
                        yield Ok(bytes);
                    }
                    break;
                }
            }
            next = receiver.recv().await;
        }
    };
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
