//! `instructor batch`: one schema over a file of records, concurrent, rate-limited, resumable
//! and safe to kill at any moment.
//!
//! The output is JSON lines, one per record id, each written whole with a single `write` and
//! flushed. On start the output is read back: a torn last line (a kill mid-write) is cut off,
//! and ids already there are skipped, so re-running the same command resumes the job and no id
//! is ever written twice. `--retry-failed` drops the error lines first, rewriting the file
//! atomically (temporary file + rename), then redoes those records.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use futures_util::StreamExt;
use instructor::{BatchItem, BatchOptions, ChatRequest, Error, Media, Part, RemoteBatchOptions, ResponseSchema};
use serde_json::{Map, Value, json};

use crate::Failure;
use crate::extract::{ConnectArgs, Connection, connect, media_arg, read_schema};

#[derive(Debug, Args)]
pub(crate) struct BatchArgs {
    /// Records to extract from: JSON lines (one object per line) or CSV with a header row.
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Where results go, one JSON line per record; an existing file is resumed.
    #[arg(long, value_name = "FILE")]
    output: PathBuf,
    /// The input's format (default: by extension; `.csv` is CSV, anything else JSON lines).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// A JSON Schema file describing the value to extract from each record.
    #[arg(long, value_name = "FILE")]
    schema: PathBuf,
    #[command(flatten)]
    connect: ConnectArgs,
    /// Records in flight at once (default 16; 1 on the embedded model, which uses every thread
    /// it is given for one generation).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// At most N requests per minute.
    #[arg(long, value_name = "N")]
    rpm: Option<u32>,
    /// At most N tokens per minute.
    #[arg(long, value_name = "N")]
    tpm: Option<u32>,
    /// The user message, a minijinja template over the record's fields (default: the `text` field).
    #[arg(long, value_name = "TEMPLATE")]
    prompt: Option<String>,
    /// The field holding each record's id (records without it are numbered by line).
    #[arg(long, value_name = "NAME", default_value = "id")]
    id_field: String,
    /// Redo the records whose output line holds an error.
    #[arg(long)]
    retry_failed: bool,
    /// No progress bar and no summary.
    #[arg(long, short)]
    quiet: bool,
    /// Submit the records through the provider's Batch API (OpenAI's `/files` + `/batches`, or
    /// Anthropic's Message Batches), wait for the batch, and validate every result; no re-asks
    /// (rerun failed records live with --retry-failed).
    #[arg(long)]
    remote: bool,
    /// With --remote: seconds between status checks.
    #[arg(long, value_name = "SECS", default_value_t = 30.0, requires = "remote")]
    poll_secs: f64,
    /// A field holding an image, PDF or audio file for the record: a path (relative to the
    /// input file) or an http(s) URL. Repeatable; a record without the field has no media from
    /// it, and a file that cannot be read is that record's input error.
    #[arg(long, value_name = "FIELD")]
    media_field: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

pub(crate) async fn run(args: BatchArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let schema = Arc::new(
        ResponseSchema::from_json(read_schema(&args.schema)?)
            .map_err(|e| Failure::usage(format!("schema {}: {e}", args.schema.display())))?,
    );
    let format = args.format.unwrap_or_else(|| {
        let csv = args.input.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        if csv { Format::Csv } else { Format::Jsonl }
    });
    let prompt = Prompt::new(args.prompt.as_deref())?;
    let input = File::open(&args.input)
        .map_err(|e| Failure::usage(format!("cannot read input {}: {e}", args.input.display())))?;
    let done = resume(&args.output, args.retry_failed)?;
    let total = count_records(&args.input, format)?;
    let Connection { client, model, local } = connect(&args.connect).await?;
    let output = Output::open(&args.output)?;
    let progress = Progress::new(total, done.len(), args.quiet);

    let records = Records::new(input, format, &args.id_field)?;
    let request_for = {
        let system = args.connect.system.clone();
        let max_retries = args.connect.max_retries;
        move |parts: Vec<Part>| {
            ChatRequest::new(model.clone()).system(system.clone()).user(parts).max_retries(max_retries)
        }
    };
    let media_fields = args.media_field.clone();
    let media_base = args.input.parent().map(Path::to_path_buf).unwrap_or_default();
    // Records that cannot become a request (bad line, missing field) are answered at once with
    // an error line; every other record goes to the batch.
    let mut seen: HashSet<String> = done;
    let skipped_output = output.clone();
    let skipped_progress = progress.clone();
    let jobs = records.filter_map(move |record| {
        let id = record.id.clone();
        if !seen.insert(id.clone()) {
            return None;
        }
        let fields = match record.fields {
            Ok(fields) => fields,
            Err(message) => {
                let line = error_line(&id, "input", &message, 0, None);
                skipped_progress.record(false, 0);
                skipped_output.write_line(&line);
                return None;
            }
        };
        let media = match record_media(&fields, &media_fields, &media_base) {
            Ok(media) => media,
            Err(message) => {
                skipped_progress.record(false, 0);
                skipped_output.write_line(&error_line(&id, "input", &message, 0, None));
                return None;
            }
        };
        match prompt.render(&fields, !media.is_empty()) {
            Ok(text) => {
                let mut parts: Vec<Part> = media.into_iter().map(Part::from).collect();
                parts.extend(text.map(Part::from));
                Some((id, request_for(parts)))
            }
            Err(message) => {
                skipped_progress.record(false, 0);
                skipped_output.write_line(&error_line(&id, "input", &message, 0, None));
                None
            }
        }
    });

    let concurrency = args.concurrency.unwrap_or(if local { 1 } else { 16 });
    let options = BatchOptions::default().concurrency(concurrency.max(1));
    let options = match args.rpm {
        Some(rpm) => options.requests_per_minute(rpm),
        None => options,
    };
    let options = match args.tpm {
        Some(tpm) => options.tokens_per_minute(tpm),
        None => options,
    };
    let mut tokens = Tokens::default();
    let mut results: std::pin::Pin<Box<dyn futures_util::Stream<Item = BatchItem<Value>> + Send>> = if args.remote {
        if !(args.poll_secs.is_finite() && args.poll_secs >= 0.0) {
            return Err(Failure::usage("--poll-secs must be a number of seconds"));
        }
        let jobs: Vec<(String, ChatRequest)> = jobs.collect();
        let remote = RemoteBatchOptions::default().poll_interval(Duration::from_secs_f64(args.poll_secs));
        let items = client.batch_remote_values(jobs, schema, remote).await?;
        Box::pin(futures_util::stream::iter(items))
    } else {
        Box::pin(client.batch_values(jobs, schema, options))
    };
    while let Some(item) = results.next().await {
        let (line, ok, attempts) = result_line(&item, &mut tokens);
        output.write_line(&line);
        progress.record(ok, attempts.saturating_sub(1));
        if let Some(e) = output.take_error() {
            return Err(Failure::usage(format!("cannot write {}: {e}", args.output.display())));
        }
    }
    output.sync();
    if let Some(e) = output.take_error() {
        return Err(Failure::usage(format!("cannot write {}: {e}", args.output.display())));
    }
    progress.finish();
    let summary = progress.summary(&tokens, &args.connect.model, started.elapsed());
    if !args.quiet {
        eprintln!("{summary}");
    }
    if progress.failed() > 0 {
        return Err(Failure::invalid(format!("{} records failed (see their error lines)", progress.failed())));
    }
    Ok(())
}

/// Reads what an earlier run wrote: cuts a torn last line, and returns the ids already done.
/// With `retry_failed`, error lines are removed (atomically) so those records run again.
fn resume(path: &Path, retry_failed: bool) -> Result<HashSet<String>, Failure> {
    let fail = |e: std::io::Error| Failure::usage(format!("cannot resume {}: {e}", path.display()));
    let mut done = HashSet::new();
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(fail(e)),
    };
    let mut good_end = 0u64;
    let mut kept: Vec<String> = Vec::new();
    let mut dropped = 0usize;
    {
        let mut reader = BufReader::new(&mut file);
        let mut line = String::new();
        let mut offset = 0u64;
        loop {
            line.clear();
            let n = reader.read_line(&mut line).map_err(fail)?;
            if n == 0 {
                break;
            }
            offset += n as u64;
            // A line without its newline, or that is not a whole result, was cut by a kill.
            let parsed = serde_json::from_str::<Value>(line.trim_end()).ok();
            let id = parsed.as_ref().and_then(|v| v.get("id")).and_then(Value::as_str).map(str::to_owned);
            let (Some(id), true) = (id, line.ends_with('\n')) else { break };
            good_end = offset;
            let failed = parsed.as_ref().is_some_and(|v| v.get("error").is_some());
            if retry_failed && failed {
                dropped += 1;
                continue;
            }
            if done.insert(id) && retry_failed {
                kept.push(line.clone());
            }
        }
    }
    let length = file.seek(SeekFrom::End(0)).map_err(fail)?;
    if good_end < length {
        tracing::warn!(bytes = length - good_end, "cutting a torn last line from the output");
        file.set_len(good_end).map_err(fail)?;
        file.sync_all().map_err(fail)?;
    }
    if retry_failed && dropped > 0 {
        // The kept lines go to a temporary file that replaces the output in one rename: a kill
        // leaves either the old file or the new one, never a mix.
        let temporary = path.with_extension("retry-tmp");
        let mut out = File::create(&temporary).map_err(fail)?;
        for line in &kept {
            out.write_all(line.as_bytes()).map_err(fail)?;
        }
        out.sync_all().map_err(fail)?;
        std::fs::rename(&temporary, path).map_err(fail)?;
    }
    Ok(done)
}

