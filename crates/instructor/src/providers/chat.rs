//! OpenAI's chat-completions API, spoken by OpenAI and by every compatible server (Anyscale,
//! Together, Groq, vLLM, Ollama, llama.cpp, ...). The library's own request is this API's shape,
//! so nothing is translated.

use std::fmt;

use super::Outgoing;
use crate::error::{Error, ProviderError};
use crate::http::{HttpTransport, read_body};
use crate::media::{self, MediaPolicy};
use crate::modes::Mode;
use crate::provider::{BoxFuture, Provider};
use crate::stream::{ChatChunks, DeltaStream, sse_stream};
use crate::wire::{ChatCompletion, CompletionRequest};

/// A chat-completions endpoint over HTTP: OpenAI, Anyscale, Together, Groq, Fireworks, vLLM,
/// Ollama, llama.cpp's server, ... Built by [`ClientBuilder`](crate::ClientBuilder).
pub struct OpenAiCompatible {
    transport: HttpTransport,
    endpoint: reqwest::Url,
    media: MediaPolicy,
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiCompatible").field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

impl OpenAiCompatible {
    pub(crate) fn new(transport: HttpTransport, media: MediaPolicy) -> Result<Self, Error> {
        let endpoint = transport.endpoint("/chat/completions")?;
        Ok(OpenAiCompatible { transport, endpoint, media })
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        self.endpoint.as_str()
    }

    /// The transport, for the endpoints beside chat completions (files, batches).
    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) fn transport(&self) -> &HttpTransport {
        &self.transport
    }
}

impl Provider for OpenAiCompatible {
    fn check_request(&self, _mode: Mode, request: &CompletionRequest) -> Result<(), Error> {
        media::CHAT.check(&request.messages, self.media.cap)
    }

    fn complete<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<ChatCompletion, ProviderError>> {
        Box::pin(async move {
            // Encoded in a block of its own: what it holds (a temporary in the `post` call's
            // arguments would too) would otherwise live across the await, in every in-flight
            // call's future.
            let body = {
                let fetched;
                let request = match media::CHAT.inline_urls(request, &self.media.fetcher) {
                    Some(fetching) => {
                        fetched = fetching.await?;
                        &fetched
                    }
                    None => request,
                };
                Outgoing::new(request).encode(request)?
            };
            let body = self.transport.post(&self.endpoint, body).await?;
            read_body::<ChatCompletion>(&body, "the reply is not a chat completion")
        })
    }

    fn stream<'a>(&'a self, request: &'a CompletionRequest) -> BoxFuture<'a, Result<DeltaStream<'a>, ProviderError>> {
        Box::pin(async move {
            let mut request = match media::CHAT.inline_urls(request, &self.media.fetcher) {
                Some(fetching) => fetching.await?,
                None => request.clone(),
            };
            request.stream = true;
            request.extra.insert("stream_options".to_owned(), serde_json::json!({ "include_usage": true }));
            let body = Outgoing::new(&request).encode(&request)?;
            let response = self.transport.open_stream(&self.endpoint, body).await?;
            let stream: DeltaStream<'a> = Box::pin(sse_stream(response, self.transport.max_body(), ChatChunks::new()));
            Ok(stream)
        })
    }
}
