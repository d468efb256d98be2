//! The client: a provider, a default mode, hooks; and `chat()`, where the extraction loop lives.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::error::{Error, Exhausted, FailedAttempt, ReplyError, ReplyErrorKind};
use crate::hooks::Hook;
use crate::http::{HttpTransport, openai_error, secret_header};
use crate::json::{Repair, RepairKind};
use crate::media::{Fetcher, MediaPolicy};
use crate::modes::Mode;
use crate::presets::Preset;
use crate::provider::{ApiKey, DEFAULT_MAX_BODY, Provider};
use crate::providers::Api;
use crate::providers::anthropic::Anthropic;
use crate::providers::chat::OpenAiCompatible;
use crate::providers::gemini::Gemini;
use crate::providers::responses::OpenAiResponses;
use crate::request::ChatRequest;
use crate::retry::RetryPolicy;
use crate::schema::ResponseSchema;
use crate::stream::iterable::iterable_stream;
use crate::stream::partial::{PartialEvent, partial_stream};
use crate::validate::{CheckFn, Decode, ReadOptions, Typed, Validate, accept, no_check, read_reply};
use crate::wire::{ChatCompletion, CompletionRequest, FinishReason, Message, Role, Usage};
use crate::{reask, template};

/// Asks chat models for typed values. Cheap to clone; share one per process.
///
/// ```no_run
/// # async fn run() -> Result<(), instructor::Error> {
/// use instructor::{ChatRequest, Client, Mode};
///
/// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
/// struct UserDetails { name: String, age: u32 }
///
/// let client = Client::builder()
///     .base_url("https://api.endpoints.anyscale.com/v1")
///     .api_key(std::env::var("ANYSCALE_API_KEY").unwrap_or_default())
///     .mode(Mode::JsonSchema)
///     .build()?;
/// let user: UserDetails = client
///     .chat()
///     .create(
///         ChatRequest::new("mistralai/Mixtral-8x7B-Instruct-v0.1")
///             .system("You are a world class extractor")
///             .user(r#"Extract the following entities: "Jason is 20""#),
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn Provider>,
    /// The same provider when it is a hosted API with a batch endpoint.
    batches: Option<BatchApi>,
    mode: Mode,
    hooks: Vec<Arc<dyn Hook>>,
}

/// The hosted APIs with a batch endpoint, for [`Client::batch_remote_values`].
#[derive(Clone)]
#[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
pub(crate) enum BatchApi {
    /// OpenAI's Batch API (`/files` + `/batches`).
    OpenAi(Arc<OpenAiCompatible>),
    /// Anthropic's Message Batches (`/v1/messages/batches`).
    Anthropic(Arc<Anthropic>),
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.inner.provider)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for an OpenAI-compatible HTTP client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client for a known provider, with its key (and optional base-URL override, e.g.
    /// `ANYSCALE_BASE_URL`) read from the environment and its preferred mode.
    ///
    /// ```
    /// let client = instructor::Client::from_preset(instructor::Preset::Ollama).unwrap();
    /// # let _ = client;
    /// ```
    pub fn from_preset(preset: Preset) -> Result<Client, Error> {
        Client::builder().preset(preset).build()
    }

    /// A client over any [`Provider`] (an embedded engine, a custom transport), in `Tools` mode.
    pub fn with_provider(provider: impl Provider + 'static) -> Client {
        Client {
            inner: Arc::new(Inner {
                provider: Arc::new(provider),
                batches: None,
                mode: Mode::Tools,
                hooks: Vec::new(),
            }),
        }
    }

    /// The same client with another default mode.
    pub fn with_mode(&self, mode: Mode) -> Client {
        Client {
            inner: Arc::new(Inner {
                provider: Arc::clone(&self.inner.provider),
                batches: self.inner.batches.clone(),
                mode,
                hooks: self.inner.hooks.clone(),
            }),
        }
    }

    /// The provider requests go to (to send a [`CompletionRequest`] of your own, streamed or not).
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.inner.provider
    }

    /// The hosted API with a batch endpoint, when this client talks to one.
    #[cfg_attr(not(feature = "dynamic"), allow(dead_code))]
    pub(crate) fn batches(&self) -> Option<&BatchApi> {
        self.inner.batches.as_ref()
    }

    /// The default mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// Typed chat completions.
    pub fn chat(&self) -> Chat<'_> {
        Chat { client: self }
    }
}