/// The output file, appended to by whole lines.
#[derive(Clone)]
struct Output {
    file: Arc<Mutex<(File, Option<std::io::Error>)>>,
}

impl Output {
    fn open(path: &Path) -> Result<Output, Failure> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Failure::usage(format!("cannot open output {}: {e}", path.display())))?;
        Ok(Output { file: Arc::new(Mutex::new((file, None))) })
    }

    /// Writes one line with a single `write` (the file is unbuffered), so that it reaches the
    /// operating system whole or, if the process dies inside the call, torn at the end only.
    fn write_line(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1.is_none() {
            if let Err(e) = guard.0.write_all(&bytes) {
                guard.1 = Some(e);
            }
        }
    }

    fn sync(&self) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = guard.0.sync_all() {
            guard.1.get_or_insert(e);
        }
    }

    fn take_error(&self) -> Option<std::io::Error> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).1.take()
    }
}

#[derive(Debug, Default)]
struct Tokens {
    prompt: u64,
    completion: u64,
}

impl Tokens {
    fn total(&self) -> u64 {
        self.prompt + self.completion
    }
}

/// The output line for a finished record; also whether it succeeded and how many requests it took.
fn result_line(item: &BatchItem<Value>, tokens: &mut Tokens) -> (String, bool, u32) {
    match &item.result {
        Ok(extraction) => {
            tokens.prompt += extraction.usage.prompt_tokens;
            tokens.completion += extraction.usage.completion_tokens;
            let line = json!({
                "id": item.id,
                "value": extraction.value,
                "attempts": extraction.attempts,
                "usage": usage_json(&extraction.usage),
            });
            (line.to_string(), true, extraction.attempts)
        }
        Err(e) => {
            let usage = e.usage();
            tokens.prompt += usage.prompt_tokens;
            tokens.completion += usage.completion_tokens;
            let attempts = match e {
                Error::Exhausted(x) => x.attempts.len() as u32,
                _ => 1,
            };
            (error_line(&item.id, error_kind(e), &e.to_string(), attempts, Some(usage)), false, attempts)
        }
    }
}

