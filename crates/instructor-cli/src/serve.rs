//! `instructor serve`: the embedded model behind the OpenAI chat-completions API.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use instructor_serve::{DEFAULT_MAX_BODY_BYTES, ServeConfig, Server, shutdown_signal};

use crate::Failure;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The port (0 picks a free one; the address is printed on stderr).
    #[arg(long, value_name = "PORT", default_value_t = 8080)]
    port: u16,
    /// Require the key on /v1/*, as `Authorization: Bearer KEY` or `x-api-key: KEY`.
    #[arg(long, value_name = "KEY", env = "INSTRUCTOR_SERVE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The GGUF model to serve (default: the cached default model, fetched on first use).
    #[arg(long, value_name = "FILE")]
    model_path: Option<PathBuf>,
    /// The model's id in requests and /v1/models (default: the file name without `.gguf`).
    #[arg(long, value_name = "ID")]
    model_id: Option<String>,
    /// Generations run at once (each uses --threads threads).
    #[arg(long, value_name = "N", default_value_t = 1)]
    parallel: usize,
    /// Requests that may wait for a free slot; beyond that the answer is 429.
    #[arg(long, value_name = "N", default_value_t = 16)]
    queue: usize,
    /// CPU threads per generation.
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: u32,
    /// Context size in tokens (capped at the model's training context).
    #[arg(long, value_name = "TOKENS", default_value_t = 4096)]
    context: u32,
    /// The largest request body; larger ones get 413.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), Failure> {
    let path = match args.model_path {
        Some(p) => p,
        None => crate::model::default_model().await?,
    };
    let mut config = ServeConfig::new(path)
        .host(args.host)
        .port(args.port)
        .parallel(args.parallel)
        .queue(args.queue)
        .threads(args.threads)
        .context(args.context)
        .max_body_bytes(args.max_body_bytes);
    if let Some(id) = args.model_id {
        config = config.model_id(id);
    }
    if let Some(key) = args.api_key.filter(|k| !k.is_empty()) {
        config = config.api_key(key);
    }
    let server = Server::bind(config).await.map_err(|e| Failure::usage(e.to_string()))?;
    eprintln!("instructor: serving {} at http://{}/v1 (Ctrl-C to stop)", server.model_id(), server.local_addr());
    server.run(shutdown_signal()).await.map_err(|e| Failure::provider(e.to_string()))?;
    eprintln!("instructor: stopped");
    Ok(())
}