/// Builds a [`Client`] for a hosted API: an OpenAI-compatible endpoint by default, or the
/// Responses, Anthropic or Gemini API (chosen by a [`Preset`] or by [`api`](Self::api)).
///
/// ```
/// use instructor::{Api, Client};
/// // Claude through a gateway: the Anthropic API at another host.
/// let client = Client::builder().api(Api::Anthropic).base_url("https://gateway.example.com").api_key("sk-ant-...").build();
/// assert!(client.is_ok());
/// ```
#[derive(Default)]
pub struct ClientBuilder {
    base_url: Option<String>,
    api_key: Option<ApiKey>,
    mode: Option<Mode>,
    preset: Option<Preset>,
    api: Option<Api>,
    anthropic_version: Option<String>,
    max_media_bytes: Option<usize>,
    retry: RetryPolicy,
    headers: Vec<(String, String)>,
    max_body: Option<usize>,
    hooks: Vec<Arc<dyn Hook>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("mode", &self.mode)
            .field("preset", &self.preset)
            .field("api", &self.api)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// Starts from a known provider: its base URL (or `<NAME>_BASE_URL` from the environment),
    /// its key from `<NAME>_API_KEY`, and its preferred mode. Later calls override each part.
    pub fn preset(mut self, preset: Preset) -> Self {
        self.preset = Some(preset);
        self
    }

    /// The API's base URL, e.g. `https://api.openai.com/v1` (requests go to
    /// `{base}/chat/completions`; `{base}/responses`, `{base}/v1/messages` and
    /// `{base}/v1beta/models/...` for the other APIs). With a preset or [`api`](Self::api) it
    /// moves only the host, keeping the API (a proxy or gateway).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The wire format to speak (default: the preset's, else chat completions).
    pub fn api(mut self, api: Api) -> Self {
        self.api = Some(api);
        self
    }

    /// The `anthropic-version` header (default [`wire::anthropic::DEFAULT_VERSION`](crate::wire::anthropic::DEFAULT_VERSION)).
    /// Versions before it take structured outputs in the `structured-outputs-2025-11-13` beta's
    /// shape (`output_format`, with the beta header), which the client then sends.
    pub fn anthropic_version(mut self, version: impl Into<String>) -> Self {
        self.anthropic_version = Some(version.into());
        self
    }