fn usage_json(usage: &instructor::Usage) -> Value {
    json!({"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": usage.total_tokens})
}

fn error_line(id: &str, kind: &str, message: &str, attempts: u32, usage: Option<instructor::Usage>) -> String {
    json!({
        "id": id,
        "error": {"kind": kind, "message": message},
        "attempts": attempts,
        "usage": usage_json(&usage.unwrap_or_default()),
    })
    .to_string()
}

fn error_kind(e: &Error) -> &'static str {
    if e.is_exhausted() {
        "invalid"
    } else if e.is_truncated() {
        "truncated"
    } else if e.is_status() {
        "status"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_provider() {
        "provider"
    } else {
        "request"
    }
}

/// One input record: its id and its fields (or why it has none).
struct Record {
    id: String,
    fields: Result<Map<String, Value>, String>,
}

/// Records read lazily from the input, so a huge file is never held in memory.
enum Records {
    Jsonl { lines: std::io::Lines<BufReader<File>>, number: usize, id_field: String },
    Csv { rows: csv::StringRecordsIntoIter<File>, headers: Vec<String>, number: usize, id_field: String },
}

impl Records {
    fn new(file: File, format: Format, id_field: &str) -> Result<Records, Failure> {
        let id_field = id_field.to_owned();
        Ok(match format {
            Format::Jsonl => Records::Jsonl { lines: BufReader::new(file).lines(), number: 0, id_field },
            Format::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
                let headers = reader
                    .headers()
                    .map_err(|e| Failure::usage(format!("cannot read the CSV header: {e}")))?
                    .iter()
                    .map(str::to_owned)
                    .collect();
                Records::Csv { rows: reader.into_records(), headers, number: 0, id_field }
            }
        })
    }
}

