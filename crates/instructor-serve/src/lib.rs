//! # instructor-serve
//!
//! The embedded model ([`instructor_engine::Engine`]) behind the OpenAI chat-completions API, so
//! that any existing client — Python `openai` or `instructor`, LangChain, this project's own
//! library — gets schema-constrained structured output from a local model.
//!
//! Both structured-output dialects are accepted: `{"type":"json_object","schema":...}`
//! (Anyscale, Together, llama.cpp) and OpenAI's `{"type":"json_schema","json_schema":{...}}`.
//! Either schema, a forced tool's parameters, or a list of tool calls is compiled into a grammar,
//! so the reply always satisfies it.
//!
//! Routes: `POST /v1/chat/completions` (also `/chat/completions`), `GET /v1/models`,
//! `GET /v1/models/{id}`, `GET /health`. Errors are OpenAI error bodies. Requests go through a
//! bounded queue in front of the engine; a full queue is answered `429` with `Retry-After`.
//!
//! ```no_run
//! # async fn run() -> Result<(), instructor_serve::ServeError> {
//! use instructor_serve::{ServeConfig, Server, shutdown_signal};
//!
//! let config = ServeConfig::new("SmolLM2-135M-Instruct.Q4_1.gguf").port(8080).queue(16);
//! let server = Server::bind(config).await?;
//! eprintln!("serving {} at http://{}/v1", server.model_id(), server.local_addr());
//! server.run(shutdown_signal()).await
//! # }
//! ```
//!
//! The library `instructor` never depends on this crate.

mod error;
mod generate;
mod messages;
mod queue;
mod request;
mod response;
mod responses;
mod routes;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use instructor::ApiKey;
use instructor_engine::{Engine, EngineError, EngineOptions};
use tokio::net::TcpListener;

pub use routes::router;

/// The default largest request body: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

/// How to run the server: which model, where to listen, and how much work to admit.
///
/// ```
/// use instructor_serve::ServeConfig;
/// let config = ServeConfig::new("model.gguf").port(0).api_key("sk-local").parallel(1).queue(4);
/// assert_eq!(config.address().ip().to_string(), "127.0.0.1");
/// assert!(!format!("{config:?}").contains("sk-local"));
/// ```
#[derive(Debug, Clone)]
pub struct ServeConfig {
    model_path: PathBuf,
    model_id: Option<String>,
    host: IpAddr,
    port: u16,
    api_key: Option<ApiKey>,
    parallel: usize,
    queue: usize,
    threads: u32,
    context: u32,
    max_body_bytes: usize,
}

impl ServeConfig {
    /// Serves the GGUF model at `model_path` on 127.0.0.1:8080, without a key, one generation
    /// at a time with up to 16 requests waiting, 2 threads, a 4,096-token context.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        ServeConfig {
            model_path: model_path.into(),
            model_id: None,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8080,
            api_key: None,
            parallel: 1,
            queue: 16,
            threads: 2,
            context: 4096,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// The model's id in requests and in `/v1/models` (default: the file name without `.gguf`).
    /// Requests may also name the file itself.
    pub fn model_id(mut self, id: impl Into<String>) -> Self {
        self.model_id = Some(id.into());
        self
    }

    /// The address to listen on (default 127.0.0.1).
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = host;
        self
    }

    /// The port (default 8080; 0 picks a free one, see [`Server::local_addr`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Requires `Authorization: Bearer <key>` on `/v1/*`. The key is never logged.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Generations run at once (default 1; each takes `threads` CPU threads).
    pub fn parallel(mut self, n: usize) -> Self {
        self.parallel = n.max(1);
        self
    }

    /// Requests that may wait for a free slot (default 16); beyond that, `429`.
    pub fn queue(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }

    /// CPU threads per generation (default 2).
    pub fn threads(mut self, n: u32) -> Self {
        self.threads = n.max(1);
        self
    }

    /// The context size in tokens (default 4,096, capped at the model's training context).
    pub fn context(mut self, tokens: u32) -> Self {
        self.context = tokens;
        self
    }

    /// The largest request body (default [`DEFAULT_MAX_BODY_BYTES`]); larger bodies get `413`.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// The socket address it will listen on.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The GGUF model file.
    pub fn model_path(&self) -> &Path {
        &self.model_path
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The model could not be loaded.
    #[error("cannot load the model: {0}")]
    Model(#[from] EngineError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// A loaded model on a bound socket, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    address: SocketAddr,
    model_id: String,
}

impl Server {
    /// Loads the model and binds the address. Nothing is served until [`run`](Server::run).
    pub async fn bind(config: ServeConfig) -> Result<Server, ServeError> {
        let path = config.model_path.clone();
        let options = EngineOptions { threads: config.threads, context: config.context };
        let engine = tokio::task::spawn_blocking(move || Engine::load(&path, options))
            .await
            .map_err(|e| EngineError::Model(format!("the loading task failed: {e}")))??;
        Server::with_engine(engine, &config).await
    }

    /// Binds the address for an already loaded `engine` (its threads and context were set when
    /// it was loaded; `config`'s are ignored).
    pub async fn with_engine(engine: Engine, config: &ServeConfig) -> Result<Server, ServeError> {
        let wanted = config.address();
        let listener =
            TcpListener::bind(wanted).await.map_err(|source| ServeError::Bind { address: wanted, source })?;
        let address = listener.local_addr()?;
        let model_id = routes::model_id(&engine, config);
        let router = router(engine, config);
        Ok(Server { listener, router, address, model_id })
    }

    /// The address it listens on (the real port when the configured one was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// The id clients must name in `model`.
    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Serves until `shutdown` completes, then stops accepting connections and lets the
    /// requests in flight finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServeError> {
        tracing::info!(address = %self.address, model = %self.model_id, "serving");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Loads the model, binds, and serves until SIGINT or SIGTERM (see [`shutdown_signal`]).
///
/// ```no_run
/// # async fn run() -> Result<(), instructor_serve::ServeError> {
/// instructor_serve::serve(instructor_serve::ServeConfig::new("model.gguf")).await
/// # }
/// ```
pub async fn serve(config: ServeConfig) -> Result<(), ServeError> {
    Server::bind(config).await?.run(shutdown_signal()).await
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