    /// The API key. Kept out of `Debug`, logs and errors; sent as each API wants it
    /// (`Authorization: Bearer`, `x-api-key`, `x-goog-api-key`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// The default mode (else the preset's, else `Tools`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// The HTTP retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Shorthand for the policy's per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.retry = self.retry.timeout(timeout);
        self
    }

    /// Shorthand for the policy's number of HTTP retries.
    pub fn http_retries(mut self, n: u32) -> Self {
        self.retry = self.retry.max_retries(n);
        self
    }

    /// An extra header sent with every request (`OpenAI-Organization`, `HTTP-Referer`,
    /// `User-Agent`, ...). Requests carry only what the API needs unless headers are added here.
    ///
    /// ```
    /// let client = instructor::Client::builder()
    ///     .api_key("sk-...")
    ///     .header("User-Agent", "my-app/1.0")
    ///     .build()
    ///     .unwrap();
    /// # let _ = client;
    /// ```
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The largest reply body accepted (default 32 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = Some(n);
        self
    }

    /// The largest image, PDF or audio item sent where the API documents no limit, and fetched
    /// when a media URL must be inlined (default [`DEFAULT_MAX_MEDIA_BYTES`](crate::DEFAULT_MAX_MEDIA_BYTES), 20 MiB).
    pub fn max_media_bytes(mut self, n: usize) -> Self {
        self.max_media_bytes = Some(n);
        self
    }

    /// Adds a hook.
    pub fn hook(mut self, hook: impl Hook + 'static) -> Self {
        self.hooks.push(Arc::new(hook));
        self
    }

    /// Builds the client. Fails on a malformed base URL or header.
    pub fn build(self) -> Result<Client, Error> {
        let env = |names: &[&str]| names.iter().find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()));
        let api = self.api.or(self.preset.map(Preset::api)).unwrap_or_default();
        // The provider whose defaults apply: the one named, or the API's own when nothing else is.
        let defaults = self.preset.or(match (&self.base_url, self.api) {
            (None, _) => Some(Preset::for_api(api)),
            (Some(_), _) => None,
        });
        let base_url = match (&self.base_url, defaults) {
            (Some(url), _) => url.clone(),
            (None, Some(p)) => env(p.base_url_envs()).unwrap_or_else(|| p.base_url().to_owned()),
            (None, None) => Preset::OpenAi.base_url().to_owned(),
        };
        // A key from the environment goes only where it belongs: to its preset's provider, or
        // to the API's own service when nothing else was named; never to an arbitrary base URL.
        let env_key = defaults.and_then(|p| env(p.api_key_envs()));
        let api_key = self.api_key.or_else(|| env_key.map(ApiKey::new));
        let mode = self.mode.or(self.preset.map(Preset::default_mode)).unwrap_or_default();
        let mut headers = HeaderMap::new();
        HttpTransport::extra_headers(&mut headers, &self.headers)?;
        let key = api_key.as_ref().map(ApiKey::expose).filter(|k| !k.is_empty());
        let max_body = self.max_body.unwrap_or(DEFAULT_MAX_BODY);
        let media_cap = self.max_media_bytes.unwrap_or(crate::media::DEFAULT_MAX_MEDIA_BYTES);
        let media = MediaPolicy { fetcher: Fetcher::new(self.retry.timeout, media_cap), cap: media_cap };
        let (provider, batches): (Arc<dyn Provider>, Option<BatchApi>) = match api {
            Api::ChatCompletions | Api::Responses => {
                if let Some(key) = key {
                    headers.insert(AUTHORIZATION, secret_header(&format!("Bearer {key}"))?);
                }
                let transport = HttpTransport::new(&base_url, headers, self.retry, max_body, openai_error)?;
                if api == Api::Responses {
                    (Arc::new(OpenAiResponses::new(transport, media)?), None)
                } else {
                    let chat = Arc::new(OpenAiCompatible::new(transport, media)?);
                    (chat.clone(), Some(BatchApi::OpenAi(chat)))
                }
            }
            Api::Anthropic => {
                if let Some(key) = key {
                    headers.insert("x-api-key", secret_header(key)?);
                }
                let version = self.anthropic_version.as_deref().unwrap_or(crate::wire::anthropic::DEFAULT_VERSION);
                headers.insert(
                    "anthropic-version",
                    HeaderValue::from_str(version)
                        .map_err(|_| Error::request(format!("bad anthropic version `{version}`")))?,
                );
                if crate::providers::anthropic::uses_beta_structured_outputs(version) {
                    let beta = crate::wire::anthropic::STRUCTURED_OUTPUTS_BETA;
                    let value = match headers.get("anthropic-beta").and_then(|v| v.to_str().ok()) {
                        Some(existing) if !existing.split(',').any(|b| b.trim() == beta) => {
                            format!("{existing},{beta}")
                        }
                        Some(existing) => existing.to_owned(),
                        None => beta.to_owned(),
                    };
                    headers.insert(
                        "anthropic-beta",
                        HeaderValue::from_str(&value).map_err(|_| Error::request("bad anthropic-beta header"))?,
                    );
                }
                let transport = HttpTransport::new(
                    &base_url,
                    headers,
                    self.retry,
                    max_body,
                    crate::providers::anthropic::error_body,
                )?;
                let anthropic = Arc::new(Anthropic::new(transport, version, media)?);
                (anthropic.clone(), Some(BatchApi::Anthropic(anthropic)))
            }
            Api::Gemini => {
                if let Some(key) = key {
                    headers.insert("x-goog-api-key", secret_header(key)?);
                }
                let transport =
                    HttpTransport::new(&base_url, headers, self.retry, max_body, crate::providers::gemini::error_body)?;
                (Arc::new(Gemini::new(transport, media)), None)
            }
        };
        Ok(Client { inner: Arc::new(Inner { provider, batches, mode, hooks: self.hooks }) })
    }
}

