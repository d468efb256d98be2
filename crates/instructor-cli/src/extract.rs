//! `instructor extract`: one text in, one validated JSON value out.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use instructor::{
    ChatRequest, Client, Media, MediaKind, Mode, Part, PartialEvent, Preset, ResponseSchema, RetryPolicy,
};

use crate::Failure;

const DEFAULT_SYSTEM: &str = "You are a world class extractor";

#[derive(Debug, Args)]
pub(crate) struct ExtractArgs {
    /// The text to extract from; read from stdin when absent (and optional with --image/--file).
    text: Option<String>,
    /// A JSON Schema file describing the value to extract.
    #[arg(long, value_name = "FILE")]
    schema: PathBuf,
    /// An image to extract from: a file (its type read from its content) or an http(s) URL.
    /// Repeatable.
    #[arg(long, value_name = "FILE|URL")]
    image: Vec<String>,
    /// A PDF or audio file to extract from (its type read from its content), or an http(s) URL
    /// ending in its extension. Repeatable.
    #[arg(long, value_name = "FILE|URL")]
    file: Vec<String>,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Stream: print each partial value as one compact JSON line as it grows, the final value last.
    #[arg(long)]
    stream: bool,
    /// With --stream: extract a list, printing each item as one JSON line as soon as it is
    /// complete. --schema describes one item (or the whole array).
    #[arg(long, requires = "stream")]
    iter: bool,
    /// With --stream: at most one partial line per this many milliseconds (the final value is
    /// always printed), so the output stays linear in the reply however fast it streams.
    #[arg(long, value_name = "MS", default_value_t = 100, requires = "stream")]
    stream_interval: u64,
}

/// Where requests go and how they are asked: shared by `extract` and `batch`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// A known provider: openai, anthropic, gemini (or google), openai-responses, anyscale,
    /// together, groq, fireworks, mistral, deepseek, openrouter, ollama, vllm, llamacpp, lmstudio.
    #[arg(long, value_name = "NAME")]
    pub(crate) provider: Option<String>,
    /// Any OpenAI-compatible endpoint, e.g. http://localhost:8080/v1; with --provider, the
    /// provider's API at another host (a proxy or gateway).
    #[arg(long, value_name = "URL")]
    pub(crate) base_url: Option<String>,
    /// The environment variable holding the API key (default: the provider's, e.g. OPENAI_API_KEY).
    #[arg(long, value_name = "VAR")]
    pub(crate) api_key_env: Option<String>,
    /// The model; `provider/model` also picks the provider.
    #[arg(long)]
    pub(crate) model: Option<String>,
    /// How to ask for structured output (default: the provider's preferred mode).
    #[arg(long, value_parser = parse_mode)]
    pub(crate) mode: Option<Mode>,
    /// The system prompt.
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_SYSTEM)]
    pub(crate) system: String,
    /// Re-asks after a reply that does not validate.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub(crate) max_retries: u32,
    /// Seconds to wait for each HTTP request.
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub(crate) timeout: f64,
    /// Run this local GGUF model in-process instead of calling a provider.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["provider", "base_url"])]
    pub(crate) model_path: Option<PathBuf>,
    /// CPU threads for the embedded model.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) threads: u32,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

pub(crate) async fn run(args: ExtractArgs) -> Result<(), Failure> {
    let schema = load_schema(&args)?;
    let mut parts: Vec<Part> = Vec::new();
    for spec in &args.image {
        parts.push(media_arg(spec, None, Some(MediaKind::Image)).map_err(Failure::usage)?.into());
    }
    for spec in &args.file {
        parts.push(media_arg(spec, None, None).map_err(Failure::usage)?.into());
    }
    if let Some(text) = read_text(args.text.as_deref(), !parts.is_empty())? {
        parts.push(text.into());
    }
    let Connection { client, model, .. } = connect(&args.connect).await?;
    let request =
        ChatRequest::new(model).system(&args.connect.system).user(parts).max_retries(args.connect.max_retries);
    if args.iter {
        return stream_items(&client, request, schema).await;
    }
    if args.stream {
        return stream_partials(&client, request, schema, Duration::from_millis(args.stream_interval)).await;
    }
    let extraction = client.chat().create_value(request, &schema).await?;
    tracing::info!(
        attempts = extraction.attempts,
        prompt_tokens = extraction.usage.prompt_tokens,
        completion_tokens = extraction.usage.completion_tokens,
        "extracted"
    );
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, &extraction.value)
        .map_err(|e| Failure::usage(format!("cannot write the answer: {e}")))?;
    writeln!(stdout)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::usage(format!("cannot write the answer: {e}")))?;
    Ok(())
}

/// One compact JSON line on stdout, flushed, so a reader downstream sees it at once.
fn print_line(out: &mut impl Write, value: &serde_json::Value) -> Result<(), Failure> {
    serde_json::to_writer(&mut *out, value)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::usage(format!("cannot write the answer: {e}")))
}

