//! A blocking facade over the async client, for programs without an async runtime.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use crate::client::Extraction;
use crate::error::Error;
use crate::request::ChatRequest;
use crate::validate::Validate;

/// A blocking [`Client`](crate::Client): each call runs on a runtime the facade owns.
/// Calling it from inside an async runtime is an error (use the async client there).
///
/// ```no_run
/// # fn run() -> Result<(), instructor::Error> {
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct UserDetails { name: String, age: u32 }
///
/// let client = instructor::blocking::Client::new(instructor::Client::from_preset(instructor::Preset::OpenAi)?)?;
/// let user: UserDetails = client.chat().create(instructor::ChatRequest::new("gpt-4o-mini").user("Jason is 20"))?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Client {
    inner: crate::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    /// Wraps an async client.
    pub fn new(inner: crate::Client) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::request(format!("cannot start a runtime for the blocking client: {e}")))?;
        Ok(Client { inner, runtime })
    }

    /// Typed chat completions.
    pub fn chat(&self) -> Chat<'_> {
        Chat { client: self }
    }

    fn block_on<F: std::future::Future<Output = Result<R, Error>>, R>(&self, f: F) -> Result<R, Error> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(Error::request(
                "the blocking client was called inside an async runtime; use instructor::Client there",
            ));
        }
        self.runtime.block_on(f)
    }
}

/// Blocking typed chat completions.
#[derive(Debug, Clone, Copy)]
pub struct Chat<'c> {
    client: &'c Client,
}

impl Chat<'_> {
    /// See [`crate::Chat::create`].
    pub fn create<T>(self, request: ChatRequest) -> Result<T, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        self.client.block_on(self.client.inner.chat().create::<T>(request))
    }

    /// See [`crate::Chat::create_with_completion`].
    pub fn create_with_completion<T>(self, request: ChatRequest) -> Result<Extraction<T>, Error>
    where
        T: DeserializeOwned + JsonSchema + Send + 'static,
    {
        self.client.block_on(self.client.inner.chat().create_with_completion::<T>(request))
    }

    /// See [`crate::Chat::create_validated`].
    pub fn create_validated<T>(self, request: ChatRequest) -> Result<T, Error>
    where
        T: DeserializeOwned + JsonSchema + Validate + Send + 'static,
    {
        self.client.block_on(self.client.inner.chat().create_validated::<T>(request))
    }
}