/// The media a record names in `fields`; absent or null fields name none.
fn record_media(record: &Map<String, Value>, fields: &[String], base: &Path) -> Result<Vec<Media>, String> {
    let mut media = Vec::new();
    for field in fields {
        match record.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(spec)) if spec.trim().is_empty() => {}
            Some(Value::String(spec)) => {
                media.push(media_arg(spec, Some(base), None).map_err(|e| format!("{field}: {e}"))?)
            }
            Some(other) => return Err(format!("{field}: expected a path or URL, got {other}")),
        }
    }
    Ok(media)
}

fn record_id(fields: &Map<String, Value>, id_field: &str, number: usize) -> String {
    match fields.get(id_field) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => number.to_string(),
    }
}

impl Iterator for Records {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        match self {
            Records::Jsonl { lines, number, id_field } => loop {
                let line = lines.next()?;
                *number += 1;
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        return Some(Record { id: number.to_string(), fields: Err(format!("unreadable line: {e}")) });
                    }
                };
                if line.trim().is_empty() {
                    continue;
                }
                return Some(match serde_json::from_str::<Value>(&line) {
                    Ok(Value::Object(fields)) => {
                        Record { id: record_id(&fields, id_field, *number), fields: Ok(fields) }
                    }
                    Ok(_) => Record { id: number.to_string(), fields: Err("the line is not a JSON object".into()) },
                    Err(e) => Record { id: number.to_string(), fields: Err(format!("the line is not JSON: {e}")) },
                });
            },
            Records::Csv { rows, headers, number, id_field } => {
                let row = rows.next()?;
                *number += 1;
                Some(match row {
                    Ok(row) => {
                        let fields: Map<String, Value> =
                            headers.iter().cloned().zip(row.iter().map(|v| Value::String(v.to_owned()))).collect();
                        Record { id: record_id(&fields, id_field, *number), fields: Ok(fields) }
                    }
                    Err(e) => Record { id: number.to_string(), fields: Err(format!("unreadable CSV row: {e}")) },
                })
            }
        }
    }
}

/// How many records the input holds (for the progress bar), by a quick pass over it.
fn count_records(path: &Path, format: Format) -> Result<u64, Failure> {
    let file = File::open(path).map_err(|e| Failure::usage(format!("cannot read input {}: {e}", path.display())))?;
    Ok(match format {
        Format::Jsonl => {
            BufReader::new(file).lines().map_while(Result::ok).filter(|l| !l.trim().is_empty()).count() as u64
        }
        Format::Csv => csv::ReaderBuilder::new().flexible(true).from_reader(file).into_records().count() as u64,
    })
}

/// The user message of each record.
struct Prompt {
    env: minijinja::Environment<'static>,
    /// No --prompt: the record's `text` field.
    default: bool,
}

