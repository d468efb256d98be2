//! The reverse check: our library against a peer's OpenAI-compatible server (llama-cpp-python's,
//! started by `scripts/test-reverse-llama-cpp.sh` on the same GGUF): in `JsonSchema` and `Tools`
//! modes the answer must be a schema-valid `UserDetails` (whether it is exactly Jason/20 is the
//! model's business, and is printed). Ignored unless
//! `INSTRUCTOR_REVERSE_URL` (the base URL, ending in `/v1`) names one:
//!
//! ```sh
//! INSTRUCTOR_REVERSE_URL=http://127.0.0.1:8765/v1 INSTRUCTOR_REVERSE_MODEL=smollm2 \
//!   cargo test -p instructor-serve --test reverse -- --ignored --nocapture
//! ```

use instructor::{ChatRequest, Client, Mode, ResponseSchema};

#[derive(Debug, PartialEq, serde::Deserialize, schemars::JsonSchema)]
struct UserDetails {
    name: String,
    age: u32,
}

#[tokio::test]
#[ignore = "needs a peer server: scripts/test-reverse-llama-cpp.sh"]
async fn our_library_against_a_peer_server() {
    let url = std::env::var("INSTRUCTOR_REVERSE_URL").expect("INSTRUCTOR_REVERSE_URL");
    let model = std::env::var("INSTRUCTOR_REVERSE_MODEL").unwrap_or_else(|_| "local".to_owned());
    let schema = ResponseSchema::of::<UserDetails>().json().clone();
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let mut failures = Vec::new();
    for mode in [Mode::JsonSchema, Mode::Tools] {
        let client = Client::builder().base_url(&url).api_key("unused").mode(mode).build().expect("client");
        let request = ChatRequest::new(&model)
            .system("You are a world class extractor")
            .user(r#"Extract the following entities: "Jason is 20""#)
            // Servers sample by default (llama-cpp-python at 0.8): ask for greedy decoding.
            .temperature(0.0)
            .max_retries(2);
        match client.chat().create_with_completion::<UserDetails>(request).await {
            Ok(out) => {
                let value = serde_json::json!({"name": out.value.name, "age": out.value.age});
                assert!(validator.is_valid(&value), "{mode}: schema-valid");
                let exact = out.value == (UserDetails { name: "Jason".into(), age: 20 });
                println!("{mode}: {:?} (exact: {exact}) in {} attempt(s), {:?}", out.value, out.attempts, out.usage);
            }
            Err(e) => failures.push(format!("{mode}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