/// A typed value and how it was obtained.
#[derive(Debug, Clone)]
pub struct Extraction<T> {
    /// The value.
    pub value: T,
    /// The completion it came from.
    pub completion: ChatCompletion,
    /// Tokens summed over every attempt.
    pub usage: Usage,
    /// Requests made (1 when the first reply was valid).
    pub attempts: u32,
    /// The replies rejected before this one.
    pub failed: Vec<FailedAttempt>,
    /// What was fixed in the accepted reply to read it (empty for valid JSON); see
    /// [`ChatRequest::strict`] to refuse repairs.
    pub repairs: Vec<Repair>,
}

/// Typed chat completions: `client.chat().create::<T>(request)`.
#[derive(Debug, Clone, Copy)]
pub struct Chat<'c> {
    client: &'c Client,
}

impl Chat<'_> {
    /// Asks for a `T`, re-asking with the error when the reply does not parse.
    ///
    /// `T` may be a struct, an enum, `String`, `bool`, a number, `Vec<U>` or `Option<U>`.
    pub async fn create<T>(self, request: ChatRequest) -> Result<T, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        Ok(self.create_with_completion::<T>(request).await?.value)
    }

    /// As [`create`](Self::create), also returning the raw completion, the summed usage and the
    /// rejected attempts.
    pub async fn create_with_completion<T>(self, request: ChatRequest) -> Result<Extraction<T>, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        let schema = ResponseSchema::of::<T>();
        self.run(request, &schema, &Typed, &accept::<T>).await
    }

    /// As [`create`](Self::create), and the value must also pass [`Validate::validate`]; its
    /// message goes into the re-ask.
    pub async fn create_validated<T>(self, request: ChatRequest) -> Result<T, Error>
    where
        T: DeserializeOwned + JsonSchema + Validate + Send + 'static,
    {
        Ok(self.create_validated_with_completion::<T>(request).await?.value)
    }

    /// As [`create_validated`](Self::create_validated), with the completion, usage and attempts.
    pub async fn create_validated_with_completion<T>(self, request: ChatRequest) -> Result<Extraction<T>, Error>
    where
        T: DeserializeOwned + JsonSchema + Validate + Send + 'static,
    {
        let schema = ResponseSchema::of::<T>();
        self.run(request, &schema, &Typed, &|v: &T, ctx: &Value| v.validate(ctx)).await
    }

    /// Asks for a JSON value satisfying a schema known only at run time.
    #[cfg(feature = "dynamic")]
    pub async fn create_value(self, request: ChatRequest, schema: &ResponseSchema) -> Result<Extraction<Value>, Error> {
        self.run(request, schema, &crate::validate::Dynamic(schema), &accept::<Value>).await
    }

    /// Streams the value as it arrives: a [`PartialEvent::Partial`] each time it changes, then
    /// [`PartialEvent::Complete`] with the validated `T`. A final value that fails to parse or
    /// validate is re-asked as in [`create`](Self::create) (the partials start over, with the next
    /// [`attempt`](crate::Partial::attempt)). The stream owns what it needs (`'static`).
    ///
    /// Work is linear in the reply: each chunk is parsed once, and a partial is a shared handle
    /// updated in place (drop it before polling again to keep it copy-free).
    ///
    /// ```no_run
    /// # async fn run(client: instructor::Client) -> Result<(), instructor::Error> {
    /// use futures_util::StreamExt;
    /// use instructor::{ChatRequest, PartialEvent};
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct Report { title: String, findings: Vec<String> }
    ///
    /// let mut stream = std::pin::pin!(client.chat().create_partial::<Report>(ChatRequest::new("gpt-4o-mini").user("...")));
    /// while let Some(event) = stream.next().await {
    ///     match event? {
    ///         PartialEvent::Partial(p) => eprintln!("so far: {}", p.json()),
    ///         PartialEvent::Complete(done) => println!("{}", done.value.title),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn create_partial<T>(
        self,
        request: ChatRequest,
    ) -> impl futures_core::Stream<Item = Result<PartialEvent<T>, Error>> + Send + 'static
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        let schema = ResponseSchema::of::<T>();
        let call = Call::prepare(self.client, request, &schema);
        async_stream::stream! {
            match call {
                Ok(call) => {
                    let inner = partial_stream::<T>(call, schema, Box::new(Typed), no_check());
                    for await item in inner {
                        yield item;
                    }
                }
                Err(e) => yield Err(e),
            }
        }
    }

    /// Streams the items of a list one by one, each as soon as the model closes it: the model is
    /// asked for a `Vec<T>`, and items come from the reply's array (or, in `ParallelTools` mode,
    /// from each tool call). Items are decoded (with schema-aligned repair unless
    /// [`strict`](ChatRequest::strict)) and checked one at a time; an invalid item is an
    /// [`Error::Reply`] in its place and the stream goes on. A reply with no item at all is
    /// re-asked like [`create`](Self::create).
    ///
    /// ```no_run
    /// # async fn run(client: instructor::Client) -> Result<(), instructor::Error> {
    /// use futures_util::StreamExt;
    ///
    /// #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    /// struct User { name: String, age: u32 }
    ///
    /// let request = instructor::ChatRequest::new("gpt-4o-mini").user("Jason is 20, Sarah is 30");
    /// let mut users = std::pin::pin!(client.chat().create_iterable::<User>(request));
    /// while let Some(user) = users.next().await {
    ///     println!("{:?}", user?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn create_iterable<T>(
        self,
        request: ChatRequest,
    ) -> impl futures_core::Stream<Item = Result<T, Error>> + Send + 'static
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        let schema = ResponseSchema::of::<Vec<T>>();
        let call = Call::prepare(self.client, request, &schema);
        async_stream::stream! {
            match call {
                Ok(call) => {
                    for await item in iterable_stream::<T>(call, schema, no_check()) {
                        yield item;
                    }
                }
                Err(e) => yield Err(e),
            }
        }
    }

    /// [`create_partial`](Self::create_partial) for a schema known only at run time.
    #[cfg(feature = "dynamic")]
    pub fn create_partial_value(
        self,
        request: ChatRequest,
        schema: Arc<ResponseSchema>,
    ) -> impl futures_core::Stream<Item = Result<PartialEvent<Value>, Error>> + Send + 'static {
        let call = Call::prepare(self.client, request, &schema);
        async_stream::stream! {
            match call {
                Ok(call) => {
                    let decoder = Box::new(crate::validate::DynamicShared(Arc::clone(&schema)));
                    for await item in partial_stream::<Value>(call, schema, decoder, no_check()) {
                        yield item;
                    }
                }
                Err(e) => yield Err(e),
            }
        }
    }

    /// [`create_iterable`](Self::create_iterable) for items described by a schema known only at
    /// run time; each item is checked against `item`.
    #[cfg(feature = "dynamic")]
    pub fn create_iterable_value(
        self,
        request: ChatRequest,
        item: Arc<ResponseSchema>,
    ) -> impl futures_core::Stream<Item = Result<Value, Error>> + Send + 'static {
        let prepared = item.list_of().map(Arc::new).and_then(|list| {
            let call = Call::prepare(self.client, request, &list)?;
            Ok((call, list))
        });
        async_stream::stream! {
            match prepared {
                Ok((call, list)) => {
                    let check: crate::validate::Check<Value> = Arc::new(move |value: &Value, _: &Value| item.check(value));
                    for await value in iterable_stream::<Value>(call, list, check) {
                        yield value;
                    }
                }
                Err(e) => yield Err(e),
            }
        }
    }

    /// The extraction loop: shape, send, extract, decode, check; on a rejected reply, re-ask.
    async fn run<T>(
        self,
        request: ChatRequest,
        schema: &ResponseSchema,
        decoder: &dyn Decode<T>,
        check: &CheckFn<T>,
    ) -> Result<Extraction<T>, Error> {
        let client = &self.client.inner;
        let mode = request.mode.unwrap_or(client.mode);
        let span = tracing::info_span!("instructor.create", model = %request.model, %mode, target = schema.name());
        async move {
            let mut call = Call::prepare(self.client, request, schema)?;
            loop {
                let attempt_span = call.start_attempt();
                let completion = match client.provider.complete(&call.outgoing).instrument(attempt_span.clone()).await {
                    Ok(c) => c,
                    Err(e) => return Err(call.provider_failed(e)),
                };
                match call.evaluate(completion, schema, decoder, check) {
                    Ok(extraction) => return Ok(extraction),
                    Err(Some(error)) => return Err(error),
                    Err(None) => continue,
                }
            }
        }
        .instrument(span)
        .await
    }
}

