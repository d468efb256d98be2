//! The embedded model end to end: the default GGUF (fetched by `instructor model pull`, which
//! `.ci/run` does first), constrained decoding, and the library's providers contract.

use std::sync::OnceLock;

use instructor::{ChatRequest, Client, Mode, ResponseSchema};
use instructor_engine::{Constraint, Engine, EngineOptions, Sampling, store};
use serde_json::{Value, json};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        // Fetched (and verified) on first use, like the CLI does; cached afterwards.
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let path = std::thread::spawn(move || runtime.block_on(store::ensure_default(&store::Silent)))
            .join()
            .expect("pull thread")
            .expect("the default model can be fetched");
        Engine::load(&path, EngineOptions::default()).expect("the default model loads")
    })
}

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct UserDetails {
    name: String,
    age: u32,
}

fn story() -> ChatRequest {
    ChatRequest::new("local")
        .system("You are a world class extractor")
        .user(r#"Extract the following entities: "Jason is 20""#)
}

#[tokio::test]
async fn seed_example_offline_in_every_constrained_mode() {
    for mode in [Mode::JsonSchema, Mode::StructuredOutputs, Mode::Tools, Mode::ToolsStrict] {
        let client = Client::with_provider(engine().clone()).with_mode(mode);
        let out = client.chat().create_with_completion::<UserDetails>(story().max_retries(0)).await;
        let out = out.unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(out.value, UserDetails { name: "Jason".into(), age: 20 }, "{mode}");
        assert!(out.usage.prompt_tokens > 0 && out.usage.completion_tokens > 0);
    }
}

#[tokio::test]
async fn media_is_refused_not_dropped() {
    let png = include_bytes!("../../instructor/tests/data/media/receipt.png");
    let image = instructor::Image::from_bytes(png).expect("png");
    let client = Client::with_provider(engine().clone()).with_mode(Mode::JsonSchema);
    let err = client
        .chat()
        .create::<UserDetails>(ChatRequest::new("local").user(instructor::parts!["Who is on this card?", image]))
        .await
        .expect_err("text only");
    assert!(err.is_media(), "{err}");
    assert!(err.to_string().contains("reads text only") && err.to_string().contains("image"), "{err}");
}

#[tokio::test]
async fn the_embedded_model_streams_token_by_token() {
    use futures_util::StreamExt;
    use instructor::PartialEvent;
    for mode in [Mode::JsonSchema, Mode::Tools] {
        let client = Client::with_provider(engine().clone()).with_mode(mode);
        let events: Vec<PartialEvent<UserDetails>> = client
            .chat()
            .create_partial::<UserDetails>(story().max_retries(0))
            .map(|e| e.unwrap_or_else(|e| panic!("{mode}: {e}")))
            .collect()
            .await;
        let partials = events.iter().filter(|e| matches!(e, PartialEvent::Partial(_))).count();
        assert!(partials >= 3, "{mode}: {partials} partials: the reply arrives in pieces");
        let Some(PartialEvent::Complete(done)) = events.last() else { panic!("{mode}: a final value") };
        assert_eq!(done.value, UserDetails { name: "Jason".into(), age: 20 }, "{mode}");
        assert!(done.usage.completion_tokens > 0, "usage comes with the last delta");
    }
    // Dropping the stream part-way cancels the generation; the engine serves the next request.
    let client = Client::with_provider(engine().clone()).with_mode(Mode::JsonSchema);
    let mut stream = Box::pin(client.chat().create_partial::<UserDetails>(story()));
    assert!(stream.next().await.is_some());
    drop(stream);
    let user: UserDetails = client.chat().create(story()).await.expect("still serving");
    assert_eq!(user.age, 20);
}

#[test]
fn a_cached_prompt_prefix_is_reused_and_never_changes_the_reply() {
    // Long enough that the template and it fill a 64-token block, the unit of reuse.
    const SYSTEM: &str = "You are a world class extractor. Read the user's text carefully and answer with \
                          the requested JSON only: no prose before or after it, no code fences, no comments. \
                          Copy names exactly as written, give numbers as digits, and leave out anything the \
                          text does not say.";
    let _ = engine(); // makes sure the default model is in the cache
    // An engine of its own: other tests share `engine()` and its cache.
    let engine = Engine::load(&store::default_model_path(), EngineOptions::default()).expect("loads");
    let prompt =
        |text: &str| engine.prompt(&[("system".into(), SYSTEM.into()), ("user".into(), text.into())]).expect("prompt");
    // Jason's prompt runs a block past what it shares with Ann's.
    let jason = prompt(
        "Extract the following entities: \"Jason is 20. He grew up in Bergen, moved to Oslo to study \
         carpentry, and now builds wooden boats by the harbour with his sister Ann, their cousin Bo and \
         two old friends from school, who all sail with him on summer weekends.\"",
    );
    let ann = prompt("Ann is 31, Bo is 40");
    let schema = Constraint::JsonSchema(
        json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}),
    );
    let sampling = Sampling { max_tokens: Some(40), ..Sampling::default() };
    let cold = engine.generate(&jason, &schema, &sampling, None).expect("cold");
    assert_eq!(cold.cached_tokens, 0);
    let other = engine.generate(&ann, &schema, &sampling, None).expect("other");
    assert!(other.cached_tokens > 5, "the template and system prompt are reused: {}", other.cached_tokens);
    assert!(other.cached_tokens < other.prompt_tokens);
    let warm = engine.generate(&jason, &schema, &sampling, None).expect("warm");
    assert_eq!(warm.text, cold.text, "the same reply with or without the cache");
    assert_eq!(warm.cached_tokens, other.cached_tokens, "the shared prefix again");
    let again = engine.generate(&jason, &schema, &sampling, None).expect("again");
    assert_eq!(again.text, cold.text);
    // All the whole blocks of the prompt but the one with its last token (blocks are 64 tokens).
    assert!(again.prompt_tokens - again.cached_tokens <= 64 && again.cached_tokens % 64 == 0, "{again:?}");
    assert!(again.cached_tokens > other.cached_tokens);
    engine.clear_cache();
    assert_eq!(engine.generate(&jason, &schema, &sampling, None).expect("again").cached_tokens, 0);
}

