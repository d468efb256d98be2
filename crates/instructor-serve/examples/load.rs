//! A bounded load test for a server on loopback: N requests at C concurrent, each the seed
//! extraction with a small `max_tokens`, in one of three dialects (`--dialect chat` for chat
//! completions, `responses` for OpenAI's Responses API, `messages` for Anthropic's); prints one
//! JSON line with latency percentiles, throughput and failure counts. `scripts/bench-serve.sh`
//! runs it against `instructor serve` (every dialect) and llama-cpp-python's server in one run.
//!
//! ```sh
//! cargo run --release -p instructor-serve --example load -- \
//!   --url http://127.0.0.1:8080/v1 --model SmolLM2-135M-Instruct.Q4_1 \
//!   --requests 200 --concurrency 8 --max-tokens 16 --format schema --label ours
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Options {
    url: String,
    model: String,
    requests: usize,
    concurrency: usize,
    max_tokens: u32,
    format: String,
    label: String,
    dialect: String,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        url: "http://127.0.0.1:8080/v1".into(),
        model: "SmolLM2-135M-Instruct.Q4_1".into(),
        requests: 200,
        concurrency: 8,
        max_tokens: 16,
        format: "schema".into(),
        label: "server".into(),
        dialect: "chat".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => o.url = value,
            "--model" => o.model = value,
            "--requests" => o.requests = number(&value)?,
            "--concurrency" => o.concurrency = number(&value)?.max(1),
            "--max-tokens" => o.max_tokens = number(&value)? as u32,
            "--format" => o.format = value,
            "--label" => o.label = value,
            "--dialect" => o.dialect = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(o)
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    })
}

/// The path and body of the seed extraction in `o.dialect`.
fn request(o: &Options) -> Result<(&'static str, Value), String> {
    let system = "You are a world class extractor";
    let user = "Extract the following entities: \"Jason is 20\"";
    let constrained = o.format == "schema";
    match o.dialect.as_str() {
        "chat" => Ok(("/chat/completions", body(o))),
        "responses" => {
            let mut body = json!({"model": o.model, "instructions": system, "input": user,
                                  "max_output_tokens": o.max_tokens, "temperature": 0, "store": false});
            if constrained {
                body["text"] = json!({"format": {"type": "json_schema", "name": "UserDetails", "schema": schema()}});
            }
            Ok(("/responses", body))
        }
        "messages" => {
            let mut body = json!({"model": o.model, "system": system, "max_tokens": o.max_tokens,
                                  "messages": [{"role": "user", "content": user}]});
            if constrained {
                body["output_config"] = json!({"format": {"type": "json_schema", "schema": schema()}});
            }
            Ok(("/messages", body))
        }
        other => Err(format!("unknown dialect {other} (chat, responses, messages)")),
    }
}

/// Reply tokens, as each dialect reports them.
fn completion_tokens(reply: &Value) -> u64 {
    let usage = &reply["usage"];
    usage["completion_tokens"].as_u64().or(usage["output_tokens"].as_u64()).unwrap_or(0)
}

fn body(o: &Options) -> Value {
    let mut body = json!({
        "model": o.model,
        "messages": [
            {"role": "system", "content": "You are a world class extractor"},
            {"role": "user", "content": "Extract the following entities: \"Jason is 20\""},
        ],
        "max_tokens": o.max_tokens,
        "temperature": 0,
    });
    if o.format == "schema" {
        body["response_format"] = json!({"type": "json_object", "schema": schema()});
    }
    body
}

#[derive(Debug, Default)]
struct Tally {
    latencies: Vec<Duration>,
    ok: usize,
    status_429: usize,
    status_503: usize,
    other_4xx: usize,
    status_5xx: usize,
    transport: usize,
    completion_tokens: u64,
}

#[tokio::main]
async fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(300)).build().expect("an HTTP client");
    let (path, payload) = match request(&o) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let url = format!("{}{path}", o.url.trim_end_matches('/'));
    let payload = payload.to_string();
    // One warm-up request (grammar caches, first context).
    http.post(&url).header("content-type", "application/json").body(payload.clone()).send().await.ok();

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..o.concurrency)
        .map(|_| {
            let (http, url, payload, next, total) =
                (http.clone(), url.clone(), payload.clone(), Arc::clone(&next), o.requests);
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let sent = Instant::now();
                    let result =
                        http.post(&url).header("content-type", "application/json").body(payload.clone()).send().await;
                    let response = match result {
                        Ok(r) => r,
                        Err(_) => {
                            tally.transport += 1;
                            continue;
                        }
                    };
                    let status = response.status().as_u16();
                    let text = response.text().await;
                    let elapsed = sent.elapsed();
                    match (status, text) {
                        (200, Ok(text)) => {
                            tally.ok += 1;
                            tally.latencies.push(elapsed);
                            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                            tally.completion_tokens += completion_tokens(&v);
                        }
                        (200, Err(_)) => tally.transport += 1,
                        (429, _) => tally.status_429 += 1,
                        (503, _) => tally.status_503 += 1,
                        (400..=499, _) => tally.other_4xx += 1,
                        _ => tally.status_5xx += 1,
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for worker in workers {
        let t = worker.await.expect("a worker");
        all.latencies.extend(t.latencies);
        all.ok += t.ok;
        all.status_429 += t.status_429;
        all.status_503 += t.status_503;
        all.other_4xx += t.other_4xx;
        all.status_5xx += t.status_5xx;
        all.transport += t.transport;
        all.completion_tokens += t.completion_tokens;
    }
    let wall = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let pct = |p: f64| -> f64 {
        if all.latencies.is_empty() {
            return 0.0;
        }
        let i = ((p / 100.0) * all.latencies.len() as f64).ceil() as usize;
        all.latencies[i.clamp(1, all.latencies.len()) - 1].as_secs_f64() * 1000.0
    };
    let summary = json!({
        "label": o.label,
        "dialect": o.dialect,
        "format": o.format,
        "requests": o.requests,
        "concurrency": o.concurrency,
        "max_tokens": o.max_tokens,
        "ok": all.ok,
        "failures": o.requests - all.ok,
        "status_429": all.status_429,
        "status_503": all.status_503,
        "other_4xx": all.other_4xx,
        "status_5xx": all.status_5xx,
        "transport_errors": all.transport,
        "p50_ms": pct(50.0),
        "p90_ms": pct(90.0),
        "p99_ms": pct(99.0),
        "max_ms": pct(100.0),
        "wall_s": wall,
        "throughput_rps": all.ok as f64 / wall,
        "completion_tokens_per_s": all.completion_tokens as f64 / wall,
    });
    println!("{summary}");
}