impl Prompt {
    fn new(template: Option<&str>) -> Result<Prompt, Failure> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let default = template.is_none();
        let template = template.unwrap_or("{{ text }}").to_owned();
        env.add_template_owned("prompt", template).map_err(|e| Failure::usage(format!("--prompt: {e}")))?;
        Ok(Prompt { env, default })
    }

    /// The record's text; with media, a record may have none (no `text` field, an empty prompt).
    fn render(&self, fields: &Map<String, Value>, has_media: bool) -> Result<Option<String>, String> {
        let template = self.env.get_template("prompt").map_err(|e| e.to_string())?;
        let text = match template.render(minijinja::Value::from(minijinja::value::Serde(fields))) {
            Ok(text) => text,
            Err(_) if has_media && self.default => return Ok(None),
            Err(e) => return Err(format!("the prompt does not render for this record: {e}")),
        };
        if text.trim().is_empty() {
            return if has_media { Ok(None) } else { Err("the prompt is empty for this record".into()) };
        }
        Ok(Some(text))
    }
}

/// The progress bar and the counts behind the summary.
#[derive(Clone)]
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    counts: Arc<Mutex<Counts>>,
}

#[derive(Debug, Default)]
struct Counts {
    ok: u64,
    failed: u64,
    reasks: u64,
    resumed: u64,
}

/// A rate as people read it: `185/s`, `4.2/s` below ten, `0.35/s` below one.
fn rate(per_sec: f64) -> String {
    match per_sec {
        r if !r.is_finite() || r <= 0.0 => "-/s".to_owned(),
        r if r >= 10.0 => format!("{r:.0}/s"),
        r if r >= 1.0 => format!("{r:.1}/s"),
        r => format!("{r:.2}/s"),
    }
}

impl Progress {
    fn new(total: u64, resumed: usize, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} records  {rate}  ETA {eta}  {msg}")
                    .map(|style| {
                        style.with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                            w.write_str(&rate(state.per_sec())).ok();
                        })
                    })
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_position(resumed as u64);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, counts: Arc::new(Mutex::new(Counts { resumed: resumed as u64, ..Counts::default() })) }
    }

    fn record(&self, ok: bool, reasks: u32) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if ok {
            counts.ok += 1;
        } else {
            counts.failed += 1;
        }
        counts.reasks += u64::from(reasks);
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} failed", counts.failed));
        }
    }

    fn failed(&self) -> u64 {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).failed
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn summary(&self, tokens: &Tokens, model: &Option<String>, wall: Duration) -> String {
        let c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let done = c.ok + c.failed;
        let rate_per_sec = if wall.as_secs_f64() > 0.0 { done as f64 / wall.as_secs_f64() } else { 0.0 };
        let cost = model.as_deref().and_then(price_per_million).map_or(String::new(), |(input, output)| {
            let dollars = tokens.prompt as f64 * input / 1e6 + tokens.completion as f64 * output / 1e6;
            format!(", estimated cost ${dollars:.4}")
        });
        format!(
            "instructor: batch done: {} ok, {} failed, {} re-asks, {} resumed from an earlier run; \
             {} tokens ({} prompt + {} completion){cost}; {:.1?} wall, {} records/s",
            c.ok,
            c.failed,
            c.reasks,
            c.resumed,
            tokens.total(),
            tokens.prompt,
            tokens.completion,
            wall,
            rate(rate_per_sec).trim_end_matches("/s"),
        )
    }
}

/// US dollars per million prompt and completion tokens, for models whose public price is known.
fn price_per_million(model: &str) -> Option<(f64, f64)> {
    let model = model.rsplit('/').next().unwrap_or(model);
    let table: &[(&str, f64, f64)] = &[
        ("gpt-4o-mini", 0.15, 0.60),
        ("gpt-4o", 2.50, 10.00),
        ("gpt-4.1-nano", 0.10, 0.40),
        ("gpt-4.1-mini", 0.40, 1.60),
        ("gpt-4.1", 2.00, 8.00),
        ("gpt-3.5-turbo", 0.50, 1.50),
        ("Mixtral-8x7B-Instruct-v0.1", 0.50, 0.50),
    ];
    table.iter().find(|(name, _, _)| model.starts_with(name)).map(|(_, i, o)| (*i, *o))
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn rates_read_as_people_read_them() {
        assert_eq!(rate(185.0061), "185/s");
        assert_eq!(rate(4.237), "4.2/s");
        assert_eq!(rate(0.347), "0.35/s");
        assert_eq!(rate(0.0), "-/s");
    }
}
