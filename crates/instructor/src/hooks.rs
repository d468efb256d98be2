//! Hooks: callbacks at each step of a call, for metrics, logging or auditing. `tracing` spans
//! cover the same steps for those who prefer subscribers.

use std::fmt;

use crate::error::{ProviderError, ReplyError};
use crate::wire::{ChatCompletion, CompletionRequest};

/// Observes every call a [`Client`](crate::Client) makes. Every method has an empty default.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use instructor::{Hook, ReplyError};
///
/// #[derive(Debug, Default)]
/// struct CountReasks(AtomicU32);
///
/// impl Hook for CountReasks {
///     fn on_reask(&self, _attempt: u32, _error: &ReplyError) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// let client = instructor::Client::builder().base_url("http://127.0.0.1:8080/v1").hook(CountReasks::default()).build();
/// assert!(client.is_ok());
/// ```
pub trait Hook: Send + Sync + fmt::Debug {
    /// Before each request is sent (after the mode shaped it).
    fn on_request(&self, _request: &CompletionRequest) {}
    /// After each completion arrives.
    fn on_response(&self, _completion: &ChatCompletion) {}
    /// When a reply does not parse or validate.
    fn on_parse_error(&self, _error: &ReplyError) {}
    /// Before re-asking; `attempt` is the number of the attempt about to be made (2 for the first re-ask).
    fn on_reask(&self, _attempt: u32, _error: &ReplyError) {}
    /// When the provider fails (after its own retries).
    fn on_completion_error(&self, _error: &ProviderError) {}
}

/// A shared hook (keep an `Arc` to read what it gathered).
impl<H: Hook + ?Sized> Hook for std::sync::Arc<H> {
    fn on_request(&self, request: &CompletionRequest) {
        (**self).on_request(request);
    }
    fn on_response(&self, completion: &ChatCompletion) {
        (**self).on_response(completion);
    }
    fn on_parse_error(&self, error: &ReplyError) {
        (**self).on_parse_error(error);
    }
    fn on_reask(&self, attempt: u32, error: &ReplyError) {
        (**self).on_reask(attempt, error);
    }
    fn on_completion_error(&self, error: &ProviderError) {
        (**self).on_completion_error(error);
    }
}