/// One extraction in progress: the shaped request, its attempts so far, and the tokens spent.
/// Shared by the plain and the streaming paths, so both shape, decode and re-ask alike.
pub(crate) struct Call {
    client: Client,
    pub(crate) mode: Mode,
    pub(crate) outgoing: CompletionRequest,
    original_len: usize,
    context: Value,
    strict: bool,
    max_retries: u32,
    pub(crate) attempt: u32,
    usage: Usage,
    failed: Vec<FailedAttempt>,
}

impl Call {
    pub(crate) fn prepare(client: &Client, request: ChatRequest, schema: &ResponseSchema) -> Result<Call, Error> {
        let inner = &client.inner;
        let mode = request.mode.unwrap_or(inner.mode);
        let shape = schema.shape(mode)?;
        let context = request.context.unwrap_or(Value::Null);
        let mut messages = request.messages;
        if !context.is_null() {
            template::render(&mut messages, &context)?;
        }
        if messages.is_empty() {
            return Err(Error::request("the request has no messages"));
        }
        let schema_enforced = mode == Mode::JsonSchema && inner.provider.constrains_output();
        if let Some(prompt) = shape.schema_prompt.as_deref().filter(|_| !schema_enforced) {
            add_to_system_prompt(&mut messages, prompt);
        }
        let original_len = messages.len();
        let outgoing = CompletionRequest {
            model: request.model,
            messages,
            tools: shape.tools.clone(),
            tool_choice: shape.tool_choice.clone(),
            response_format: shape.response_format.clone(),
            temperature: request.temperature,
            top_p: request.top_p,
            max_tokens: request.max_tokens,
            seed: request.seed,
            stream: false,
            extra: request.extra,
        };
        inner.provider.check_request(mode, &outgoing)?;
        Ok(Call {
            client: client.clone(),
            mode,
            outgoing,
            original_len,
            context,
            strict: request.strict,
            max_retries: request.max_retries,
            attempt: 0,
            usage: Usage::default(),
            failed: Vec::new(),
        })
    }