/// `--stream`: NDJSON of the partial values, then the validated value. A partial is printed when
/// `interval` has passed since the last line; the others are dropped unread (a partial held
/// would be copied on the next update), so printing costs lines × size, not changes × size.
async fn stream_partials(
    client: &Client,
    request: ChatRequest,
    schema: ResponseSchema,
    interval: Duration,
) -> Result<(), Failure> {
    let stream = client.chat().create_partial_value(request, Arc::new(schema));
    let mut stream = std::pin::pin!(stream);
    let mut stdout = std::io::stdout().lock();
    let mut printed: Option<std::time::Instant> = None;
    while let Some(event) = stream.next().await {
        match event? {
            PartialEvent::Partial(partial) => {
                if printed.is_none_or(|at| at.elapsed() >= interval) {
                    print_line(&mut stdout, partial.json())?;
                    printed = Some(std::time::Instant::now());
                }
            }
            PartialEvent::Complete(extraction) => {
                tracing::info!(attempts = extraction.attempts, tokens = extraction.usage.total_tokens, "extracted");
                print_line(&mut stdout, &extraction.value)?;
            }
        }
    }
    Ok(())
}

/// `--stream --iter`: one line per item; an invalid item is reported on stderr and the rest go
/// on, and the exit status says that something was left out.
async fn stream_items(client: &Client, request: ChatRequest, item: ResponseSchema) -> Result<(), Failure> {
    let stream = client.chat().create_iterable_value(request, Arc::new(item));
    let mut stream = std::pin::pin!(stream);
    let mut stdout = std::io::stdout().lock();
    let mut invalid = 0usize;
    let mut items = 0usize;
    while let Some(item) = stream.next().await {
        match item {
            Ok(value) => {
                items += 1;
                print_line(&mut stdout, &value)?;
            }
            Err(e) if e.is_reply() => {
                invalid += 1;
                eprintln!("instructor: skipped an item: {e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    if invalid > 0 {
        return Err(Failure::invalid(format!("{invalid} of {} items did not validate", items + invalid)));
    }
    Ok(())
}

fn load_schema(args: &ExtractArgs) -> Result<ResponseSchema, Failure> {
    let value = read_schema(&args.schema)?;
    let value = if args.iter {
        item_schema(value)
    } else if args.connect.mode == Some(Mode::ParallelTools) {
        // One call per item: a schema for one item means a list of them.
        array_of(value)
    } else {
        value
    };
    ResponseSchema::from_json(value).map_err(|e| Failure::usage(format!("schema {}: {e}", args.schema.display())))
}

/// A JSON Schema file, as JSON.
pub(crate) fn read_schema(path: &std::path::Path) -> Result<serde_json::Value, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read schema {shown}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| Failure::usage(format!("schema {shown} is not JSON: {e}")))
}

/// A list of what `schema` describes (its definitions kept at the root), unless it is a list
/// already.
fn array_of(mut schema: serde_json::Value) -> serde_json::Value {
    if schema.get("type").and_then(|t| t.as_str()) == Some("array") {
        return schema;
    }
    let mut list = serde_json::json!({"type": "array"});
    if let Some(item) = schema.as_object_mut() {
        for key in ["$defs", "definitions", "$schema"] {
            if let Some(v) = item.remove(key) {
                list[key] = v;
            }
        }
        if let Some(title) = item.get("title").cloned() {
            list["title"] = serde_json::json!(format!("{} list", title.as_str().unwrap_or("item")));
        }
    }
    list["items"] = schema;
    list
}

/// For `--iter`: an array schema's items (keeping its definitions), or the schema itself.
fn item_schema(mut schema: serde_json::Value) -> serde_json::Value {
    if schema.get("type").and_then(|t| t.as_str()) != Some("array") {
        return schema;
    }
    let Some(root) = schema.as_object_mut() else { return schema };
    let Some(mut items) = root.remove("items").filter(|i| i.is_object()) else { return schema };
    if let Some(obj) = items.as_object_mut() {
        for defs in ["$defs", "definitions"] {
            if let Some(d) = root.remove(defs) {
                obj.insert(defs.into(), d);
            }
        }
    }
    items
}

/// The text: the argument, else stdin; none at all is fine when media carries the input.
fn read_text(arg: Option<&str>, has_media: bool) -> Result<Option<String>, Failure> {
    let text = match arg {
        Some(t) => t.to_owned(),
        None => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                if has_media {
                    return Ok(None);
                }
                return Err(Failure::usage("no text: pass TEXT or pipe it on stdin"));
            }
            let mut buf = String::new();
            stdin.read_to_string(&mut buf).map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
            buf
        }
    };
    if text.trim().is_empty() {
        if has_media {
            return Ok(None);
        }
        return Err(Failure::usage("no text: the input is empty"));
    }
    Ok(Some(text))
}

