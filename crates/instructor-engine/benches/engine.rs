//! The embedded engine's speed, as one side of `scripts/bench-engine.sh` (the other side is
//! llama-cpp-python on the same GGUF, prompt and thread count, in the same run).
//!
//! Prints one JSON object: prefill time for the prompt, decode tokens/s without and with a
//! JSON Schema constraint, time to first token, and peak RSS. `BENCH_PROMPT_OUT=FILE` also
//! writes the templated prompts, so the other side uses exactly the same text.
//!
//! `BENCH_LLAMA_SERVER=URL` (a `llama-server` on the same GGUF and thread count) pairs each of
//! our runs with one of the server's, made right before or after it (the order alternating, with
//! a pause between): its unconstrained decode and its prefill, timed by the server itself. This
//! VM's speed drifts by tens of percent over minutes; a ratio taken from two measurements seconds
//! apart moves far less than one from two rounds.

use std::time::Duration;

use instructor_engine::{Constraint, Engine, EngineOptions, Sampling, store};
use serde_json::json;

const RUNS: usize = 5;

fn main() {
    let path = std::env::var("BENCH_MODEL").map(Into::into).unwrap_or_else(|_| store::default_model_path());
    let threads = std::env::var("BENCH_THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(2);
    let engine = Engine::load(&path, EngineOptions { threads, ..EngineOptions::default() }).expect("model loads");

    // ~50 prompt tokens once templated.
    let short = engine
        .prompt(&[
            ("system".into(), "You are a world class extractor. Answer with the requested JSON only.".into()),
            (
                "user".into(),
                r#"Extract the following entities: "Jason is 20 and lives in Oslo with his sister Ann""#.into(),
            ),
        ])
        .expect("prompt");
    let story = engine
        .prompt(&[("user".into(), "Write a long, detailed story about a dragon who learns to bake bread.".into())])
        .expect("prompt");
    // The same system prompt and instruction with other texts: what serving and batches send.
    let texts = [
        "Jason is 20 and lives in Oslo with his sister Ann",
        "Maria turned 34 last week and moved to Lisbon for work",
        "Tom, aged 51, works as a baker in Leeds with his son Sam",
        "Priya is 28 and studies physics in Delhi near her parents",
        "Ken is 45 and runs a small shop in Osaka with his wife",
        "Ola (63) retired to a farm near Bergen with three dogs",
    ];
    let shared: Vec<String> = texts
        .iter()
        .map(|t| {
            engine
                .prompt(&[
                    ("system".into(), "You are a world class extractor. Answer with the requested JSON only.".into()),
                    ("user".into(), format!(r#"Extract the following entities: "{t}""#)),
                ])
                .expect("prompt")
        })
        .collect();
    if let Ok(out) = std::env::var("BENCH_PROMPT_OUT") {
        std::fs::write(&out, json!({"short": short, "story": story, "shared": shared}).to_string())
            .expect("write prompts");
    }
    let schema = json!({
        "type": "object",
        "properties": {
            "people": {
                "type": "array", "minItems": 12, "maxItems": 12,
                "items": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}, "city": {"type": "string", "maxLength": 12}}, "required": ["name", "age", "city"]}
            }
        },
        "required": ["people"]
    });
    let free = Sampling { max_tokens: Some(128), ..Sampling::default() };
    let constrained = Sampling { max_tokens: Some(400), ..Sampling::default() };

    let _warm =
        engine.generate(&short, &Constraint::None, &Sampling { max_tokens: Some(8), ..Sampling::default() }, None);
    let mut prefill = Vec::new();
    let mut first_token = Vec::new();
    let mut first_token_constrained = Vec::new();
    let mut decode_free = Vec::new();
    let mut decode_constrained = Vec::new();
    let mut prompt_tokens = 0;
    let mut first_token_shared = Vec::new();
    // Each side's threads may still spin for work a moment after it finishes: a pause lets them
    // sleep before the other side is timed.
    let settle = || std::thread::sleep(Duration::from_millis(500));
    let server =
        std::env::var("BENCH_LLAMA_SERVER").ok().filter(|url| !url.is_empty()).map(|url| LlamaServer::new(&url));
    let mut paired_decode = Vec::new();
    let mut paired_constrained = Vec::new();
    let mut paired_prefill = Vec::new();
    if let Some(server) = &server {
        server.completion(&short, 8);
        settle();
    }
    // The server's figures for a run, measured before ours in odd runs and after in even ones.
    let peer = |server: &LlamaServer| {
        settle();
        let prefill = server.completion(&short, 1)["prompt_ms"].as_f64().expect("prompt_ms");
        let decode = server.completion(&story, 128)["predicted_per_second"].as_f64().expect("tok/s");
        settle();
        (prefill, decode)
    };
    for run in 0..RUNS {
        let before = server.as_ref().filter(|_| run % 2 == 1).map(peer);
        // Cold: nothing cached, the whole prompt evaluated (as llama-cpp-python after `reset()`).
        engine.clear_cache();
        let g = engine
            .generate(&short, &Constraint::None, &Sampling { max_tokens: Some(1), ..Sampling::default() }, None)
            .expect("gen");
        prefill.push(ms(g.prompt_time));
        first_token.push(ms(g.first_token_time));
        prompt_tokens = g.prompt_tokens;
        engine.clear_cache();
        let g = engine
            .generate(
                &short,
                &Constraint::JsonSchema(schema.clone()),
                &Sampling { max_tokens: Some(1), ..Sampling::default() },
                None,
            )
            .expect("gen");
        first_token_constrained.push(ms(g.first_token_time));
        // Warm: an earlier request with the same system prompt and instruction, then a new text.
        engine.clear_cache();
        let one = Sampling { max_tokens: Some(1), ..Sampling::default() };
        engine.generate(&shared[0], &Constraint::None, &one, None).expect("gen");
        let g = engine
            .generate(&shared[1 + run % (shared.len() - 1)], &Constraint::JsonSchema(schema.clone()), &one, None)
            .expect("gen");
        first_token_shared.push(ms(g.first_token_time));
        engine.clear_cache();
        let g = engine.generate(&story, &Constraint::None, &free, None).expect("gen");
        decode_free.push(g.tokens_per_second());
        engine.clear_cache();
        let g = engine.generate(&short, &Constraint::JsonSchema(schema.clone()), &constrained, None).expect("gen");
        assert!(serde_json::from_str::<serde_json::Value>(&g.text).is_ok(), "constrained output is JSON: {}", g.text);
        decode_constrained.push(g.tokens_per_second());
        let after = server.as_ref().filter(|_| run % 2 == 0).map(peer);
        if let Some((peer_prefill, peer_decode)) = before.or(after) {
            paired_prefill.push(prefill[run] / peer_prefill);
            paired_decode.push(decode_free[run] / peer_decode);
            paired_constrained.push(decode_constrained[run] / peer_decode);
        }
    }
    println!(
        "{}",
        json!({
            "side": "instructor-engine",
            "threads": threads,
            "prompt_tokens": prompt_tokens,
            "prefill_ms": median(&prefill),
            "first_token_ms": median(&first_token),
            "first_token_constrained_ms": median(&first_token_constrained),
            "first_token_shared_prefix_ms": median(&first_token_shared),
            "decode_tps": median(&decode_free),
            "decode_constrained_tps": median(&decode_constrained),
            "peak_rss_mb": peak_rss_mb(),
            "paired_with_llama_server": server.as_ref().map(|_| json!({
                "decode_constrained": paired_constrained,
                "decode": paired_decode,
                "prefill_time": paired_prefill,
            })),
        })
    );
}

/// llama.cpp's own server, asked for greedy completions with nothing reused from earlier requests.
struct LlamaServer {
    url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl LlamaServer {
    fn new(url: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        // A new connection each time: between requests the server may drop an idle one.
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
        Self { url: format!("{}/completion", url.trim_end_matches('/')), client, runtime }
    }

    /// The server's `timings` for a completion of `prompt`.
    fn completion(&self, prompt: &str, n_predict: u32) -> serde_json::Value {
        let body = json!({"prompt": prompt, "n_predict": n_predict, "temperature": 0.0, "cache_prompt": false,
                          "ignore_eos": true});
        self.runtime.block_on(async {
            let response = self.client.post(&self.url).json(&body).send().await.expect("llama-server answers");
            let mut reply: serde_json::Value = response.json().await.expect("llama-server's JSON");
            reply["timings"].take()
        })
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// VmHWM: the most resident memory the process ever had.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
