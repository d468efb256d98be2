//! The HTTP transport every hosted provider shares: one `reqwest` client with the key in a
//! sensitive header, the one retry policy, body-size limits, and error bodies decoded into
//! [`ProviderError`] by the API's own rules.

use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tracing::Instrument;

use crate::error::{ProviderError, ProviderErrorKind};
use crate::retry::{RetryPolicy, SharedPause, retry_after};

/// Reads an API's error body: its message, its own error type, and any wait it asks for in the
/// body (Gemini's `RetryInfo`). One per wire format.
pub(crate) type ErrorReader = fn(StatusCode, &[u8]) -> ErrorBody;

/// What an error body says.
#[derive(Debug, Default)]
pub(crate) struct ErrorBody {
    pub message: String,
    pub error_type: Option<String>,
    pub retry_after: Option<Duration>,
}

pub(crate) struct HttpTransport {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    retry: RetryPolicy,
    max_body: usize,
    pause: SharedPause,
    errors: ErrorReader,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport").field("base", &self.base).field("retry", &self.retry).finish_non_exhaustive()
    }
}

/// A header holding a secret: marked sensitive so that `reqwest` and `http` never print it.
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, crate::Error> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| crate::Error::request("the API key has characters not allowed in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl HttpTransport {
    /// `headers` carry the key (already marked sensitive) and any extra headers.
    pub(crate) fn new(
        base_url: &str,
        mut headers: HeaderMap,
        retry: RetryPolicy,
        max_body: usize,
        errors: ErrorReader,
    ) -> Result<Self, crate::Error> {
        let base = base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(crate::Error::request(format!("base URL must start with http:// or https://, got `{base}`")));
        }
        reqwest::Url::parse(base).map_err(|e| crate::Error::request(format!("bad base URL `{base}`: {e}")))?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        // No `User-Agent` unless the caller adds one: the APIs do not need it, and each header
        // costs every request. reqwest copies the headers into an exactly sized map that hyper
        // then grows for `Host`; at six headers that map leaves glibc's small sizes, which cost
        // 64 concurrent Anthropic calls 7% of their CPU (`cargo bench --bench client`).
        let http = reqwest::Client::builder()
            .default_headers(headers)
            // The one retry policy is ours (`with_retries`), and a refused stream comes back to it
            // as a connection error; reqwest's own would also copy every request in case.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .build()
            .map_err(|e| crate::Error::request(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpTransport { http, base: base.to_owned(), retry, max_body, pause: SharedPause::default(), errors })
    }

    /// Adds user headers (`OpenAI-Organization`, `anthropic-beta`, ...) to a header map.
    pub(crate) fn extra_headers(headers: &mut HeaderMap, extra: &[(String, String)]) -> Result<(), crate::Error> {
        for (name, value) in extra {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| crate::Error::request(format!("bad header name `{name}`")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| crate::Error::request(format!("bad value for header `{name}`")))?;
            headers.insert(name, value);
        }
        Ok(())
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn max_body(&self) -> usize {
        self.max_body
    }

    /// `{base}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `{base}{path}`, parsed: providers parse their endpoint once, not on every request.
    pub(crate) fn endpoint(&self, path: &str) -> Result<reqwest::Url, crate::Error> {
        let url = self.url(path);
        reqwest::Url::parse(&url).map_err(|e| crate::Error::request(format!("bad endpoint URL `{url}`: {e}")))
    }

    /// Runs `once` (one HTTP exchange, given its timeout) under the retry policy.
    pub(crate) async fn with_retries<T, F, Fut>(&self, endpoint: &str, mut once: F) -> Result<T, ProviderError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let started = Instant::now();
        let mut retry = 0;
        loop {
            let remaining = self.retry.budget.saturating_sub(started.elapsed());
            let timeout = self.retry.timeout.min(remaining);
            let span = tracing::debug_span!("http", retry, endpoint);
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

    /// POSTs `body` to `url` under the retry policy and returns the body of a success.
    pub(crate) async fn post(&self, url: &reqwest::Url, body: Bytes) -> Result<Bytes, ProviderError> {
        self.with_retries(url.as_str(), |timeout| {
            self.exchange(reqwest::Method::POST, url.clone(), Some((None, body.clone())), timeout)
        })
        .await
    }

    /// Any request to `{base}{path}` under the retry policy (files, batches, results).
    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(String, Bytes)>,
    ) -> Result<Bytes, ProviderError> {
        let url =
            if path.starts_with("http://") || path.starts_with("https://") { path.to_owned() } else { self.url(path) };
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| ProviderError::new(ProviderErrorKind::Connect, format!("bad URL `{url}`: {e}")))?;
        self.with_retries(&url, |timeout| {
            let body = body.as_ref().map(|(content_type, bytes)| (Some(content_type.as_str()), bytes.clone()));
            self.exchange(method.clone(), parsed.clone(), body, timeout)
        })
        .await
    }

    /// One HTTP exchange. The request is handed to reqwest (which sends nothing until polled)
    /// before the future is made, and the timeout maps the result rather than wrapping it in one
    /// more `async` block: the future then holds reqwest's small pending handle instead of the
    /// request being built and a second copy of itself. It lives in every in-flight call, whose
    /// boxed future must stay under a kilobyte (see `a_call_future_fits_the_allocators_per_thread_cache`).
    fn exchange(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<(Option<&str>, Bytes)>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Bytes, ProviderError>> + '_ {
        let mut request = self.http.request(method, url);
        if let Some((content_type, bytes)) = body {
            if let Some(content_type) = content_type {
                request = request.header(CONTENT_TYPE, content_type);
            }
            request = request.body(bytes);
        }
        let sent = request.send();
        // One timer around the whole exchange: reqwest's own per-request timeout costs a boxed
        // timer and a wrapped body on every call.
        let exchange = async move {
            let mut response = sent.await.map_err(|e| transport_error(e, timeout))?;
            let status = response.status();
            let wait = if status.is_success() { None } else { retry_after(response.headers()) };
            let bytes = read_limited(&mut response, self.max_body, timeout).await?;
            if !status.is_success() {
                return Err(self.status_error(status, wait, &bytes));
            }
            Ok(bytes)
        };
        futures_util::FutureExt::map(tokio::time::timeout(timeout, exchange), move |done| {
            done.unwrap_or_else(|_| Err(timed_out(timeout)))
        })
    }

    /// Opens a streamed reply: retried like a plain request until the server answers with a
    /// success status; what follows is read as it comes, within the retry budget.
    pub(crate) async fn open_stream(
        &self,
        url: &reqwest::Url,
        body: Bytes,
    ) -> Result<reqwest::Response, ProviderError> {
        self.with_retries(url.as_str(), |timeout| {
            let send = self.http.post(url.clone()).timeout(self.retry.budget).body(body.clone()).send();
            async move {
                let mut response = match tokio::time::timeout(timeout, send).await {
                    Ok(sent) => sent.map_err(|e| transport_error(e, timeout))?,
                    Err(_) => {
                        return Err(ProviderError::new(
                            ProviderErrorKind::Timeout,
                            format!("no answer within {timeout:.1?}"),
                        ));
                    }
                };
                let status = response.status();
                if status.is_success() {
                    return Ok(response);
                }
                let wait = retry_after(response.headers());
                let body = read_limited(&mut response, self.max_body, timeout).await?;
                Err(self.status_error(status, wait, &body))
            }
        })
        .await
    }

    /// An error status, with what its body says; a wait in a header wins over one in the body.
    fn status_error(&self, status: StatusCode, header_wait: Option<Duration>, body: &[u8]) -> ProviderError {
        let read = (self.errors)(status, body);
        let reason = status.canonical_reason().unwrap_or("error");
        let message = if read.message.is_empty() { reason.to_owned() } else { format!("{reason}: {}", read.message) };
        let mut error = ProviderError::new(ProviderErrorKind::Status, message)
            .with_status(status.as_u16(), header_wait.or(read.retry_after));
        if let Some(kind) = read.error_type {
            error = error.with_error_type(kind);
        }
        error
    }
}

