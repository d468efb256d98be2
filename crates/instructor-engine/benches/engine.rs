//! The embedded engine's speed, as one side of `scripts/bench-engine.sh` (the other side is
//! llama-cpp-python on the same GGUF, prompt and thread count, in the same run).
//!
//! Prints one JSON object: prefill time for the prompt, decode tokens/s without and with a
//! JSON Schema constraint, time to first token, and peak RSS. `BENCH_PROMPT_OUT=FILE` also
//! writes the templated prompts, so the other side uses exactly the same text.

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
    for run in 0..RUNS {
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
        })
    );
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
