//! # instructor
//!
//! Typed, validated values from any OpenAI-compatible chat model. Derive `Deserialize` and
//! `JsonSchema` on a type, ask for it, and get it back — or a typed error that holds every
//! rejected reply and the tokens spent.
//!
//! ```no_run
//! use instructor::{ChatRequest, Client, Mode};
//!
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
//! struct UserDetails {
//!     name: String,
//!     age: u32,
//! }
//!
//! # async fn run() -> Result<(), instructor::Error> {
//! let client = Client::builder()
//!     .base_url("https://api.endpoints.anyscale.com/v1")
//!     .api_key(std::env::var("ANYSCALE_API_KEY").unwrap_or_default())
//!     .mode(Mode::JsonSchema)
//!     .build()?;
//! let user: UserDetails = client
//!     .chat()
//!     .create(
//!         ChatRequest::new("mistralai/Mixtral-8x7B-Instruct-v0.1")
//!             .system("You are a world class extractor")
//!             .user(r#"Extract the following entities: "Jason is 20""#)
//!             .max_retries(2),
//!     )
//!     .await?;
//! assert_eq!((user.name.as_str(), user.age), ("Jason", 20));
//! # Ok(()) }
//! ```
//!
//! The path of a call: [`ChatRequest`] → the [`Mode`] shapes it with the cached
//! [`ResponseSchema`] → the [`Provider`] sends it (retrying HTTP failures per [`RetryPolicy`]) →
//! the mode takes the JSON out of the reply → it is decoded into `T` and [`Validate`]d → on a
//! rejected reply the model is re-asked with the error, up to `max_retries` times.

mod batch;
#[cfg(feature = "dynamic")]
mod batch_remote;
mod client;
mod error;
mod hooks;
mod http;
pub mod json;
mod media;
mod modes;
mod presets;
mod provider;
mod providers;
mod reask;
mod request;
mod retry;
mod schema;
mod stream;
mod template;
mod validate;
pub mod wire;

#[cfg(feature = "async-openai")]
mod async_openai_adapter;
pub mod blocking;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "garde")]
pub mod garde;

pub use batch::{BatchItem, BatchOptions};
#[cfg(feature = "dynamic")]
pub use batch_remote::RemoteBatchOptions;
pub use client::{Chat, Client, ClientBuilder, Extraction};
pub use error::{Error, Exhausted, FailedAttempt, ProviderError, ProviderErrorKind, ReplyError, ReplyErrorKind};
pub use hooks::Hook;
pub use media::{Audio, Content, DEFAULT_MAX_MEDIA_BYTES, Image, Media, MediaKind, Part, Pdf, SharedStr, sniff};
pub use modes::Mode;
pub use presets::Preset;
pub use provider::{ApiKey, BoxFuture, DEFAULT_MAX_BODY, Provider};
pub use providers::Api;
pub use providers::anthropic::{Anthropic, DEFAULT_MAX_TOKENS as ANTHROPIC_DEFAULT_MAX_TOKENS};
pub use providers::chat::OpenAiCompatible;
pub use providers::gemini::{Gemini, openapi_schema};
pub use providers::responses::OpenAiResponses;
pub use request::ChatRequest;
pub use retry::RetryPolicy;
pub use schema::{ResponseSchema, strict_schema};
pub use stream::partial::{Partial, PartialEvent};
pub use stream::{CompletionDelta, DeltaStream, ToolCallDelta};
pub use validate::Validate;
pub use wire::{
    AssistantMessage, ChatCompletion, Choice, CompletionRequest, FinishReason, FunctionCall, Message, RawJson, Role,
    ToolCall, Usage,
};

#[cfg(feature = "async-openai")]
pub use async_openai_adapter::AsyncOpenAi;

/// The README's Rust example, compiled as a doctest so that it stays true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