pub(crate) fn transport_error(e: reqwest::Error, timeout: Duration) -> ProviderError {
    if e.is_timeout() {
        return timed_out(timeout).with_source(e);
    }
    // The full chain says why (refused, reset, DNS, TLS); the URL carries no secret (keys travel
    // in headers).
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    ProviderError::new(ProviderErrorKind::Connect, message).with_source(e)
}

/// No complete answer within `timeout`.
fn timed_out(timeout: Duration) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Timeout, format!("no complete answer within {timeout:.1?}"))
}

/// Reads the body, refusing more than `limit` bytes. The response is borrowed: moved in, it
/// would be held twice in the caller's future. A body that comes in one chunk (most replies)
/// is handed back as that chunk, neither copied nor allocated again.
pub(crate) async fn read_limited(
    response: &mut reqwest::Response,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ProviderError> {
    let declared = response.content_length();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large(limit));
    }
    let mut first: Option<Bytes> = None;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(e, timeout))? {
        if first.as_ref().map_or(0, Bytes::len) + body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        match first.take() {
            None if body.is_empty() => first = Some(chunk),
            None => body.extend_from_slice(&chunk),
            Some(earlier) => {
                body.reserve(declared.map_or(8 << 10, |n| n as usize).max(earlier.len() + chunk.len()));
                body.extend_from_slice(&earlier);
                body.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(body)))
}

