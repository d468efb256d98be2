//! `instructor`: typed extraction from the shell.
//!
//! Stdout carries only the answer (one JSON value, or one per line with `--stream`);
//! diagnostics go to stderr. Exit codes:
//! 0 ok, 2 usage or bad input, 3 no valid answer after re-asks, 4 provider or HTTP failure.

mod batch;
mod extract;
#[cfg(feature = "embedded")]
mod model;
#[cfg(feature = "embedded")]
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turn a language model's reply into a validated JSON value.
#[derive(Debug, Parser)]
#[command(name = "instructor", version, about, long_about = None)]
struct Cli {
    /// Log what happens to stderr (-v info, -vv debug); `INSTRUCTOR_LOG` takes a full filter.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Extract one JSON value that satisfies a JSON Schema from TEXT (or stdin).
    Extract(extract::ExtractArgs),
    /// Extract from every record of a file (JSON lines or CSV) into JSON lines: concurrent,
    /// rate-limited, resumable.
    Batch(batch::BatchArgs),
    /// Manage local models for the embedded engine.
    #[cfg(feature = "embedded")]
    Model(model::ModelArgs),
    /// Serve the embedded model over OpenAI's chat-completions and Responses APIs and Anthropic's
    /// Messages API.
    #[cfg(feature = "embedded")]
    Serve(serve::ServeArgs),
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// Usage or bad input: exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure { code: 2, message: message.into() }
    }

    /// Replies that did not validate: exit 3.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Failure { code: 3, message: message.into() }
    }

    /// A provider, network or engine failure: exit 4.
    #[cfg_attr(not(feature = "embedded"), allow(dead_code))]
    pub(crate) fn provider(message: impl Into<String>) -> Self {
        Failure { code: 4, message: message.into() }
    }
}

impl From<instructor::Error> for Failure {
    fn from(e: instructor::Error) -> Self {
        let code = if e.is_exhausted() || e.is_reply() || e.is_truncated() {
            3
        } else if e.is_provider() {
            4
        } else {
            2
        };
        Failure { code, message: e.to_string() }
    }
}

fn main() -> ExitCode {
    // A bug must still end in one line on stderr, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("instructor: internal error: {info}");
    }));
    let cli = Cli::parse();
    init_logging(cli.verbose);
    // One request at a time (`extract`, `model`) runs on one thread: a stream's chunks then go
    // from the connection to the printer without waking another thread for each (the stream
    // bench spent a quarter of its CPU in those switches). `batch` and `serve` run many at once.
    let mut builder = match cli.command {
        Command::Extract(_) => tokio::runtime::Builder::new_current_thread(),
        #[cfg(feature = "embedded")]
        Command::Model(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("instructor: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Extract(args) => extract::run(args).await,
            Command::Batch(args) => batch::run(args).await,
            #[cfg(feature = "embedded")]
            Command::Model(args) => model::run(args).await,
            #[cfg(feature = "embedded")]
            Command::Serve(args) => serve::run(args).await,
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("instructor: error: {}", one_line(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("INSTRUCTOR_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .init();
}