    pub(crate) fn provider(&self) -> &Arc<dyn Provider> {
        &self.client.inner.provider
    }

    pub(crate) fn strict(&self) -> bool {
        self.strict
    }

    pub(crate) fn context(&self) -> &Value {
        &self.context
    }

    /// Counts the attempt, tells the hooks, and returns its span.
    pub(crate) fn start_attempt(&mut self) -> tracing::Span {
        self.attempt += 1;
        for hook in &self.client.inner.hooks {
            hook.on_request(&self.outgoing);
        }
        tracing::debug_span!("attempt", attempt = self.attempt)
    }

    pub(crate) fn provider_failed(&self, error: crate::ProviderError) -> Error {
        for hook in &self.client.inner.hooks {
            hook.on_completion_error(&error);
        }
        error.into()
    }

    /// Reads a completion: the value, or `Err(None)` after setting up a re-ask, or
    /// `Err(Some(_))` when the attempts are spent.
    pub(crate) fn evaluate<T>(
        &mut self,
        completion: ChatCompletion,
        schema: &ResponseSchema,
        decoder: &dyn Decode<T>,
        check: &CheckFn<T>,
    ) -> Result<Extraction<T>, Option<Error>> {
        let hooks = &self.client.inner.hooks;
        for hook in hooks {
            hook.on_response(&completion);
        }
        let spent = completion.usage.unwrap_or_default();
        self.usage += spent;
        let read = read_options(schema, self.mode, self.strict);
        let outcome = self
            .mode
            .extract(&completion, schema)
            .and_then(|reply| read_reply(decoder, &reply.json, read))
            .and_then(|(value, repairs)| check(&value, &self.context).map(|()| (value, repairs)));
        // A reply cut at the token limit is never taken for a whole one, even where the lenient
        // parser could close it.
        let outcome = match (outcome, completion.finish_reason() == Some(&FinishReason::Length)) {
            (Ok((_, repairs)), true) if repairs.iter().any(|r| r.kind == RepairKind::Truncated) => {
                Err(ReplyError::truncated(&ReplyError::parse(None, "the JSON ends unfinished")))
            }
            (Err(e), true) => Err(ReplyError::truncated(&e)),
            (outcome, _) => outcome,
        };
        let error = match outcome {
            Ok((value, repairs)) => {
                return Ok(Extraction {
                    value,
                    completion,
                    usage: self.usage,
                    attempts: self.attempt,
                    failed: std::mem::take(&mut self.failed),
                    repairs,
                });
            }
            Err(error) => error,
        };
        self.reject(completion, error).map_or(Err(None), |e| Err(Some(e)))
    }

