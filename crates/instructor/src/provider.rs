//! Where completions come from. [`OpenAiCompatible`] speaks the chat-completions API over HTTP to
//! any compatible server; an embedded engine implements the same [`Provider`] trait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use tracing::Instrument;

use crate::error::{ProviderError, ProviderErrorKind};
use crate::retry::{RetryPolicy, SharedPause, retry_after};
use crate::stream::{CompletionDelta, DeltaStream, sse_deltas};
use crate::wire::{ChatCompletion, CompletionRequest};

/// A boxed future, so that providers can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of chat completions.
///
/// ```
/// use instructor::{BoxFuture, ChatCompletion, CompletionRequest, Provider, ProviderError};
///
/// /// A provider that always answers with the same text (for a demo; tests use the loopback server).
/// #[derive(Debug)]
/// struct Echo;
///
/// impl Provider for Echo {
///     fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
///         let text = request.messages.last().and_then(|m| m.content.clone()).unwrap_or_default();
///         Box::pin(async move {
///             Ok(serde_json::from_value(serde_json::json!({
///                 "choices": [{"message": {"role": "assistant", "content": text}}]
///             })).expect("a completion"))
///         })
///     }
/// }
/// let client = instructor::Client::with_provider(Echo);
/// # let _ = client;
/// ```
pub trait Provider: Send + Sync + fmt::Debug {
    /// Sends one request and returns the completion. Retrying transient failures is the
    /// provider's job; re-asking is the caller's.
    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>>;

    /// Whether the provider itself constrains decoding to a schema given in `response_format`
    /// (an embedded engine with a grammar). Then `JsonSchema` mode leaves the schema out of the
    /// prompt: it would only cost prompt tokens and, on small models, distract them.
    fn constrains_output(&self) -> bool {
        false
    }

    /// Sends one request and streams the reply as deltas. The default completes the request and
    /// yields the whole completion as one delta, so every provider can be streamed from;
    /// [`OpenAiCompatible`] streams server-sent events as they arrive.
    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let completion = self.complete(request).await?;
            let delta = CompletionDelta::from_completion(completion);
            let stream: DeltaStream<'a> = Box::pin(futures_util::stream::once(async move { Ok(delta) }));
            Ok(stream)
        })
    }
}

/// An API key. Its `Debug` and `Display` never show it.
///
/// ```
/// let key = instructor::ApiKey::new("sk-secret");
/// assert_eq!(format!("{key:?}"), "ApiKey(****)");
/// ```
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for sending.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(****)")
    }
}

/// The largest reply body accepted by default (32 MiB): a runaway server cannot exhaust memory.
pub const DEFAULT_MAX_BODY: usize = 32 << 20;

