//! One error type for the whole library, with `is_*` helpers, in the manner of `reqwest::Error`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use crate::wire::{ChatCompletion, Usage};

/// Everything that can go wrong while asking for a typed value.
///
/// ```
/// # async fn run(client: instructor::Client) {
/// # #[derive(serde::Deserialize, schemars::JsonSchema)] struct UserDetails { name: String, age: u32 }
/// use instructor::ChatRequest;
/// match client.chat().create::<UserDetails>(ChatRequest::new("gpt-4o-mini").user("Jason is 20")).await {
///     Ok(user) => println!("{}", user.name),
///     Err(e) if e.is_exhausted() => eprintln!("no valid answer; {} tokens spent", e.usage().total_tokens),
///     Err(e) if e.is_status() => eprintln!("the provider said {:?}", e.status()),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request cannot be made as asked (a mode that does not fit the target, a template that
    /// does not render, a blocking call inside an async runtime, ...).
    #[error("invalid request: {0}")]
    Request(String),
    /// The response schema is not a usable JSON Schema.
    #[error("invalid schema: {0}")]
    Schema(String),
    /// An image, PDF or audio input cannot be used: unreadable, of an unknown type, too large,
    /// or of a kind the provider does not read. Nothing was sent.
    #[error("media: {0}")]
    Media(String),
    /// The provider could not be reached or answered with an error.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Every attempt returned a reply that did not parse or validate.
    #[error(transparent)]
    Exhausted(Box<Exhausted>),
    /// The reply was cut off at the token limit before it was complete (`finish_reason`
    /// `length`, Anthropic's `max_tokens`, Gemini's `MAX_TOKENS`, an `incomplete` response).
    /// Not re-asked, since the same limit would cut the next reply too: raise `max_tokens`.
    /// Holds the attempts and tokens like [`Error::Exhausted`].
    #[error("the reply was cut off at the token limit (attempt {}); raise max_tokens", .0.attempts.len())]
    Truncated(Box<Exhausted>),
    /// A streamed item did not parse or validate. It cannot be re-asked, since the items before
    /// it were already handed out; the stream goes on with the next item.
    #[error("invalid item: {0}")]
    Reply(ReplyError),
}

impl Error {
    pub(crate) fn request(msg: impl Into<String>) -> Self {
        Error::Request(msg.into())
    }

    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) fn schema(msg: impl Into<String>) -> Self {
        Error::Schema(msg.into())
    }

    /// The request could not be made as asked.
    pub fn is_request(&self) -> bool {
        matches!(self, Error::Request(_))
    }

    /// The response schema was not usable.
    pub fn is_schema(&self) -> bool {
        matches!(self, Error::Schema(_))
    }

    /// An image, PDF or audio input could not be used (or fetched).
    pub fn is_media(&self) -> bool {
        matches!(self, Error::Media(_)) || self.provider().is_some_and(|p| p.kind() == ProviderErrorKind::Media)
    }

    /// The provider failed (HTTP status, connection, timeout, unreadable body).
    pub fn is_provider(&self) -> bool {
        matches!(self, Error::Provider(_))
    }

    /// A streamed item was invalid.
    pub fn is_reply(&self) -> bool {
        matches!(self, Error::Reply(_))
    }

    /// No valid answer after every re-ask.
    pub fn is_exhausted(&self) -> bool {
        matches!(self, Error::Exhausted(_))
    }

    /// The reply was cut off at the token limit.
    pub fn is_truncated(&self) -> bool {
        matches!(self, Error::Truncated(_))
    }

    /// The provider answered with an error status.
    pub fn is_status(&self) -> bool {
        self.provider().is_some_and(ProviderError::is_status)
    }

    /// A request timed out.
    pub fn is_timeout(&self) -> bool {
        self.provider().is_some_and(ProviderError::is_timeout)
    }

    /// The HTTP status, when the provider answered with an error status.
    pub fn status(&self) -> Option<u16> {
        self.provider().and_then(ProviderError::status)
    }

    /// The provider error, if that is what this is.
    pub fn provider(&self) -> Option<&ProviderError> {
        match self {
            Error::Provider(e) => Some(e),
            _ => None,
        }
    }

    /// The failed attempts, if every re-ask was used up or the last reply was cut off.
    pub fn exhausted(&self) -> Option<&Exhausted> {
        match self {
            Error::Exhausted(e) | Error::Truncated(e) => Some(e),
            _ => None,
        }
    }

    /// Tokens spent before the failure (summed over every attempt that got a reply).
    pub fn usage(&self) -> Usage {
        self.exhausted().map(|e| e.usage).unwrap_or_default()
    }
}

impl From<Exhausted> for Error {
    fn from(e: Exhausted) -> Self {
        Error::Exhausted(Box::new(e))
    }
}

/// What kind of provider failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// An error HTTP status.
    Status,
    /// The connection failed or dropped.
    Connect,
    /// A request took longer than its timeout.
    Timeout,
    /// The retry policy's total time budget ran out.
    Budget,
    /// The body was larger than the client accepts.
    BodyTooLarge,
    /// The body was not a chat completion.
    Decode,
    /// A local engine failed.
    Engine,
    /// A streamed reply broke off, ended early, or carried an error event.
    Stream,
    /// A media URL could not be fetched for inlining (unreachable, an error status, too large,
    /// not the kind it was given as).
    Media,
}

