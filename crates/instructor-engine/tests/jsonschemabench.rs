//! Real-world schemas (a 300-schema sample of JSONSchemaBench, see
//! `tests/data/jsonschemabench/README.md`): every one is either compiled into a grammar, with
//! what the grammar cannot enforce named, or refused with an error that names why — never a
//! crash, and never "unsatisfiable" for a schema the engine's own rewrite made so. Replies to a
//! slice of them are generated and validated: a finished reply always satisfies its schema.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use instructor::{CompletionRequest, FinishReason, Message, RawJson};
use instructor_engine::{Constraint, Engine, EngineOptions, store};
use serde_json::{Value, json};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let path = runtime.block_on(store::ensure_default(&store::Silent)).expect("the default model");
        Engine::load(&path, EngineOptions::default()).expect("the model loads")
    })
}

struct Sample {
    dataset: String,
    id: String,
    schema: Value,
}

fn sample() -> Vec<Sample> {
    include_str!("data/jsonschemabench/sample.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("a sample line");
            Sample {
                dataset: v["dataset"].as_str().expect("dataset").to_owned(),
                id: v["id"].as_str().expect("id").to_owned(),
                schema: v["schema"].clone(),
            }
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    schemas: usize,
    enforced: usize,
    partly: usize,
    refused: usize,
}

#[test]
fn every_sample_schema_compiles_or_is_refused_by_name() {
    let engine = engine();
    let samples = sample();
    assert_eq!(samples.len(), 300);
    let mut by_dataset: BTreeMap<String, Tally> = BTreeMap::new();
    let mut problems = Vec::new();
    for s in &samples {
        let tally = by_dataset.entry(s.dataset.clone()).or_default();
        tally.schemas += 1;
        match engine.unenforced(&Constraint::JsonSchema(s.schema.clone())) {
            Ok(warnings) if warnings.is_empty() => tally.enforced += 1,
            Ok(warnings) => {
                tally.partly += 1;
                if warnings.iter().any(|w| w.trim().is_empty()) {
                    problems.push(format!("{}/{}: an empty warning", s.dataset, s.id));
                }
            }
            Err(e) => {
                tally.refused += 1;
                let message = e.to_string();
                if message.to_lowercase().contains("unsatisfiable") {
                    problems.push(format!("{}/{}: made unsatisfiable: {message}", s.dataset, s.id));
                }
                if message.len() < 20 {
                    problems.push(format!("{}/{}: refused without a reason: {message}", s.dataset, s.id));
                }
            }
        }
    }
    eprintln!("{:<18} {:>7} {:>9} {:>13} {:>8}", "dataset", "schemas", "enforced", "partly (checked)", "refused");
    for (dataset, t) in &by_dataset {
        eprintln!("{dataset:<18} {:>7} {:>9} {:>13} {:>8}", t.schemas, t.enforced, t.partly, t.refused);
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The engine's reply to `prompt` under `schema` (strict `json_schema`), as text and as JSON,
/// unless it was cut at `max_tokens`.
fn finished_reply(schema: &Value, prompt: &str, max_tokens: u32) -> Option<(String, Value)> {
    let request = CompletionRequest {
        response_format: Some(
            RawJson::new(&json!({"type": "json_schema", "json_schema": {"name": "v", "schema": schema}})).expect("raw"),
        ),
        max_tokens: Some(max_tokens),
        ..CompletionRequest::new("local", vec![Message::user(prompt)])
    };
    let reply = engine().complete_blocking(&request).expect("a reply");
    let text = reply.message().and_then(|m| m.content.clone()).unwrap_or_default();
    if reply.finish_reason() == Some(&FinishReason::Length) {
        return None;
    }
    let value: Value = serde_json::from_str(&text).expect("JSON");
    Some((text, value))
}

/// Compositions the closing of objects must not break: required properties declared only in
/// `oneOf` branches (a GeoJSON-like point), and `allOf` branches each adding properties.
#[test]
fn closing_objects_respects_composition() {
    let engine = engine();
    let point = json!({
        "type": "object",
        "oneOf": [
            {"properties": {"type": {"const": "Point"}, "coordinates": {"type": "array", "items": {"type": "number"}}},
             "required": ["type", "coordinates"]},
            {"properties": {"type": {"const": "Line"}, "points": {"type": "array"}}, "required": ["type", "points"]}
        ]
    });
    let merged = json!({
        "allOf": [
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
        ]
    });
    for schema in [point, merged] {
        let compiled = engine.unenforced(&Constraint::JsonSchema(schema.clone()));
        assert!(compiled.is_ok(), "{schema}: {compiled:?}");
        if let Some((text, value)) = finished_reply(&schema, "Give an example.", 200) {
            assert!(jsonschema::is_valid(&schema, &value), "{text} does not satisfy {schema}");
        }
    }
}

/// A schema whose regexes the grammar cannot take (look-around, patterns that overlap a catch-all)
/// is served, those regexes named as unenforced, and the rest of it still enforced.
#[test]
fn regexes_the_grammar_cannot_take_are_left_out_by_name_not_refused() {
    let engine = engine();
    let schema = json!({
        "type": "object",
        "properties": {
            "slug": {"type": "string", "pattern": "^(?!draft)[a-z-]+$"},
            "labels": {"type": "object", "patternProperties": {".*": {"type": "string"}, "^x-": {"maxLength": 8}}}
        },
        "required": ["slug", "labels"],
        "additionalProperties": false
    });
    let unenforced = engine.unenforced(&Constraint::JsonSchema(schema.clone())).expect("served, not refused");
    assert!(unenforced.iter().any(|w| w == "pattern /^(?!draft)[a-z-]+$/ (look-around)"), "{unenforced:?}");
    assert!(unenforced.iter().any(|w| w == "patternProperties /^x-/ (overlaps /.*/)"), "{unenforced:?}");
    if let Some((text, value)) = finished_reply(&schema, "Give an example of a page with a slug and labels.", 120) {
        // What the grammar kept: exactly these two members, a string and a map of strings.
        let members: Vec<&str> = value.as_object().expect("an object").keys().map(String::as_str).collect();
        assert_eq!(members, ["slug", "labels"], "{text}");
        assert!(value["slug"].is_string(), "{text}");
        assert!(value["labels"].as_object().expect("a map").values().all(Value::is_string), "{text}");
    }
}

/// A slice of the sample (4 schemas per dataset, `generation.txt`) generated: a finished reply
/// always satisfies the whole schema, whatever the grammar could not enforce.
#[test]
fn generated_replies_on_a_slice_satisfy_their_schemas() {
    let engine = engine();
    let wanted: Vec<&str> =
        include_str!("data/jsonschemabench/generation.txt").lines().filter(|l| !l.is_empty()).collect();
    let samples = sample();
    let mut rows: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let mut finished_invalid = Vec::new();
    for s in samples.iter().filter(|s| wanted.contains(&format!("{}/{}", s.dataset, s.id).as_str())) {
        // [valid, truncated, refused, invalid]
        let row = rows.entry(s.dataset.clone()).or_default();
        let request = CompletionRequest {
            messages: vec![
                Message::system("You are a helpful assistant. Answer with JSON."),
                Message::user("Give an example of a value of this kind."),
            ],
            response_format: Some(
                RawJson::new(&json!({"type": "json_schema", "json_schema": {"name": "value", "schema": s.schema, "strict": true}}))
                    .expect("raw"),
            ),
            max_tokens: Some(256),
            ..CompletionRequest::new("local", Vec::new())
        };
        let reply = match engine.complete_blocking(&request) {
            Ok(reply) => reply,
            Err(e) => {
                assert!(e.is_input(), "{}/{}: the engine failed: {e}", s.dataset, s.id);
                row[2] += 1;
                continue;
            }
        };
        if reply.finish_reason() == Some(&FinishReason::Length) {
            row[1] += 1;
            continue;
        }
        let text = reply.message().and_then(|m| m.content.clone()).unwrap_or_default();
        let valid = serde_json::from_str::<Value>(&text).ok().is_some_and(|v| {
            jsonschema::options()
                .should_validate_formats(false)
                .build(&s.schema)
                .is_ok_and(|validator| validator.is_valid(&v))
        });
        if valid {
            row[0] += 1;
        } else {
            // Allowed only where the grammar said it could not enforce the schema (serve and the
            // library check those replies and refuse or re-ask); never where it claims it did.
            let unenforced = engine.unenforced(&Constraint::JsonSchema(s.schema.clone())).unwrap_or_default();
            if unenforced.is_empty() {
                finished_invalid.push(format!("{}/{}: {text}", s.dataset, s.id));
            }
            row[3] += 1;
        }
    }
    eprintln!("{:<18} {:>6} {:>10} {:>8} {:>24}", "dataset", "valid", "truncated", "refused", "invalid (unenforced)");
    for (dataset, r) in &rows {
        eprintln!("{dataset:<18} {:>6} {:>10} {:>8} {:>24}", r[0], r[1], r[2], r[3]);
    }
    assert!(
        finished_invalid.is_empty(),
        "finished replies that break a schema the grammar enforces: {finished_invalid:#?}"
    );
}