#[test]
fn json_object_allows_any_object_not_just_the_empty_one() {
    let prompt = engine()
        .prompt(&[("user".into(), r#"Describe Jason, who is 20, as a JSON object with his name and age."#.into())])
        .expect("prompt");
    let g = engine()
        // Room for the model's own layout (one key per line) and the nesting it tries first.
        .generate(&prompt, &Constraint::JsonObject, &Sampling { max_tokens: Some(200), ..Sampling::default() }, None)
        .expect("generates");
    let value: Value = serde_json::from_str(&g.text).unwrap_or_else(|e| panic!("{e}: {}", g.text));
    assert!(value.as_object().is_some_and(|o| !o.is_empty()), "{}", g.text);
}

#[tokio::test]
async fn prompt_only_modes_are_held_to_the_schema_written_in_the_prompt() {
    // `Json` and `MdJson` carry the schema in the prompt only; the engine reads it from there,
    // so the reply is an instance of it (a 135M model would otherwise echo the schema itself),
    // and leaves it out of what the model reads (it would copy phrases from it).
    for mode in [Mode::Json, Mode::MdJson] {
        let client = Client::with_provider(engine().clone()).with_mode(mode);
        let out = client.chat().create_with_completion::<UserDetails>(story().max_retries(0)).await;
        let out = out.unwrap_or_else(|e| panic!("{mode}: a schema-valid reply on the first try: {e}"));
        assert_eq!(out.value, UserDetails { name: "Jason".into(), age: 20 }, "{mode}");
        if mode == Mode::MdJson {
            let text = out.completion.message().and_then(|m| m.content.clone()).unwrap_or_default();
            assert!(text.starts_with("```json\n") && text.ends_with("\n```"), "a fenced block: {text}");
        }
    }
}

#[tokio::test]
async fn parallel_tools_on_the_embedded_model() {
    let client = Client::with_provider(engine().clone()).with_mode(Mode::ParallelTools);
    let users: Vec<UserDetails> = client
        .chat()
        .create(ChatRequest::new("local").system("You are a world class extractor").user("Jason is 20. Ann is 31."))
        .await
        .expect("calls parse");
    assert!(!users.is_empty());
}

fn weather_tools() -> Value {
    let tool = |name: &str, description: &str, parameter: &str| {
        json!({"type": "function", "function": {"name": name, "description": description, "parameters": {
            "type": "object", "properties": {parameter: {"type": "string"}}, "required": [parameter]}}})
    };
    json!([
        tool("get_weather", "Get the current weather in a city", "city"),
        tool("get_time", "Get the current local time in a timezone", "timezone"),
        tool("send_email", "Send an email to an address", "to"),
    ])
}

fn with_tools(messages: Vec<instructor::Message>, choice: &str) -> instructor::CompletionRequest {
    use instructor::RawJson;
    instructor::CompletionRequest {
        tools: Some(RawJson::new(&weather_tools()).expect("tools")),
        tool_choice: Some(RawJson::new(&json!(choice)).expect("choice")),
        max_tokens: Some(60),
        ..instructor::CompletionRequest::new("local", messages)
    }
}

#[test]
fn with_several_tools_the_model_chooses_by_their_descriptions() {
    // The engine shows the model the functions (their names, descriptions and parameters); without
    // that, the 135M model's first call was the right one for 3 of these 6 questions.
    use instructor::Message;
    let _ = engine(); // makes sure the default model is in the cache
    // An engine of its own, so what its prompt cache holds does not depend on the other tests.
    let engine = Engine::load(&store::default_model_path(), EngineOptions::default()).expect("loads");
    let cases = [
        ("What is the weather like in Paris today?", "get_weather"),
        ("What time is it now in Tokyo?", "get_time"),
        ("Send an email to ann@example.com.", "send_email"),
        ("How hot is it in Cairo right now?", "get_weather"),
        ("What's the time in New York?", "get_time"),
        ("Email bo@example.org about the meeting.", "send_email"),
    ];
    for choice in ["auto", "required"] {
        for (question, expected) in cases {
            let messages = vec![Message::system("You are a helpful assistant."), Message::user(question)];
            let completion = engine.complete_blocking(&with_tools(messages, choice)).expect("completes");
            let message = completion.message().expect("a message");
            let names: Vec<&str> = message.tool_calls.iter().map(|c| c.function.name.as_str()).collect();
            assert_eq!(names.first(), Some(&expected), "{choice}: {question}: {names:?} {:?}", message.content);
        }
    }
}

/// A question, the model's call to `get_weather`, and the function's answer.
fn answered_weather_question() -> Vec<instructor::Message> {
    use instructor::{Message, ToolCall};
    let call = ToolCall::function("call_0", "get_weather", r#"{"city":"Paris"}"#);
    vec![
        Message::user("What is the weather like in Paris today?"),
        Message { content: None, tool_calls: vec![call], ..Message::assistant("") },
        Message::tool("call_0", "18 degrees Celsius and sunny"),
    ]
}

#[test]
fn with_auto_the_model_answers_in_words_once_a_tool_has_answered() {
    let mut messages = vec![instructor::Message::system("You are a helpful assistant.")];
    messages.extend(answered_weather_question());
    let completion = engine().complete_blocking(&with_tools(messages.clone(), "auto")).expect("completes");
    let message = completion.message().expect("a message");
    assert!(message.tool_calls.is_empty(), "{:?}", message.tool_calls);
    let words = message.content.clone().unwrap_or_default();
    assert!(!words.trim().is_empty() && !words.starts_with('['), "{words}");
    // `required` still calls, whatever the conversation.
    let completion = engine().complete_blocking(&with_tools(messages, "required")).expect("completes");
    assert!(!completion.message().expect("a message").tool_calls.is_empty());
}

/// Users, of whom the first reading is always rejected.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
#[schemars(transparent)]
struct UsersRejectedOnce(Vec<UserDetails>);

static REJECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl instructor::Validate for UsersRejectedOnce {
    fn validate(&self, _: &Value) -> Result<(), instructor::ReplyError> {
        if REJECTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        Err(instructor::ReplyError::validation(Some("0.age".into()), "check every age again".to_owned()))
    }
}

#[tokio::test]
async fn a_parallel_tools_reask_is_answered_with_calls() {
    // The re-ask answers the calls with the errors (tool messages); `auto` lets the model answer
    // in words after a tool's answer, so the library's re-ask ends by asking for the calls again.
    let client = Client::with_provider(engine().clone()).with_mode(Mode::ParallelTools);
    let request = ChatRequest::new("local").system("You are a world class extractor").user("Jason is 20. Ann is 31.");
    let out = client
        .chat()
        .create_validated_with_completion::<UsersRejectedOnce>(request.max_retries(1))
        .await
        .unwrap_or_else(|e| panic!("the re-ask gives calls: {e}"));
    assert_eq!(out.attempts, 2);
    assert!(!out.value.0.is_empty());
}

#[test]
fn the_grammar_holds_even_for_awkward_schemas() {
    let schema = json!({
        "type": "object",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
            "level": {"type": "integer", "minimum": 3, "maximum": 7},
            "tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}, "minItems": 2, "maxItems": 3}
        },
        "required": ["code", "level", "tags"],
        "additionalProperties": false
    });
    let e = engine();
    let prompt = e.prompt(&[("user".into(), "Write a poem about the sea.".into())]).expect("prompt");
    let out =
        e.generate(&prompt, &Constraint::JsonSchema(schema.clone()), &Sampling::default(), None).expect("generates");
    let value: Value = serde_json::from_str(&out.text).unwrap_or_else(|err| panic!("{err}: {}", out.text));
    let validator = jsonschema::validator_for(&schema).expect("schema");
    assert!(validator.is_valid(&value), "{value}");
    // The model may lay the JSON out, within bounds (a space, or one or two line breaks and up to
    // 20 spaces or tabs), and the compacted reply has no blanks at all.
    for run in blanks_outside_strings(&out.text) {
        let breaks = run.matches('\n').count();
        let indent = run.trim_start_matches('\n');
        let ok = run == " " || (1..=2).contains(&breaks) && !indent.contains('\n') && indent.len() <= 20;
        assert!(ok, "whitespace {run:?} beyond the grammar's bound in {}", out.text);
    }
    let compact = instructor_engine::JsonCompactor::default().push(&out.text);
    assert!(!whitespace_outside_strings(&compact), "{compact}");
    assert_eq!(serde_json::from_str::<Value>(&compact).expect("compact JSON"), value);
}

#[test]
fn schemas_the_grammar_cannot_use_are_errors_not_free_text() {
    let e = engine();
    let bad = Constraint::JsonSchema(json!({"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}}));
    let err = e.generate("x", &bad, &Sampling::default(), None).expect_err("unresolvable $ref");
    assert!(err.is_input(), "{err}");
}

#[test]
fn bad_model_files_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("instructor-engine-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = dir.join("not-a-model.gguf");
    std::fs::write(&text, "hello").expect("write");
    let truncated = dir.join("truncated.gguf");
    let head = std::fs::read(store::default_model_path()).expect("model");
    std::fs::write(&truncated, &head[..4096]).expect("write");
    for path in [dir.join("missing.gguf"), text, truncated] {
        let err = Engine::load(&path, EngineOptions::default()).expect_err("not loadable");
        assert!(err.is_input(), "{}: {err}", path.display());
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
}

/// One case of the quality set.
#[derive(serde::Deserialize)]
struct Case {
    text: String,
    schema: Value,
    expected: Value,
}

fn cases() -> Vec<Case> {
    include_str!("data/quality.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a case"))
        .collect()
}

/// Fields that match the expected value: numbers and booleans exactly, strings ignoring case
/// and surrounding space (free-text fields may quote more or less of the source).
fn matching_fields(expected: &Value, actual: &Value) -> (usize, usize) {
    match (expected, actual) {
        (Value::Object(e), a) => e.iter().fold((0, 0), |(hit, total), (k, ev)| {
            let (h, t) = matching_fields(ev, a.get(k).unwrap_or(&Value::Null));
            (hit + h, total + t)
        }),
        (Value::String(e), Value::String(a)) => {
            let (e, a) = (e.trim().to_lowercase(), a.trim().to_lowercase());
            (usize::from(e == a || (e.len() > 8 && (a.contains(&e) || e.contains(&a)))), 1)
        }
        (Value::Number(e), Value::Number(a)) => (usize::from(e.as_f64() == a.as_f64()), 1),
        (Value::Array(e), Value::Array(a)) => {
            let norm = |v: &Vec<Value>| {
                let mut s: Vec<String> = v.iter().map(|x| x.to_string().to_lowercase()).collect();
                s.sort();
                s
            };
            (usize::from(norm(e) == norm(a)), 1)
        }
        (e, a) => (usize::from(e == a), 1),
    }
}

/// The quality set (`tests/data/quality.jsonl`): every constrained reply satisfies its schema
/// unless the token limit cut it, in which case the library says so (`Error::Truncated`), never
/// a parse error. Prints schema-valid replies, truncations and field accuracy; the first 32
/// cases are also asked by prompt alone, for comparison. `scripts/quality-vs-llama-server.sh`
/// measures the same set against llama.cpp's own server.
#[tokio::test]
async fn quality_set_constrained_vs_prompt_only() {
    let cases = cases();
    assert!(cases.len() >= 80, "the quality set has {} cases", cases.len());
    let constrained = Client::with_provider(engine().clone()).with_mode(Mode::JsonSchema);
    // Prompt only: the schema in the prompt, a fenced reply, nothing held to it.
    let prompt_only = Client::with_provider(engine().clone().reading_prompt_schemas(false)).with_mode(Mode::MdJson);
    let (mut valid, mut truncated, mut hits, mut fields) = (0, 0, 0, 0);
    let (mut free_valid, mut free_hits, mut free_fields) = (0, 0, 0);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let schema = ResponseSchema::from_json(case.schema.clone()).expect("schema");
        let request = || {
            ChatRequest::new("local")
                .system("You are a world class extractor")
                .user(format!("Extract the following entities: {:?}", case.text))
                .max_retries(0)
                .max_tokens(200)
        };
        let total = matching_fields(&case.expected, &case.expected).1;
        fields += total;
        match constrained.chat().create_value(request(), &schema).await {
            Ok(out) => {
                valid += 1;
                let (h, _) = matching_fields(&case.expected, &out.value);
                hits += h;
                if h < total {
                    eprintln!("constrained  {:?} → {} (expected {})", case.text, out.value, case.expected);
                }
            }
            Err(e) if e.is_truncated() => {
                truncated += 1;
                eprintln!("constrained  {:?} → cut at the token limit", case.text);
            }
            Err(e) => failures.push(format!("{:?}: {e}", case.text)),
        }
        if i < 32 {
            free_fields += total;
            if let Ok(out) = prompt_only.chat().create_value(request(), &schema).await {
                free_valid += 1;
                free_hits += matching_fields(&case.expected, &out.value).0;
            }
        }
    }
    let n = cases.len();
    let pct = |a: usize, b: usize| 100.0 * a as f64 / b as f64;
    eprintln!(
        "quality set ({n} cases, {fields} fields)\n  constrained: {valid}/{n} schema-valid ({:.0}%), {truncated} cut at 200 tokens, field accuracy {:.0}%\n  prompt only (first 32): {free_valid}/32 schema-valid, field accuracy {:.0}%",
        pct(valid, n),
        pct(hits, fields),
        pct(free_hits, free_fields)
    );
    assert!(failures.is_empty(), "replies neither valid nor reported as cut: {failures:#?}");
}

/// The runs of whitespace between JSON tokens (outside string literals).
fn blanks_outside_strings(json: &str) -> Vec<String> {
    let (mut in_string, mut escaped) = (false, false);
    let mut runs = Vec::new();
    let mut run = String::new();
    for c in json.chars() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_string = false,
            (false, _, c) if c.is_whitespace() => {
                run.push(c);
                continue;
            }
            (false, _, '"') => in_string = true,
            _ => {}
        }
        if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

fn whitespace_outside_strings(json: &str) -> bool {
    !blanks_outside_strings(json).is_empty()
}

#[test]
fn the_whitespace_check_can_fail() {
    assert!(whitespace_outside_strings(r#"{"a": 1}"#));
    assert!(!whitespace_outside_strings(r#"{"a":"x y \" z"}"#));
    assert_eq!(blanks_outside_strings("{\n  \"a b\" :\t1}"), ["\n  ", " ", "\t"]);
}

#[test]
fn a_reply_does_not_depend_on_what_the_context_held_before() {
    // A context that last evaluated a prompt sharing only part of this one reuses that part and
    // evaluates the rest; the reply must be the one a fresh context gives.
    use instructor::Message;
    let _ = engine(); // makes sure the default model is in the cache
    let engine = Engine::load(&store::default_model_path(), EngineOptions::default()).expect("loads");
    let answered = answered_weather_question();
    let texts = |requests: &[instructor::CompletionRequest]| -> Vec<String> {
        requests
            .iter()
            .map(|r| {
                let c = engine.complete_blocking(r).expect("completes");
                let m = c.message().expect("a message");
                m.content.clone().unwrap_or_else(|| serde_json::to_string(&m.tool_calls).expect("calls"))
            })
            .collect()
    };
    let requests = [
        with_tools(answered.clone(), "auto"),
        with_tools(answered.clone(), "required"),
        with_tools(answered[..1].to_vec(), "auto"),
        with_tools(vec![Message::user("What time is it now in Tokyo?")], "auto"),
    ];
    let fresh: Vec<String> = requests
        .iter()
        .map(|r| {
            engine.clear_cache();
            texts(std::slice::from_ref(r)).remove(0)
        })
        .collect();
    // Every order of the requests after every other: each reply as from a fresh context.
    for before in &requests {
        for (i, request) in requests.iter().enumerate() {
            engine.clear_cache();
            let got = texts(&[before.clone(), request.clone()]);
            assert_eq!(got[1], fresh[i], "request {i} after {before:?}");
        }
    }
}

#[test]
fn a_string_value_is_weighed_as_a_whole_not_by_its_first_token() {
    // Greedy decoding alone copies the whole text into the first field here: the model likes
    // `Signed` a little more than `Jean` as a first token, though not as a whole value.
    let prompt = engine()
        .prompt(&[
            ("system".into(), "You are a world class extractor".into()),
            (
                "user".into(),
                r#"Extract the following entities: "Signed, Jean-Luc Moreau (Chief Financial Officer)""#.into(),
            ),
        ])
        .expect("prompt");
    let schema = json!({
        "type": "object",
        "properties": {"full_name": {"type": "string"}, "role": {"type": "string"}},
        "required": ["full_name", "role"]
    });
    let sampling = Sampling { max_tokens: Some(100), ..Sampling::default() };
    let g = engine().generate(&prompt, &Constraint::JsonSchema(schema.clone()), &sampling, None).expect("generates");
    let value: Value = serde_json::from_str(&g.text).unwrap_or_else(|e| panic!("{e}: {}", g.text));
    assert_eq!(value, json!({"full_name": "Jean-Luc Moreau", "role": "Chief Financial Officer"}), "{}", g.text);
    // The text handed on as it was written is the reply: nothing looked at and dropped shows.
    let mut streamed = String::new();
    let again = engine()
        .generate_streaming(&prompt, &Constraint::JsonSchema(schema), &sampling, None, &mut |t| streamed.push_str(t))
        .expect("streams");
    assert_eq!(streamed, again.text);
    assert_eq!(again.text, g.text, "the same reply again");
}