    /// Records a rejected reply; sets up the re-ask, or returns the final error when the
    /// attempts are spent.
    pub(crate) fn reject(&mut self, completion: ChatCompletion, error: ReplyError) -> Option<Error> {
        let hooks = &self.client.inner.hooks;
        tracing::info!(attempt = self.attempt, %error, "reply rejected");
        for hook in hooks {
            hook.on_parse_error(&error);
        }
        let spent = completion.usage.unwrap_or_default();
        let truncated = error.kind() == ReplyErrorKind::Truncated;
        if truncated || self.attempt > self.max_retries {
            let reply = completion.message().map(reply_text).unwrap_or_default();
            self.failed.push(FailedAttempt { reply, error, usage: spent });
            let attempts = std::mem::take(&mut self.failed);
            let exhausted = Box::new(Exhausted { attempts, last_completion: completion, usage: self.usage });
            return Some(if truncated { Error::Truncated(exhausted) } else { Error::Exhausted(exhausted) });
        }
        for hook in hooks {
            hook.on_reask(self.attempt + 1, &error);
        }
        // The completion is not kept: its message moves into the re-ask.
        let message = completion.choices.into_iter().next().map(|c| c.message).unwrap_or_default();
        self.outgoing.messages.truncate(self.original_len);
        self.outgoing.messages.extend(reask::turn(&message, &error));
        self.failed.push(FailedAttempt { reply: reply_text(&message), error, usage: spent });
        None
    }

    /// Adds tokens spent outside [`evaluate`](Self::evaluate).
    pub(crate) fn spend(&mut self, usage: Usage) {
        self.usage += usage;
    }
}

/// How replies in `mode` are read. ParallelTools replies are a bare array of the items; every
/// other mode answers the (maybe wrapped) schema.
pub(crate) fn read_options(schema: &ResponseSchema, mode: Mode, strict: bool) -> ReadOptions<'_> {
    let parallel = mode == Mode::ParallelTools;
    // Only parallel tools read the array inside a wrapped schema; the lookup is not free.
    let reply_schema = if parallel && schema.is_wrapped() {
        schema.json().get("properties").and_then(|p| p.get("value")).unwrap_or(schema.json())
    } else {
        schema.json()
    };
    ReadOptions {
        unwrap: schema.is_wrapped() && !parallel,
        schema: reply_schema,
        strict,
        prose_expected: mode.expects_prose(),
    }
}

/// The schema instruction goes at the end of the first system message, or in a new one first.
fn add_to_system_prompt(messages: &mut Vec<Message>, prompt: &str) {
    match messages.first_mut() {
        Some(m) if m.role == Role::System => {
            let text = m.content.get_or_insert_with(String::new);
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(prompt);
        }
        _ => messages.insert(0, Message::system(prompt)),
    }
}

/// What the model said, for the record of a failed attempt.
fn reply_text(message: &crate::wire::AssistantMessage) -> String {
    if message.tool_calls.is_empty() {
        return message.content.clone().unwrap_or_default();
    }
    let args: Vec<&str> = message.tool_calls.iter().map(|c| c.function.arguments.as_str()).collect();
    args.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call boxes its provider's future once. Under a kilobyte, glibc serves the box from
    /// its per-thread cache; a larger one made every call merge the free chunks
    /// (`malloc_consolidate`), which cost 64 concurrent calls 3–5% of their CPU
    /// (`cargo bench --bench client`).
    #[test]
    fn a_call_future_fits_the_allocators_per_thread_cache() {
        for api in [Api::ChatCompletions, Api::Responses, Api::Anthropic, Api::Gemini] {
            let client =
                Client::builder().api(api).base_url("http://127.0.0.1:9").api_key("k").build().expect("client");
            let request = CompletionRequest::new("gemini-2.5-flash", vec![crate::Message::user("hi")]);
            let call = client.inner.provider.complete(&request);
            let size = std::mem::size_of_val(&*call);
            assert!(size <= 1000, "{api:?}: a call future of {size} bytes");
        }
    }
}