/// A chat-completions endpoint over HTTP: OpenAI, Anyscale, Together, Groq, Fireworks, vLLM,
/// Ollama, llama.cpp's server, ... Built by [`ClientBuilder`](crate::ClientBuilder).
pub struct OpenAiCompatible {
    http: reqwest::Client,
    endpoint: String,
    /// The base URL, for the endpoints beside chat completions (files, batches).
    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    base: String,
    retry: RetryPolicy,
    max_body: usize,
    pause: SharedPause,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    pub(crate) fn new(
        base_url: &str,
        api_key: Option<&ApiKey>,
        mut headers: HeaderMap,
        retry: RetryPolicy,
        max_body: usize,
    ) -> Result<Self, crate::Error> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(crate::Error::request(format!("base URL must start with http:// or https://, got `{base}`")));
        }
        let endpoint = format!("{base}/chat/completions");
        reqwest::Url::parse(&endpoint).map_err(|e| crate::Error::request(format!("bad base URL `{base}`: {e}")))?;
        if let Some(key) = api_key.filter(|k| !k.expose().is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
                .map_err(|_| crate::Error::request("the API key has characters not allowed in an HTTP header"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(concat!("instructor-rs/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .build()
            .map_err(|e| crate::Error::request(format!("cannot build the HTTP client: {e}")))?;
        Ok(OpenAiCompatible { http, endpoint, base: base.to_owned(), retry, max_body, pause: SharedPause::default() })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `once` (one HTTP exchange, given its timeout) under the retry policy.
    async fn with_retries<T, F, Fut>(&self, mut once: F) -> Result<T, ProviderError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let remaining = self.retry.budget.saturating_sub(started.elapsed());
            let timeout = self.retry.timeout.min(remaining);
            let span = tracing::debug_span!("http", retry, endpoint = %self.endpoint);
            self.pause.wait().await;
            let err = match once(timeout).instrument(span).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let retryable = match err.kind() {
                ProviderErrorKind::Status => err.status().is_some_and(|s| self.retry.is_retryable_status(s)),
                ProviderErrorKind::Connect | ProviderErrorKind::Timeout => true,
                _ => false,
            };
            if !retryable || retry >= self.retry.max_retries {
                return Err(err);
            }
            let wait = self.retry.backoff(retry, err.retry_after());
            if err.status() == Some(429) {
                self.pause.extend(wait);
            }
            if started.elapsed() + wait >= self.retry.budget {
                return Err(ProviderError::new(
                    ProviderErrorKind::Budget,
                    format!("{:.1?} budget spent after {} tries; last error: {err}", self.retry.budget, retry + 1),
                ));
            }
            tracing::warn!(retry = retry + 1, wait_ms = wait.as_millis() as u64, error = %err, "retrying request");
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    /// Sends a request to `{base}{path}` under the retry policy and returns the body of a
    /// success (the Batch API's files and batches).
    pub(crate) async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, Bytes)>,
    ) -> Result<Bytes, ProviderError> {
        let url = format!("{}{path}", self.base);
        self.with_retries(|timeout| {
            let mut request = self.http.request(method.clone(), &url).timeout(timeout);
            if let Some((content_type, bytes)) = &body {
                request = request.header(CONTENT_TYPE, content_type.as_str()).body(bytes.clone());
            }
            async move {
                let response = request.send().await.map_err(|e| transport_error(e, timeout))?;
                let status = response.status();
                let wait = retry_after(response.headers());
                let bytes = read_limited(response, self.max_body, timeout).await?;
                if !status.is_success() {
                    return Err(ProviderError::new(ProviderErrorKind::Status, error_message(status, &bytes))
                        .with_status(status.as_u16(), wait));
                }
                Ok(Bytes::from(bytes))
            }
        })
        .await
    }

    /// Opens a streamed reply: retried like a plain request until the server answers with a
    /// success status; what follows is read as it comes, within the retry budget.
    async fn open_stream_once(&self, body: Bytes, timeout: Duration) -> Result<reqwest::Response, ProviderError> {
        let send = self.http.post(&self.endpoint).timeout(self.retry.budget).body(body).send();
        let response = match tokio::time::timeout(timeout, send).await {
            Ok(sent) => sent.map_err(|e| transport_error(e, timeout))?,
            Err(_) => {
                return Err(ProviderError::new(ProviderErrorKind::Timeout, format!("no answer within {timeout:.1?}")));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let wait = retry_after(response.headers());
        let body = read_limited(response, self.max_body, timeout).await?;
        Err(ProviderError::new(ProviderErrorKind::Status, error_message(status, &body))
            .with_status(status.as_u16(), wait))
    }

    async fn send_once(&self, body: Bytes, timeout: Duration) -> Result<ChatCompletion, ProviderError> {
        let response = self
            .http
            .post(&self.endpoint)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(e, timeout))?;
        let status = response.status();
        let wait = retry_after(response.headers());
        let body = read_limited(response, self.max_body, timeout).await?;
        if !status.is_success() {
            return Err(ProviderError::new(ProviderErrorKind::Status, error_message(status, &body))
                .with_status(status.as_u16(), wait));
        }
        serde_json::from_slice::<ChatCompletion>(&body).map_err(|e| {
            ProviderError::new(ProviderErrorKind::Decode, format!("{e}; body starts with {:?}", snippet(&body)))
                .with_source(e)
        })
    }
}

impl Provider for OpenAiCompatible {
    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            let body = serde_json::to_vec(request).map_err(|e| {
                ProviderError::new(ProviderErrorKind::Decode, format!("cannot encode the request: {e}"))
            })?;
            let body = Bytes::from(body);
            self.with_retries(|timeout| self.send_once(body.clone(), timeout)).await
        })
    }

    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let mut request = request.clone();
            request.stream = true;
            request.extra.insert("stream_options".to_owned(), serde_json::json!({ "include_usage": true }));
            let body = serde_json::to_vec(&request).map_err(|e| {
                ProviderError::new(ProviderErrorKind::Decode, format!("cannot encode the request: {e}"))
            })?;
            let body = Bytes::from(body);
            let response = self.with_retries(|timeout| self.open_stream_once(body.clone(), timeout)).await?;
            let stream: DeltaStream<'a> = Box::pin(sse_deltas(response, self.max_body));
            Ok(stream)
        })
    }
}

fn transport_error(e: reqwest::Error, timeout: Duration) -> ProviderError {
    let kind = if e.is_timeout() { ProviderErrorKind::Timeout } else { ProviderErrorKind::Connect };
    let message = if e.is_timeout() {
        format!("no complete answer within {timeout:.1?}")
    } else {
        // The full chain says why (refused, reset, DNS, TLS); the URL carries no secret.
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg.push_str(": ");
            msg.push_str(&s.to_string());
            source = s.source();
        }
        msg
    };
    ProviderError::new(kind, message).with_source(e)
}

/// Reads the body, refusing more than `limit` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, ProviderError> {
    if let Some(len) = response.content_length() {
        if len > limit as u64 {
            return Err(too_large(limit));
        }
    }
    let mut body = Vec::with_capacity(response.content_length().map_or(8 << 10, |n| n as usize));
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(e, timeout))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::new(ProviderErrorKind::BodyTooLarge, format!("the body exceeds the {limit}-byte limit"))
}

/// The message of an OpenAI-style error body, or the start of whatever body came.
fn error_message(status: reqwest::StatusCode, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: ErrorDetail,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum ErrorDetail {
        Object { message: String },
        Text(String),
    }
    let reason = status.canonical_reason().unwrap_or("error");
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error: ErrorDetail::Object { message } | ErrorDetail::Text(message) }) => {
            format!("{reason}: {message}")
        }
        Err(_) if body.is_empty() => reason.to_owned(),
        Err(_) => format!("{reason}: {}", snippet(body)),
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}