/// The provider could not be reached or answered with an error. Never holds the API key.
#[derive(Debug)]
pub struct ProviderError {
    kind: ProviderErrorKind,
    message: String,
    error_type: Option<String>,
    status: Option<u16>,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl ProviderError {
    /// A new error of `kind`.
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        ProviderError { kind, message: message.into(), error_type: None, status: None, retry_after: None, source: None }
    }

    /// The provider's own name for the error, from its error body or stream event
    /// (`overloaded_error`, `RESOURCE_EXHAUSTED`, `invalid_request_error`, ...).
    pub fn with_error_type(mut self, error_type: impl Into<String>) -> Self {
        self.error_type = Some(error_type.into());
        self
    }

    /// The provider's own name for the error, when it gave one.
    ///
    /// ```
    /// use instructor::{ProviderError, ProviderErrorKind};
    /// let e = ProviderError::new(ProviderErrorKind::Status, "Overloaded").with_error_type("overloaded_error");
    /// assert_eq!(e.error_type(), Some("overloaded_error"));
    /// ```
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    pub(crate) fn with_status(mut self, status: u16, retry_after: Option<Duration>) -> Self {
        self.status = Some(status);
        self.retry_after = retry_after;
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ProviderErrorKind {
        self.kind
    }

    /// The provider's message (from its error body when it sent one).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, for [`ProviderErrorKind::Status`].
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// How long the provider asked us to wait, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// An error status.
    pub fn is_status(&self) -> bool {
        self.kind == ProviderErrorKind::Status
    }

    /// A timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, ProviderErrorKind::Timeout | ProviderErrorKind::Budget)
    }

    /// A connection failure.
    pub fn is_connect(&self) -> bool {
        self.kind == ProviderErrorKind::Connect
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.status) {
            (ProviderErrorKind::Status, Some(status)) => {
                write!(f, "provider returned HTTP {status}")?;
                if let Some(kind) = &self.error_type {
                    write!(f, " ({kind})")?;
                }
                write!(f, ": {}", self.message)
            }
            (ProviderErrorKind::Connect, _) => write!(f, "connection to the provider failed: {}", self.message),
            (ProviderErrorKind::Timeout, _) => write!(f, "request timed out: {}", self.message),
            (ProviderErrorKind::Budget, _) => write!(f, "retry budget exhausted: {}", self.message),
            (ProviderErrorKind::BodyTooLarge, _) => write!(f, "provider reply too large: {}", self.message),
            (ProviderErrorKind::Decode, _) => write!(f, "provider reply could not be read: {}", self.message),
            (ProviderErrorKind::Media, _) => write!(f, "media: {}", self.message),
            _ => write!(f, "provider error: {}", self.message),
        }
    }
}

impl StdError for ProviderError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

/// No attempt produced a valid value. Holds every failed attempt, the last completion and the
/// tokens spent in all.
#[derive(Debug, Clone)]
pub struct Exhausted {
    /// Each failed attempt in order: the model's reply and why it was rejected.
    pub attempts: Vec<FailedAttempt>,
    /// The last completion received.
    pub last_completion: ChatCompletion,
    /// Tokens summed over every attempt.
    pub usage: Usage,
}

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.attempts.len();
        write!(f, "no valid answer after {n} attempt{}", if n == 1 { "" } else { "s" })?;
        if let Some(last) = self.attempts.last() {
            write!(f, "; last error: {}", last.error)?;
        }
        Ok(())
    }
}

impl StdError for Exhausted {}

/// One attempt whose reply was rejected.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    /// The reply as the model wrote it (tool arguments or message text).
    pub reply: String,
    /// Why it was rejected.
    pub error: ReplyError,
    /// Tokens this attempt spent.
    pub usage: Usage,
}

/// Why a reply was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyErrorKind {
    /// The completion held no usable reply (no choice, no tool call, no text).
    Missing,
    /// The model refused.
    Refusal,
    /// The reply was not JSON of the expected shape.
    Parse,
    /// The value parsed but failed validation.
    Validation,
    /// The reply was cut off at the token limit (`max_tokens`) before it was complete. It is not
    /// re-asked: the same limit would cut the next reply too. Raise `max_tokens`.
    Truncated,
}

/// A reply that did not parse or validate. Its message goes back to the model in the re-ask.
///
/// ```
/// let e = instructor::ReplyError::validation(Some("age".into()), "must be at least 18");
/// assert_eq!(e.to_string(), "age: must be at least 18");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyError {
    kind: ReplyErrorKind,
    path: Option<String>,
    message: String,
}

impl ReplyError {
    pub(crate) fn new(kind: ReplyErrorKind, path: Option<String>, message: impl Into<String>) -> Self {
        ReplyError { kind, path, message: message.into() }
    }

    /// A validation failure at `path` (dotted, e.g. `address.city`).
    pub fn validation(path: Option<String>, message: impl Into<String>) -> Self {
        Self::new(ReplyErrorKind::Validation, path, message)
    }

    pub(crate) fn parse(path: Option<String>, message: impl Into<String>) -> Self {
        Self::new(ReplyErrorKind::Parse, path, message)
    }

    pub(crate) fn missing(message: impl Into<String>) -> Self {
        Self::new(ReplyErrorKind::Missing, None, message)
    }

    /// The reply was cut off at the token limit; `cause` is what reading it found.
    pub(crate) fn truncated(cause: &ReplyError) -> Self {
        Self::new(
            ReplyErrorKind::Truncated,
            cause.path.clone(),
            format!("the reply was cut off at the token limit before it was complete ({})", cause.message),
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> ReplyErrorKind {
        self.kind
    }

    /// The failing field, when known.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(p) => write!(f, "{p}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl StdError for ReplyError {}
