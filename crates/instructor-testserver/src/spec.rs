//! Conformance to the shared OpenAI specs (`../shared/spec/openai-chat-completions.schema.json`
//! and `openai-responses.schema.json` beside the project root): what the library sends, what the
//! test server and `serve` answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Value, json};

fn load(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/spec").join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the OpenAI spec must be at {}: {e}", path.display()));
    let mut spec: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the spec is not JSON: {e}"));
    honour_nullable(&mut spec);
    spec
}

fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| load("openai-chat-completions.schema.json"))
}

fn responses_spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = load("openai-responses.schema.json");
        // `InputItem` lists alternatives with `oneOf` and an OpenAPI discriminator, which JSON
        // Schema ignores: a user message with content parts matches two alternatives (the easy
        // message and the full one) and would fail. Any one match is what the API means.
        if let Some(item) = spec.pointer_mut("/components/schemas/InputItem").and_then(Value::as_object_mut) {
            if let Some(alternatives) = item.remove("oneOf") {
                item.insert("anyOf".into(), alternatives);
            }
        }
        spec
    })
}

/// The spec keeps OpenAPI 3.0's `nullable: true` in places (`finish_reason` in stream chunks),
/// which JSON Schema 2020-12 ignores; it means "or null", so say that.
fn honour_nullable(schema: &mut Value) {
    match schema {
        Value::Object(members) => {
            for member in members.values_mut() {
                honour_nullable(member);
            }
            if members.remove("nullable") == Some(Value::Bool(true)) {
                let inner = Value::Object(std::mem::take(members));
                members.insert("anyOf".into(), json!([inner, {"type": "null"}]));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(honour_nullable),
        _ => {}
    }
}

/// The validator for one component of a spec, compiled once per process.
fn validator(spec: &'static Value, component: &str) -> Arc<jsonschema::Validator> {
    type Validators = HashMap<(usize, String), Arc<jsonschema::Validator>>;
    static CACHE: OnceLock<Mutex<Validators>> = OnceLock::new();
    let mut cache = CACHE.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    let key = (spec as *const Value as usize, component.to_owned());
    let compiled = cache.entry(key).or_insert_with(|| {
        let root = json!({ "$ref": format!("#/components/schemas/{component}"), "components": spec["components"] });
        Arc::new(jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("the spec does not compile: {e}")))
    });
    Arc::clone(compiled)
}

fn check(spec: &'static Value, component: &str, value: &Value) {
    let validator = validator(spec, component);
    let errors: Vec<String> = validator.iter_errors(value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "not a valid {component}: {errors:#?}\n{value:#}");
}

/// Panics unless `value` is a valid `component` of the OpenAI spec (`CreateChatCompletionRequest`,
/// `CreateChatCompletionResponse`, `CreateChatCompletionStreamResponse`, `ErrorResponse`, ...).
///
/// ```no_run
/// instructor_testserver::spec::assert_conforms("ErrorResponse", &serde_json::json!({
///     "error": {"message": "no", "type": "invalid_request_error", "param": null, "code": null}
/// }));
/// ```
pub fn assert_conforms(component: &str, value: &Value) {
    check(spec(), component, value);
}

/// Panics unless `value` is a valid `component` of the Responses spec (`CreateResponse`,
/// `Response`, `ResponseStreamEvent`, `ErrorResponse`, ...).
pub fn assert_conforms_responses(component: &str, value: &Value) {
    check(responses_spec(), component, value);
}