fn too_large(limit: usize) -> ProviderError {
    ProviderError::new(ProviderErrorKind::BodyTooLarge, format!("the body exceeds the {limit}-byte limit"))
}

/// The start of a body, for messages about bodies that could not be read.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.trim().to_owned()
}

/// Reads a reply body as `T`, or says that it is not `what`. The body is checked as UTF-8 once
/// and read as text: read as bytes, serde_json checks each string again, which was a sixth of
/// what reading a small reply cost.
pub(crate) fn read_body<'a, T: serde::Deserialize<'a>>(body: &'a [u8], what: &str) -> Result<T, ProviderError> {
    let read = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        // Read as bytes, for serde_json's account of where the text breaks.
        Err(_) => serde_json::from_slice(body),
    };
    read.map_err(|e| decode_error(what, e, body))
}

/// A body that is not what the API documents.
pub(crate) fn decode_error(what: &str, e: impl fmt::Display, body: &[u8]) -> ProviderError {
    ProviderError::new(ProviderErrorKind::Decode, format!("{what}: {e}; body starts with {:?}", snippet(body)))
}

/// The error body of OpenAI and compatible servers: `{"error": {"message", "type", "code"}}`
/// (some send `{"error": "text"}`).
pub(crate) fn openai_error(_: StatusCode, body: &[u8]) -> ErrorBody {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        error: Detail,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Detail {
        Object {
            #[serde(default)]
            message: Option<String>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
            #[serde(default)]
            code: Option<serde_json::Value>,
        },
        Text(String),
    }
    match serde_json::from_slice::<Wrapper>(body) {
        Ok(Wrapper { error: Detail::Object { message, kind, code } }) => ErrorBody {
            message: message.unwrap_or_default(),
            error_type: kind.or_else(|| code.map(|c| c.as_str().map_or_else(|| c.to_string(), str::to_owned))),
            retry_after: None,
        },
        Ok(Wrapper { error: Detail::Text(message) }) => ErrorBody { message, ..ErrorBody::default() },
        Err(_) => ErrorBody { message: snippet(body), ..ErrorBody::default() },
    }
}
