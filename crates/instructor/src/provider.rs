//! Where completions come from: the [`Provider`] trait. The hosted APIs (chat completions,
//! Responses, Anthropic, Gemini) implement it in `providers/`; an embedded engine implements it
//! too.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, ProviderError};
use crate::modes::Mode;
use crate::stream::{CompletionDelta, DeltaStream};
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

    /// Refuses, before anything is sent, a request this provider cannot serve: a mode its API
    /// has no equivalent for, or a kind of media it does not read. The default accepts all.
    fn check_request(&self, _mode: Mode, _request: &CompletionRequest) -> Result<(), Error> {
        Ok(())
    }

    /// Sends one request and streams the reply as deltas. The default completes the request and
    /// yields the whole completion as one delta, so every provider can be streamed from;
    /// the HTTP providers stream server-sent events as they arrive.
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
