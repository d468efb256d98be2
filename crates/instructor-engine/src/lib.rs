//! # instructor-engine
//!
//! An embedded model for `instructor`: a GGUF model run in-process by llama.cpp, with decoding
//! constrained by llguidance so that every reply satisfies the request's JSON Schema. It
//! implements [`instructor::Provider`], so `client.chat().create::<T>()` works the same
//! against it as against any HTTP endpoint — offline.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use instructor::{ChatRequest, Client, Mode};
//! use instructor_engine::{Engine, EngineOptions, store};
//!
//! #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
//! struct UserDetails { name: String, age: u32 }
//!
//! let path = store::ensure_default(&store::Silent).await?;
//! let engine = Engine::load(&path, EngineOptions::default())?;
//! let client = Client::with_provider(engine).with_mode(Mode::JsonSchema);
//! let user: UserDetails = client
//!     .chat()
//!     .create(ChatRequest::new("local").system("You are a world class extractor")
//!         .user(r#"Extract the following entities: "Jason is 20""#))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! The engine sits behind the [`Provider`](instructor::Provider) trait, so another backend can
//! replace llama.cpp without touching the library.

mod engine;
mod provider;
pub mod store;

use std::fmt;

pub use engine::{
    Constraint, DEFAULT_MAX_TOKENS, Engine, EngineOptions, Generation, JsonCompactor, PENALTY_WINDOW, Sampling, Stop,
};
pub use provider::tool_has_answered;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The model file is missing, unreadable or not a GGUF model.
    #[error("model: {0}")]
    Model(String),
    /// The constraint could not be compiled (an unsupported or invalid JSON Schema).
    #[error("grammar: {0}")]
    Grammar(String),
    /// The prompt does not fit the model's context.
    #[error("prompt: {0}")]
    Prompt(String),
    /// llama.cpp failed while decoding.
    #[error("inference: {0}")]
    Inference(String),
    /// Fetching or verifying a model failed.
    #[error("model store: {0}")]
    Store(String),
}

impl EngineError {
    pub(crate) fn store(msg: impl Into<String>) -> Self {
        EngineError::Store(msg.into())
    }

    pub(crate) fn model(msg: impl fmt::Display) -> Self {
        EngineError::Model(msg.to_string())
    }

    /// The caller's input was at fault (bad schema, prompt too long, bad model file), not the engine.
    pub fn is_input(&self) -> bool {
        matches!(self, EngineError::Model(_) | EngineError::Grammar(_) | EngineError::Prompt(_))
    }
}
