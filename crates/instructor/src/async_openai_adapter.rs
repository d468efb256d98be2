//! Wrapping an existing `async-openai` client: its endpoint, credentials, middleware and retry
//! behaviour stay as the application configured them; instructor adds modes, parsing and re-ask.

use std::fmt;

use async_openai::config::Config;
use async_openai::error::OpenAIError;

use crate::error::{ProviderError, ProviderErrorKind};
use crate::provider::{BoxFuture, Provider};
use crate::wire::{ChatCompletion, CompletionRequest};

/// An `async_openai::Client` as a [`Provider`].
///
/// ```no_run
/// let openai = async_openai::Client::new();
/// let client = instructor::Client::with_provider(instructor::AsyncOpenAi::new(openai));
/// # let _ = client;
/// ```
pub struct AsyncOpenAi<C: Config> {
    client: async_openai::Client<C>,
}

impl<C: Config> AsyncOpenAi<C> {
    /// Wraps `client`.
    pub fn new(client: async_openai::Client<C>) -> Self {
        AsyncOpenAi { client }
    }
}

impl<C: Config> fmt::Debug for AsyncOpenAi<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config holds the key: show only where requests go.
        f.debug_struct("AsyncOpenAi").field("api_base", &self.client.config().api_base()).finish_non_exhaustive()
    }
}

impl<C: Config + 'static> Provider for AsyncOpenAi<C> {
    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            self.client.chat().create_byot::<&CompletionRequest, ChatCompletion>(request).await.map_err(provider_error)
        })
    }
}

fn provider_error(e: OpenAIError) -> ProviderError {
    match e {
        OpenAIError::ApiError(api) => ProviderError::new(ProviderErrorKind::Status, api.api_error.message.clone())
            .with_status(api.status_code.as_u16(), None),
        OpenAIError::Reqwest(e) if e.is_timeout() => {
            ProviderError::new(ProviderErrorKind::Timeout, e.to_string()).with_source(e)
        }
        OpenAIError::Reqwest(e) => ProviderError::new(ProviderErrorKind::Connect, e.to_string()).with_source(e),
        OpenAIError::JSONDeserialize(e, _) => {
            ProviderError::new(ProviderErrorKind::Decode, e.to_string()).with_source(e)
        }
        other => ProviderError::new(ProviderErrorKind::Engine, other.to_string()),
    }
}