/// An image, PDF or audio from a command-line value or a record's field: an http(s) URL (its
/// kind from `expected`, else from its extension), or a file (relative to `base` when given;
/// its kind read from its content).
pub(crate) fn media_arg(spec: &str, base: Option<&Path>, expected: Option<MediaKind>) -> Result<Media, String> {
    let spec = spec.trim();
    if spec.starts_with("http://") || spec.starts_with("https://") {
        let path = spec.split(['?', '#']).next().unwrap_or(spec).to_ascii_lowercase();
        let by_extension = match path.rsplit('.').next().unwrap_or_default() {
            "png" | "jpg" | "jpeg" | "gif" | "webp" => Some(MediaKind::Image),
            "pdf" => Some(MediaKind::Pdf),
            "wav" | "mp3" | "flac" | "ogg" | "m4a" | "aac" => Some(MediaKind::Audio),
            _ => None,
        };
        let kind = expected.or(by_extension).ok_or_else(|| {
            format!(
                "{spec}: cannot tell an image, PDF or audio file from this URL; pass it with --image, or download it"
            )
        })?;
        return Media::from_url(kind, spec).map_err(|e| e.to_string());
    }
    let path = match base {
        Some(dir) if Path::new(spec).is_relative() => dir.join(spec),
        _ => PathBuf::from(spec),
    };
    let media = Media::from_path(&path).map_err(|e| e.to_string())?;
    match expected {
        Some(kind) if media.kind() != kind => {
            Err(format!("{}: expected {kind}, but it is {} ({})", path.display(), media.kind(), media.media_type()))
        }
        _ => Ok(media),
    }
}

/// Picks the endpoint, key, model and mode from the flags, the `provider/model` string and the
/// environment; with none of them (or with `--model-path`), the embedded model.
/// A client ready to use, the model to name in requests, and whether it runs in-process.
pub(crate) struct Connection {
    pub(crate) client: Client,
    pub(crate) model: String,
    /// The embedded engine: one generation at a time uses the CPU best.
    pub(crate) local: bool,
}

pub(crate) async fn connect(args: &ConnectArgs) -> Result<Connection, Failure> {
    let mut preset = args.provider.as_deref().map(str::parse::<Preset>).transpose().map_err(Failure::usage)?;
    let mut model = args.model.clone();
    if let (None, Some(m)) = (preset, args.model.as_deref()) {
        if let Some((p, rest)) = Preset::split_model(m) {
            preset = Some(p);
            model = Some(rest.to_owned());
        }
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if args.model_path.is_some() {
        return embedded(args).await;
    }
    if preset.is_none() && args.base_url.is_none() {
        if env(Preset::OpenAi.api_key_env()).is_some() {
            preset = Some(Preset::OpenAi);
        } else {
            return embedded(args).await;
        }
    }
    let key = match (&args.api_key_env, preset) {
        (Some(var), _) => env(var),
        (None, Some(p)) => p.api_key_envs().iter().find_map(|var| env(var)),
        (None, None) => None,
    };
    if let (Some(p), None, None) = (preset, &key, &args.base_url) {
        if p.requires_key() {
            return Err(Failure::usage(format!(
                "{} is not set: export your {} API key, or name another variable with --api-key-env",
                p.api_key_envs().join(" or "),
                p.name()
            )));
        }
    }
    if let (Some(var), None) = (&args.api_key_env, &key) {
        return Err(Failure::usage(format!("--api-key-env {var}: the variable is not set")));
    }
    let model = model
        .or_else(|| preset.and_then(Preset::default_model).map(str::to_owned))
        .ok_or_else(|| Failure::usage("--model is required for this endpoint"))?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(Failure::usage("--timeout must be a positive number of seconds"));
    }
    let mut builder =
        Client::builder().retry_policy(RetryPolicy::default().timeout(Duration::from_secs_f64(args.timeout)));
    if let Some(p) = preset {
        builder = builder.preset(p);
    }
    if let Some(url) = &args.base_url {
        builder = builder.base_url(url);
    }
    if let Some(key) = key {
        builder = builder.api_key(key);
    }
    if let Some(mode) = args.mode {
        builder = builder.mode(mode);
    }
    let client = builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    Ok(Connection { client, model, local: false })
}

/// The embedded model: `--model-path`, else the cached default (fetched on first use).
#[cfg(feature = "embedded")]
async fn embedded(args: &ConnectArgs) -> Result<Connection, Failure> {
    use instructor_engine::{Engine, EngineOptions};
    let path = match &args.model_path {
        Some(p) => p.clone(),
        None => crate::model::default_model().await?,
    };
    let options = EngineOptions { threads: args.threads.max(1), ..EngineOptions::default() };
    let engine = tokio::task::spawn_blocking(move || Engine::load(&path, options))
        .await
        .map_err(|e| Failure::usage(format!("cannot load the model: {e}")))?
        .map_err(|e| Failure::usage(e.to_string()))?;
    let name = engine.name().to_owned();
    let client = Client::with_provider(engine).with_mode(args.mode.unwrap_or(Mode::JsonSchema));
    Ok(Connection { client, model: args.model.clone().unwrap_or(name), local: true })
}

#[cfg(not(feature = "embedded"))]
async fn embedded(_: &ConnectArgs) -> Result<Connection, Failure> {
    Err(Failure::usage(
        "no provider configured: pass --provider NAME or --base-url URL, or set OPENAI_API_KEY \
         (this build has no embedded model)",
    ))
}
